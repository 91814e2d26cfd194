"""Checking a job's card at intake, without rendering it.

Every check the renderer could fail on is made here with the same code
(text is laid out with the same fonts and the same fitting), so a card that
passes prints; only the drawing itself is skipped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from printd.card import ArtworkCard, TemplateCard
from printd.messages import JobMessage
from printd.render.codes import CodeMiss, code128_mask, qr_fits
from printd.render.errors import CardProblem, InvalidCard
from printd.render.images import ImageProblem, probe_image
from printd.render.library import LoadedTemplate, TemplateLibrary
from printd.render.model import (
    CARD_SIZE,
    Code128Element,
    ImageElement,
    QrElement,
    TextElement,
    placeholders,
)
from printd.render.problems import miss_problem, wrong_size
from printd.render.renderer import field_values
from printd.render.text import TextMiss, compose, fit_text


def validate_card(
    card: ArtworkCard | TemplateCard, templates: TemplateLibrary
) -> list[CardProblem]:
    """Every reason the card cannot be printed; an empty list means it can.

    Problems name the input (``template``, ``fields.<name>``, ``images.<name>``,
    ``front``, ``back``) and never quote its value.
    """
    if isinstance(card, ArtworkCard):
        return _validate_artwork(card)
    loaded = templates.get(card.template)
    if loaded is None:
        return [
            CardProblem(
                "template", "unknown_template", f"no template {card.template!r} on this station"
            )
        ]
    problems = _check_fields(loaded, card)
    problems += _check_images(loaded, card)
    bad_fields = {p.field for p in problems}
    problems += _check_layout(loaded, card, bad_fields)
    return problems


def check_card(card: ArtworkCard | TemplateCard, templates: TemplateLibrary) -> None:
    """Raise :class:`InvalidCard` with every problem if the card cannot be printed."""
    problems = validate_card(card, templates)
    if problems:
        raise InvalidCard(problems)


class CardChecker:
    """Intake's card check, made to run in the check processes.

    It pickles as the templates directory, not as the loaded templates (fonts
    and images do not pickle); each process loads the library on first use.
    Problems name the field and why, never the value.
    """

    def __init__(self, extra_dir: Path | None, library: TemplateLibrary | None = None) -> None:
        self._extra_dir = extra_dir
        self._library = library

    def __call__(self, job: JobMessage) -> list[str]:
        if self._library is None:
            self._library = TemplateLibrary(self._extra_dir)
        return [f"{p.field}: {p.message}" for p in validate_card(job.card, self._library)]

    def __getstate__(self) -> dict[str, Any]:
        return {"_extra_dir": self._extra_dir, "_library": None}


def _validate_artwork(card: ArtworkCard) -> list[CardProblem]:
    problems: list[CardProblem] = []
    sides = [("front", card.front)] + ([("back", card.back)] if card.back is not None else [])
    for side_name, data in sides:
        try:
            size = probe_image(data)
        except ImageProblem as exc:
            problems.append(CardProblem(side_name, exc.code, exc.message))
            continue
        if size != CARD_SIZE:
            problems.append(wrong_size(side_name, size))
    return problems


def _bad_character(value: str) -> str | None:
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"contains a control or unassigned character (U+{ord(char):04X})"
    return None


def _unexpected(
    loaded: LoadedTemplate, given: Iterable[str], declared: Iterable[str], kind: str
) -> list[CardProblem]:
    """A problem for each ``kind`` (field, image) the card has and the template does not."""
    return [
        CardProblem(
            f"{kind}s.{_shown(name)}",
            "unexpected",
            f"template {loaded.name!r} has no such {kind}",
        )
        for name in sorted(set(given) - set(declared))
    ]


def _check_fields(loaded: LoadedTemplate, card: TemplateCard) -> list[CardProblem]:
    declared = loaded.template.fields
    problems = _unexpected(loaded, card.fields, declared, "field")
    for name, spec in declared.items():
        value = card.fields.get(name, "")
        where = f"fields.{name}"
        if value.strip() == "":
            if spec.required:
                problems.append(CardProblem(where, "missing", "required and not given"))
            continue
        if len(value) > spec.max_length:
            problems.append(
                CardProblem(
                    where, "too_long", f"{len(value)} characters; at most {spec.max_length}"
                )
            )
            continue
        bad = _bad_character(value)
        if bad is not None:
            problems.append(CardProblem(where, "bad_character", bad))
            continue
        if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
            label = f" ({spec.label})" if spec.label else ""
            problems.append(
                CardProblem(
                    where,
                    "pattern",
                    f"does not have the form the template expects{label}: {spec.pattern}",
                )
            )
    return problems


def _check_images(loaded: LoadedTemplate, card: TemplateCard) -> list[CardProblem]:
    declared = loaded.template.images
    problems = _unexpected(loaded, card.images, declared, "image")
    for name, spec in declared.items():
        where = f"images.{name}"
        data = card.images.get(name)
        if not data:
            if spec.required:
                problems.append(CardProblem(where, "missing", "required and not given"))
            continue
        try:
            probe_image(data)
        except ImageProblem as exc:
            problems.append(CardProblem(where, exc.code, exc.message))
    return problems


def _check_layout(
    loaded: LoadedTemplate, card: TemplateCard, bad_fields: set[str]
) -> list[CardProblem]:
    """Fonts cover every character, text fits its box, codes fit theirs."""
    values = field_values(loaded.template, card.fields)
    problems: list[CardProblem] = []
    reported: set[str] = set(bad_fields)
    for _side_name, side in loaded.template.sides():
        for element in side.elements:
            if isinstance(element, ImageElement):
                continue
            pattern = element.text if isinstance(element, TextElement) else element.data
            names = placeholders(pattern)
            if not names or any(f"fields.{n}" in bad_fields for n in names):
                continue  # fixed text is checked when the template loads
            problem: CardProblem | None = None
            if isinstance(element, TextElement):
                problem = _check_text(loaded, element, values, names)
            elif isinstance(element, Code128Element | QrElement):
                data = element.data.format_map(values)
                miss = (
                    code128_mask(element, data)
                    if isinstance(element, Code128Element)
                    else qr_fits(element, data)
                )
                if isinstance(miss, CodeMiss):
                    problem = miss_problem(element.data, values, "barcode", miss.reason)
            if problem is not None and problem.field not in reported:
                reported.add(problem.field)
                problems.append(problem)
    return problems


def _check_text(
    loaded: LoadedTemplate, element: TextElement, values: dict[str, str], names: tuple[str, ...]
) -> CardProblem | None:
    coverage = loaded.coverage(element)
    for name in names:
        value = values[name].upper() if element.upper else values[name]
        missing = sorted({c for c in value if ord(c) not in coverage and not c.isspace()})
        if missing:
            codes = ", ".join(f"U+{ord(c):04X}" for c in missing[:5])
            return CardProblem(
                f"fields.{name}", "bad_character", f"font {element.font} cannot draw {codes}"
            )
    text = compose(element, values)
    if not text.strip():
        return None
    fit = fit_text(element, loaded.font_path(element), text)
    if isinstance(fit, TextMiss):
        return miss_problem(element.text, values, "does_not_fit", f"at {fit.size} px {fit.reason}")
    return None


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _shown(name: str) -> str:
    """A field name from the wire, safe to echo (it could carry anything)."""
    return name if _SAFE_NAME.match(name) else "<unprintable name>"
