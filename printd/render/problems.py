"""Wording of the problems both validation and rendering report."""

from __future__ import annotations

from printd.render.errors import CardProblem
from printd.render.model import CARD_SIZE, placeholders


def miss_problem(pattern: str, values: dict[str, str], code: str, reason: str) -> CardProblem:
    """A field's text or code does not fit; blame the field with the most characters."""
    names = placeholders(pattern)
    if not names:
        return CardProblem("template", code, f"fixed text of the template: {reason}")
    field = max(names, key=lambda n: len(values.get(n, "")))
    others = [n for n in names if n != field]
    shared = f" (drawn together with {', '.join(others)})" if others else ""
    if code == "does_not_fit":
        what = "does not fit in its box even at the smallest size"
    else:
        what = "cannot be encoded in its box"
    return CardProblem(f"fields.{field}", code, f"{what}{shared}: {reason}")


def wrong_size(side_name: str, size: tuple[int, int]) -> CardProblem:
    return CardProblem(
        side_name,
        "wrong_size",
        f"the artwork is {size[0]} x {size[1]} pixels; a card side is "
        f"{CARD_SIZE[0]} x {CARD_SIZE[1]} (landscape, 300 dpi)",
    )
