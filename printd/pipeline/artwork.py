"""From a job's stored payload to the artwork a driver encodes.

The payload is the job exactly as the registry signed it; its ``card`` is
either finished PNG artwork or a template the renderer fills in.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from drivers.base import CardArtwork
from printd.card import ArtworkCard, CardSpec, ChipData, TemplateCard
from printd.pipeline.encoding import ArtworkSource, CardNotPrintable
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


class ArtworkRenderer:
    """The station's artwork source; picklable, so a worker process can use it.

    Only the templates directory crosses to a worker: the library is loaded
    there once, on first use (the daemon checked it at start-up already).
    """

    def __init__(self, templates_dir: Path | None, templates: TemplateLibrary | None = None):
        self.templates_dir = templates_dir
        self._templates = templates

    def __call__(self, payload: bytes) -> CardArtwork:
        if self._templates is None:
            self._templates = _library(self.templates_dir)
        card, chip = parse_card(payload)
        try:
            return render_card(card, chip, self._templates)
        except RenderError as exc:
            raise CardNotPrintable(str(exc)) from exc

    def __getstate__(self) -> dict[str, Any]:
        return {"templates_dir": self.templates_dir, "_templates": None}


@functools.cache
def _library(templates_dir: Path | None) -> TemplateLibrary:
    """One library per process: a worker gets a fresh unpickled source with
    every card, and reading the templates costs more than rendering one."""
    return TemplateLibrary(templates_dir)


def make_artwork_source(templates: TemplateLibrary, templates_dir: Path | None) -> ArtworkSource:
    return ArtworkRenderer(templates_dir, templates)
