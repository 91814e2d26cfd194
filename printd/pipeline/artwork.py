"""From a job's stored payload to the artwork a driver encodes.

The payload is the job exactly as the registry signed it; its ``card`` is
either finished PNG artwork or a template the renderer fills in.
"""

from __future__ import annotations

import json

from pydantic import TypeAdapter, ValidationError

from drivers.base import CardArtwork
from printd.card import ArtworkCard, CardSpec, ChipData, TemplateCard
from printd.pipeline.cards import ArtworkSource, CardNotPrintable
from printd.render import RenderError, TemplateLibrary, render_card

_CARD: TypeAdapter[ArtworkCard | TemplateCard] = TypeAdapter(CardSpec)
_CHIP: TypeAdapter[ChipData | None] = TypeAdapter(ChipData | None)


def parse_card(payload: bytes) -> tuple[ArtworkCard | TemplateCard, ChipData | None]:
    """The card and chip parts of a stored job."""
    try:
        data = json.loads(payload)
        return _CARD.validate_python(data["card"]), _CHIP.validate_python(data.get("chip"))
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise CardNotPrintable(f"the job's card cannot be read: {type(exc).__name__}") from None


def make_artwork_source(templates: TemplateLibrary) -> ArtworkSource:
    def artwork(payload: bytes) -> CardArtwork:
        card, chip = parse_card(payload)
        try:
            return render_card(card, chip, templates)
        except RenderError as exc:
            raise CardNotPrintable(str(exc)) from exc

    return artwork
