"""Rendering a job's card into the panels a printer lays down.

A template side becomes three images: the colour (YMC) picture with
backgrounds and photos, the resin-black (K) mask with text, barcodes and
signatures so they stay sharp, and the overlay mask with its clear windows.
"""

from __future__ import annotations

import time

import structlog
from PIL import Image, ImageDraw

from drivers.base import CardArtwork, SideArtwork
from printd.card import ArtworkCard, ChipData, TemplateCard
from printd.render.codes import CodeMiss, code128_mask, qr_mask
from printd.render.errors import CardProblem, InvalidCard
from printd.render.images import ImageProblem, decode_image, fit_image, to_mask
from printd.render.library import LoadedTemplate, TemplateLibrary
from printd.render.model import (
    CARD_SIZE,
    Box,
    Code128Element,
    ImageElement,
    SideTemplate,
    Template,
    TextElement,
)
from printd.render.problems import miss_problem, wrong_size
from printd.render.text import TextMiss, compose, draw_text, fit_text

log = structlog.get_logger("printd.render")

CHIP_CONTACT_WINDOW: Box = (96, 196, 164, 176)
"""Overlay window over an ISO/IEC 7816-2 contact module on the front, with margin.

The contacts lie 10.25..19.87 mm from the left edge and 19.23..28.55 mm from
the top (121..235 px and 227..337 px at 300 dpi); the window adds the module's
own border and the printer's registration tolerance.
"""


def field_values(template: Template, fields: dict[str, str]) -> dict[str, str]:
    """Every declared field's value: the card's, else the field's default."""
    values = {name: spec.default for name, spec in template.fields.items()}
    for name, value in fields.items():
        if name in values and value != "":
            values[name] = value
    return values


def _overlay(size: tuple[int, int], mode: str, windows: list[Box]) -> Image.Image | None:
    if mode == "none":
        return Image.new("1", size, 0)
    if not windows:
        return None
    overlay = Image.new("1", size, 255)
    draw = ImageDraw.Draw(overlay)
    for x, y, w, h in windows:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=0)
    return overlay


def _decode_for(loaded: LoadedTemplate, card: TemplateCard) -> dict[str, Image.Image]:
    """Decode each of the card's pictures once, at the largest size any box needs."""
    boxes: dict[str, tuple[int, int]] = {}
    for _side_name, side in loaded.template.sides():
        for element in side.elements:
            if isinstance(element, ImageElement) and element.image in card.images:
                _x, _y, w, h = element.box
                old = boxes.get(element.image, (0, 0))
                boxes[element.image] = (max(old[0], w), max(old[1], h))
    decoded: dict[str, Image.Image] = {}
    problems: list[CardProblem] = []
    for name, box in boxes.items():
        try:
            decoded[name] = decode_image(card.images[name], at_least=box)
        except ImageProblem as exc:
            problems.append(CardProblem(f"images.{name}", exc.code, exc.message))
    if problems:
        raise InvalidCard(problems)
    return decoded


