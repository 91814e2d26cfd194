"""Card artwork: templates, rendering into printer panels, previews.

The three calls the rest of printd makes::

    templates = TemplateLibrary.from_settings(settings)   # once, at start-up
    problems = validate_card(card, templates)              # at intake; [] = printable
    artwork = render_card(card, chip, templates)           # at the station, in a thread
    write_preview(artwork, out_dir)                        # for a technician
"""

from __future__ import annotations

from printd.render.errors import (
    PROBLEM_CODES,
    CardProblem,
    InvalidCard,
    RenderError,
    TemplateError,
)
from printd.render.images import MAX_IMAGE_PIXELS
from printd.render.library import LoadedTemplate, TemplateLibrary, load_template
from printd.render.model import CARD_SIZE, Template
from printd.render.preview import composite, side_panels, write_preview
from printd.render.renderer import CHIP_CONTACT_WINDOW, render_card
from printd.render.validate import CardChecker, check_card, validate_card

__all__ = [
    "CARD_SIZE",
    "CHIP_CONTACT_WINDOW",
    "MAX_IMAGE_PIXELS",
    "PROBLEM_CODES",
    "CardChecker",
    "CardProblem",
    "InvalidCard",
    "LoadedTemplate",
    "RenderError",
    "Template",
    "TemplateError",
    "TemplateLibrary",
    "check_card",
    "composite",
    "load_template",
    "render_card",
    "side_panels",
    "validate_card",
    "write_preview",
]
