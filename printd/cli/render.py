"""`printd render`: look at card templates and preview a card before it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from pydantic import TypeAdapter, ValidationError

from printd.card import ArtworkCard, CardSpec, ChipData, TemplateCard
from printd.config import ConfigError, load_settings
from printd.render import (
    InvalidCard,
    TemplateError,
    TemplateLibrary,
    render_card,
    validate_card,
    write_preview,
)

_CARD = TypeAdapter[ArtworkCard | TemplateCard](CardSpec)


def _library(templates_dir: Path | None) -> TemplateLibrary:
    try:
        if templates_dir is None:
            templates_dir = load_settings().templates.dir
        return TemplateLibrary(templates_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except TemplateError as exc:
        raise click.ClickException("\n".join(exc.lines)) from None


def _read_card(path: Path) -> tuple[ArtworkCard | TemplateCard, ChipData | None]:
    """A card object, or a job with ``card`` (and optional ``chip``) in it."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--card") from None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{path} is not JSON: {exc}", param_hint="--card") from None
    chip_raw = None
    if isinstance(raw, dict) and "card" in raw:
        chip_raw = raw.get("chip")
        raw = raw["card"]
    try:
        card = _CARD.validate_python(raw)
        chip = ChipData.model_validate(chip_raw) if chip_raw is not None else None
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or '(card)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        raise click.BadParameter("\n".join(lines), param_hint="--card") from None
    return card, chip


def _refuse(problems: list[str]) -> None:
    for line in problems:
        click.echo(line, err=True)
    raise click.exceptions.Exit(1)


_templates_dir = click.option(
    "--templates-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Extra templates directory (default: templates.dir of the configuration).",
)
_card_file = click.option(
    "--card",
    "card_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file: a card object, or a job holding 'card' (and 'chip').",
)


@click.group()
def render() -> None:
    """Card templates, checking a card and previewing what will be printed."""


@render.command("templates")
@click.argument("name", required=False)
@_templates_dir
def templates_command(name: str | None, templates_dir: Path | None) -> None:
    """List the card templates, or the fields of template NAME."""
    library = _library(templates_dir)
    if name is None:
        for each in library.all():
            click.echo(f"{each.name}\t{each.template.description}")
        return
    loaded = library.get(name)
    if loaded is None:
        raise click.BadParameter(
            f"no template {name!r}; known: {', '.join(library.names())}", param_hint="NAME"
        )
    template = loaded.template
    sides = "front and back" if template.back is not None else "front only"
    click.echo(f"{template.name}: {template.description} ({template.orientation}, {sides})")
    for field_name, spec in template.fields.items():
        need = "required" if spec.required else f"optional, default {spec.default!r}"
        form = f"; form {spec.pattern}" if spec.pattern else ""
        click.echo(
            f"  fields.{field_name}: {spec.label} ({need}; "
            f"at most {spec.max_length} characters{form})"
        )
    for image_name, image in template.images.items():
        need = "required" if image.required else "optional"
        click.echo(f"  images.{image_name}: {image.label} ({need}; JPEG or PNG)")


@render.command("check")
@_card_file
@_templates_dir
def check_command(card_file: Path, templates_dir: Path | None) -> None:
    """Check a card as intake does; print each problem, exit 1 if there is one."""
    card, _chip = _read_card(card_file)
    problems = validate_card(card, _library(templates_dir))
    if problems:
        _refuse([f"{p.field}: {p.code}: {p.message}" for p in problems])
    click.echo("card is printable")


@render.command("preview")
@_card_file
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the PNG files (created if needed).",
)
@_templates_dir
def preview_command(card_file: Path, out_dir: Path, templates_dir: Path | None) -> None:
    """Render a card and write each side and each panel as PNG.

    The files show personal data: delete them when you are done.
    """
    card, chip = _read_card(card_file)
    library = _library(templates_dir)
    problems = validate_card(card, library)
    if problems:
        _refuse([f"{p.field}: {p.code}: {p.message}" for p in problems])
    try:
        artwork = render_card(card, chip, library)
    except InvalidCard as exc:
        _refuse([f"{p.field}: {p.code}: {p.message}" for p in exc.problems])
        return
    for path in write_preview(artwork, out_dir):
        click.echo(str(path))
