"""Errors of the card renderer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardProblem:
    """One reason a card cannot be printed.

    ``field`` names the exact input: ``template``, ``fields.<name>``,
    ``images.<name>``, ``front`` or ``back``. ``code`` is a stable machine word
    (see :data:`PROBLEM_CODES`); ``message`` says why in plain words and never
    repeats the value (it may be personal data).
    """

    field: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


PROBLEM_CODES = frozenset(
    {
        "unknown_template",  # no template of that name on this station
        "missing",  # a required field or image is absent or empty
        "unexpected",  # a field or image the template does not declare
        "too_long",  # more characters than the field's max_length
        "pattern",  # the value does not match the field's pattern
        "bad_character",  # a character the font cannot draw, or a control character
        "does_not_fit",  # text too long for its box even at the minimum size
        "barcode",  # the value cannot be carried by the barcode or QR code in its box
        "bad_image",  # not a decodable JPEG or PNG
        "image_too_large",  # more pixels than the decompression-bomb cap
        "wrong_size",  # finished artwork that is not the card's size
    }
)


class RenderError(Exception):
    """Base of the renderer's errors."""


class InvalidCard(RenderError):
    """The card cannot be rendered; ``problems`` say which input and why."""

    def __init__(self, problems: list[CardProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class TemplateError(RenderError):
    """A template file cannot be used; ``lines`` say why, one problem each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
