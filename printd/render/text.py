"""Laying text into a box: wrapping, shrinking to fit, and where each line goes.

Validation and rendering both call :func:`fit_text`, so a card that passed
intake renders exactly as checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import ImageDraw, ImageFont

from printd.render.fonts import load_font
from printd.render.model import TextElement


@dataclass(frozen=True, slots=True)
class TextFit:
    """The size the text is drawn at and its lines."""

    size: int
    lines: tuple[str, ...]
    font: ImageFont.FreeTypeFont


@dataclass(frozen=True, slots=True)
class TextMiss:
    """Why text does not fit at the smallest size allowed."""

    size: int
    reason: str


def compose(element: TextElement, values: dict[str, str]) -> str:
    """The element's pattern with field values filled in (upper-cased if asked)."""
    text = element.text.format_map(values)
    return text.upper() if element.upper else text


def _wrap(
    text: str, font: ImageFont.FreeTypeFont, width: int, max_lines: int
) -> tuple[str, ...] | str:
    """Lines of at most ``width`` pixels, or the reason it cannot be done."""
    whole = font.getlength(text)  # measuring is most of the cost of checking a card
    if max_lines == 1 or whole <= width:
        if whole > width:
            return f"needs {round(whole)} px, the box is {width} px wide"
        return (text,)
    lines: list[str] = []
    current = ""
    for word in text.split():
        if font.getlength(word) > width:
            return f"a word needs {round(font.getlength(word))} px, the box is {width} px wide"
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        lines.append(current)
        current = word
    lines.append(current)
    if len(lines) > max_lines:
        return f"needs {len(lines)} lines, the box takes {max_lines}"
    return tuple(lines)


def block_height(font: ImageFont.FreeTypeFont, size: int, lines: int, spacing: float) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent + (lines - 1) * round(size * spacing)


def fit_at(element: TextElement, font_path: Path, text: str, size: int) -> TextFit | str:
    """The text laid out at ``size``, or why it does not fit."""
    font = load_font(font_path, size)
    _x, _y, width, height = element.box
    lines = _wrap(text, font, width, element.max_lines)
    if isinstance(lines, str):
        return lines
    needed = block_height(font, size, len(lines), element.line_spacing)
    if needed > height:
        return f"needs {needed} px of height, the box is {height} px high"
    return TextFit(size, lines, font)


def fit_text(element: TextElement, font_path: Path, text: str) -> TextFit | TextMiss:
    """The largest size from ``size`` down to ``min_size`` at which the text fits."""
    reason = ""
    for size in range(element.size, element.smallest - 1, -1):
        fit = fit_at(element, font_path, text, size)
        if isinstance(fit, TextFit):
            return fit
        reason = fit
    return TextMiss(element.smallest, reason)


def draw_text(
    draw: ImageDraw.ImageDraw, element: TextElement, fit: TextFit, ink: int | str
) -> None:
    """Draw laid-out text into its box (``ink`` 1 on a 1-bit panel, a colour on RGB)."""
    x, y, width, height = element.box
    font = fit.font
    ascent, _descent = font.getmetrics()
    pitch = round(fit.size * element.line_spacing)
    block = block_height(font, fit.size, len(fit.lines), element.line_spacing)
    if element.valign == "middle":
        y += (height - block) // 2
    elif element.valign == "bottom":
        y += height - block
    for i, line in enumerate(fit.lines):
        line_width = round(font.getlength(line))
        if element.align == "center":
            left = x + (width - line_width) // 2
        elif element.align == "right":
            left = x + width - line_width
        else:
            left = x
        draw.text((left, y + ascent + i * pitch), line, font=font, fill=ink, anchor="ls")
