"""The card part of a print job, as the registry sends it.

Either finished artwork (one PNG per side, 1016 x 648 at 300 dpi, landscape)
or, far smaller on a slow district link, a template name with its text fields
and images (the citizen's photo, a signature) that the station renders.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChipData(_Frozen):
    """Data to write to the card's chip before printing."""

    station: Literal["contact", "contactless"] = "contact"
    data: Base64Bytes = Field(description="Bytes to write to the chip, base64.")


class ArtworkCard(_Frozen):
    """Finished artwork: one PNG per side."""

    kind: Literal["artwork"] = "artwork"
    front: Base64Bytes = Field(description="Front side PNG, 1016 x 648 pixels, base64.")
    back: Base64Bytes | None = Field(default=None, description="Back side PNG, base64.")


class TemplateCard(_Frozen):
    """A template the station renders, with the values for its fields."""

    kind: Literal["template"] = "template"
    template: str = Field(min_length=1, max_length=100, description="Template name, e.g. 'ktp-v1'.")
    fields: dict[str, str] = Field(default_factory=dict, description="Text fields by name.")
    images: dict[str, Base64Bytes] = Field(
        default_factory=dict, description="Images by name (JPEG or PNG), base64."
    )


CardSpec = Annotated[ArtworkCard | TemplateCard, Field(discriminator="kind")]
