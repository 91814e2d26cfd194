"""From a job's stored payload to the artwork a driver encodes.

The payload is the job exactly as the registry signed it; its ``card`` is
either finished PNG artwork or a template the renderer fills in.
"""

from __future__ import annotations

import io
import json

from PIL import Image
from pydantic import TypeAdapter, ValidationError

from drivers.base import CardArtwork, SideArtwork
from printd.card import ArtworkCard, CardSpec, ChipData
from printd.pipeline.cards import ArtworkSource, CardNotPrintable

_CARD = TypeAdapter(CardSpec)
_CHIP = TypeAdapter(ChipData | None)
CARD_SIZE = (1016, 648)


def _side(png: bytes) -> SideArtwork:
    with Image.open(io.BytesIO(png)) as image:
        if image.size != CARD_SIZE:
            raise CardNotPrintable(f"artwork is {image.size[0]}x{image.size[1]}, not 1016x648")
        return SideArtwork(color=image.convert("RGB"))


def artwork_card(card: ArtworkCard, chip: ChipData | None) -> CardArtwork:
    return CardArtwork(
        front=_side(card.front),
        back=_side(card.back) if card.back else None,
        chip_data=chip.data if chip else None,
    )


def payload_artwork(payload: bytes) -> CardArtwork:
    """Finished artwork only; templates need the renderer (see :func:`make_artwork_source`)."""
    card, chip = parse_card(payload)
    if not isinstance(card, ArtworkCard):
        raise CardNotPrintable("this station has no renderer for template cards")
    return artwork_card(card, chip)


def parse_card(payload: bytes) -> tuple[object, ChipData | None]:
    try:
        data = json.loads(payload)
        return _CARD.validate_python(data["card"]), _CHIP.validate_python(data.get("chip"))
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise CardNotPrintable(f"the job's card cannot be read: {type(exc).__name__}") from None


def make_artwork_source() -> ArtworkSource:
    return payload_artwork
