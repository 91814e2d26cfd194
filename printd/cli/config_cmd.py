"""`printd config`: see and check the configuration."""

from __future__ import annotations

import tomllib
from pathlib import Path

import click
from rich.syntax import Syntax

from printd.cli.common import EXIT_CONFIG, AppContext, json_option, pass_app, print_json
from printd.config import ConfigError, load_settings, masked_dump, resolve_config_path


@click.group()
def config() -> None:
    """Show or check the station's configuration."""


@config.command("show")
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print the effective configuration (file + PRINTD_* environment + defaults).

    Secrets are shown as ********.
    """
    data = masked_dump(app.settings)
    if as_json:
        print_json(data)
        return
    path, _ = resolve_config_path(app.config_path)
    source = str(path) if path else "built-in defaults (no config file)"
    app.console.print(f"# effective printd configuration, from {source}", markup=False)
    app.console.print(Syntax(_to_toml(data), "toml", theme="ansi_dark", background_color="default"))


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def check(app: AppContext, file: Path) -> None:
    """Validate FILE without starting anything; exit 0 when it is usable."""
    try:
        settings = load_settings(file)
    except ConfigError as exc:
        for line in exc.lines:
            app.err.print(f"printd: {line}", markup=False)
        raise SystemExit(EXIT_CONFIG) from None
    printers = len(settings.printers)
    app.console.print(
        f"{file}: ok (station {settings.station.id}, {printers} printer(s), "
        f"broker {settings.mqtt.host}:{settings.mqtt.port})",
        markup=False,
    )


def _to_toml(data: dict[str, object]) -> str:
    """A small TOML writer for the shapes our settings have (tables, arrays of tables)."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    for key, value in scalars.items():
        lines.append(f"{key} = {_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            _table(lines, key, value)
        elif isinstance(value, list):
            if value and all(isinstance(item, dict) for item in value):
                for item in value:
                    lines.append(f"\n[[{key}]]")
                    _table_body(lines, key, item)
            else:
                lines.append(f"{key} = {_value(value)}")
    text = "\n".join(lines).strip() + "\n"
    tomllib.loads(text)  # what we print must be a valid config file
    return text


def _table(lines: list[str], name: str, table: dict[str, object]) -> None:
    lines.append(f"\n[{name}]")
    _table_body(lines, name, table)


def _table_body(lines: list[str], name: str, table: dict[str, object]) -> None:
    nested = {}
    for key, value in table.items():
        if isinstance(value, dict):
            nested[key] = value
        elif value is not None:
            lines.append(f"{key} = {_value(value)}")
        else:
            lines.append(f"# {key} is not set")
    for key, value in nested.items():
        _table(lines, f"{name}.{key}", value)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