def _render_side(
    loaded: LoadedTemplate,
    side: SideTemplate,
    values: dict[str, str],
    pictures: dict[str, Image.Image],
) -> SideArtwork:
    template = loaded.template
    size = template.canvas
    if side.background is not None:
        color = loaded.asset(side.background, size).convert("RGB")
    else:
        color = Image.new("RGB", size, side.background_color)
    black = Image.new("1", size, 0)
    color_draw = ImageDraw.Draw(color)
    black_draw = ImageDraw.Draw(black)
    problems: list[CardProblem] = []
    for element in side.elements:
        if isinstance(element, TextElement):
            text = compose(element, values)
            if not text.strip():
                continue
            fit = fit_text(element, loaded.font_path(element), text)
            if isinstance(fit, TextMiss):
                problems.append(miss_problem(element.text, values, "does_not_fit", fit.reason))
                continue
            if element.panel == "k":
                draw_text(black_draw, element, fit, 255)
            else:
                draw_text(color_draw, element, fit, element.color)
        elif isinstance(element, ImageElement):
            if element.asset is not None:
                picture = loaded.asset(element.asset)
            elif element.image in pictures:
                picture = pictures[element.image]
            else:
                continue  # an optional picture the card did not bring
            fitted, at = fit_image(picture, element)
            if element.panel == "k":
                black.paste(
                    255,
                    (*at, at[0] + fitted.width, at[1] + fitted.height),
                    to_mask(fitted, element.threshold),
                )
            elif fitted.mode == "RGBA":
                color.paste(fitted, at, fitted)
            else:
                color.paste(fitted, at)
        else:
            data = element.data.format_map(values)
            code = (
                code128_mask(element, data)
                if isinstance(element, Code128Element)
                else qr_mask(element, data)
            )
            if isinstance(code, CodeMiss):
                problems.append(miss_problem(element.data, values, "barcode", code.reason))
                continue
            mask, at = code
            black.paste(255, (*at, at[0] + mask.width, at[1] + mask.height), mask)
    if problems:
        raise InvalidCard(problems)
    overlay = _overlay(size, side.overlay, side.overlay_windows)
    if template.orientation == "portrait":
        color = color.transpose(Image.Transpose.ROTATE_90)
        black = black.transpose(Image.Transpose.ROTATE_90)
        overlay = overlay.transpose(Image.Transpose.ROTATE_90) if overlay is not None else None
    return SideArtwork(color=color, black=black, overlay=overlay)


def _render_template(
    card: TemplateCard, templates: TemplateLibrary
) -> tuple[SideArtwork, SideArtwork | None]:
    loaded = templates.get(card.template)
    if loaded is None:
        raise InvalidCard(
            [
                CardProblem(
                    "template", "unknown_template", f"no template {card.template!r} on this station"
                )
            ]
        )
    values = field_values(loaded.template, card.fields)
    pictures = _decode_for(loaded, card)
    front = _render_side(loaded, loaded.template.front, values, pictures)
    back = None
    if loaded.template.back is not None:
        back = _render_side(loaded, loaded.template.back, values, pictures)
    return front, back


def _artwork_side(data: bytes, side_name: str, windows: list[Box]) -> SideArtwork:
    try:
        picture = decode_image(data)
    except ImageProblem as exc:
        raise InvalidCard([CardProblem(side_name, exc.code, exc.message)]) from None
    if picture.size != CARD_SIZE:
        raise InvalidCard([wrong_size(side_name, picture.size)])
    if picture.mode == "RGBA":
        white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, picture).convert("RGB")
    return SideArtwork(color=picture, black=None, overlay=_overlay(CARD_SIZE, "full", windows))


def render_card(
    card: ArtworkCard | TemplateCard, chip: ChipData | None, templates: TemplateLibrary
) -> CardArtwork:
    """Render a job's card into what a driver prints.

    Finished artwork goes to the colour panel as it is (with an overlay
    window over the chip contacts when the chip is written by contact); a
    template card is drawn from its template. The same input always gives the
    same pixels. Raises :class:`InvalidCard` naming each field at fault; call
    :func:`printd.render.validate_card` at intake so that never happens here.
    CPU-bound: run it in a worker thread, not on the event loop.
    """
    started = time.perf_counter()
    if isinstance(card, ArtworkCard):
        windows = [CHIP_CONTACT_WINDOW] if chip is not None and chip.station == "contact" else []
        front = _artwork_side(card.front, "front", windows)
        back = _artwork_side(card.back, "back", []) if card.back is not None else None
        kind = "artwork"
    else:
        front, back = _render_template(card, templates)
        kind = card.template
    log.debug(
        "card_rendered",
        template=kind,
        sides=1 if back is None else 2,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return CardArtwork(front=front, back=back, chip_data=chip.data if chip is not None else None)
