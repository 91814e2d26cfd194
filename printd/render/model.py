"""The template file format, version 1: what a card template may say.

A template is a TOML file ``<name>.toml``. Coordinates are pixels at 300 dpi
on the card as it is read (``landscape``: 1016 x 648, ``portrait``: 648 x
1016); a box is ``[x, y, width, height]``. Elements are drawn in file order.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION = 1
CARD_SIZE = (1016, 648)
"""A card side for the printer: CR80 at 300 dpi, landscape."""
TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

Box = tuple[int, int, int, int]
"""``(x, y, width, height)`` in pixels."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_box(box: Box) -> Box:
    x, y, w, h = box
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ValueError("a box is [x, y, width, height] with x, y >= 0 and width, height > 0")
    return box


def _check_color(value: str) -> str:
    if not _HEX_COLOR.match(value):
        raise ValueError("a colour is written '#rrggbb'")
    return value


def placeholders(text: str) -> tuple[str, ...]:
    """Field names a text or data pattern refers to, e.g. ``"{rt}/{rw}"`` -> rt, rw."""
    names: list[str] = []
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if spec or conversion or not _FIELD_NAME.match(name):
            raise ValueError(
                f"placeholder {{{name}}} is not a plain field name: write {{field_name}}"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


class FieldSpec(_Strict):
    """A text field the card brings in ``fields``."""

    label: str = Field(default="", description="What the field is, for people.")
    required: bool = True
    default: str = Field(default="", description="Used when an optional field is absent.")
    max_length: int = Field(default=200, ge=1, le=2000)
    pattern: str | None = Field(default=None, description="Regular expression the value matches.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class ImageSpec(_Strict):
    """An image the card brings in ``images`` (JPEG or PNG)."""

    label: str = ""
    required: bool = True


class _Placed(_Strict):
    box: Box

    @field_validator("box")
    @classmethod
    def _box(cls, value: Box) -> Box:
        return _check_box(value)


class TextElement(_Placed):
    """Text from a pattern of fixed words and ``{field}`` placeholders."""

    type: Literal["text"]
    text: str = Field(min_length=1)
    font: str = "DejaVuSansCondensed.ttf"
    size: int = Field(ge=4, le=400, description="Pixel size of the font.")
    min_size: int | None = Field(
        default=None, ge=4, le=400, description="Shrink to fit down to this size; none = size."
    )
    align: Literal["left", "center", "right"] = "left"
    valign: Literal["top", "middle", "bottom"] = "top"
    upper: bool = False
    max_lines: int = Field(default=1, ge=1, le=20, description="Words wrap onto this many lines.")
    line_spacing: float = Field(default=1.15, ge=0.8, le=3.0)
    panel: Literal["k", "color"] = "k"
    color: str = Field(default="#000000", description="Ink on the colour panel.")

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        return _check_color(value)

    @model_validator(mode="after")
    def _sizes(self) -> TextElement:
        placeholders(self.text)
        if self.min_size is not None and self.min_size > self.size:
            raise ValueError("min_size must not exceed size")
        return self

    @property
    def smallest(self) -> int:
        return self.size if self.min_size is None else self.min_size


class ImageElement(_Placed):
    """The card's image ``image``, or a file ``asset`` beside the template, fitted into its box."""

    type: Literal["image"]
    image: str | None = None
    asset: str | None = None
    fit: Literal["cover", "contain"] = Field(
        default="cover", description="cover: fill the box, cropping; contain: fit whole."
    )
    anchor: tuple[float, float] = Field(
        default=(0.5, 0.5), description="Which part is kept when cropping (0..1, 0..1)."
    )
    panel: Literal["color", "k"] = "color"
    threshold: int = Field(default=128, ge=1, le=255, description="K panel: darker prints.")

    @model_validator(mode="after")
    def _one_source(self) -> ImageElement:
        if (self.image is None) == (self.asset is None):
            raise ValueError("an image element has exactly one of 'image' or 'asset'")
        if not all(0.0 <= a <= 1.0 for a in self.anchor):
            raise ValueError("anchor values are between 0 and 1")
        return self


class Code128Element(_Placed):
    """A Code 128 barcode of ``data``, in resin black, centred in its box."""

    type: Literal["code128"]
    data: str = Field(min_length=1)
    panel: Literal["k"] = "k"
    min_module_px: int = Field(default=2, ge=1, le=20, description="Narrowest bar in pixels.")

    @model_validator(mode="after")
    def _data(self) -> Code128Element:
        placeholders(self.data)
        return self


class QrElement(_Placed):
    """A QR code of ``data``, in resin black, centred in its box."""

    type: Literal["qr"]
    data: str = Field(min_length=1)
    error: Literal["l", "m", "q", "h"] = "m"
    border: int = Field(default=2, ge=0, le=10, description="Quiet zone in modules.")
    panel: Literal["k"] = "k"
    min_module_px: int = Field(default=3, ge=1, le=40)

    @model_validator(mode="after")
    def _data(self) -> QrElement:
        placeholders(self.data)
        return self


Element = Annotated[
    TextElement | ImageElement | Code128Element | QrElement, Field(discriminator="type")
]


class SideTemplate(_Strict):
    """One side of the card."""

    background: str | None = Field(default=None, description="PNG/JPEG beside the template.")
    background_color: str = "#ffffff"
    overlay: Literal["full", "none"] = Field(
        default="full", description="full: clear overlay over the card except the windows."
    )
    overlay_windows: list[Box] = Field(
        default_factory=list, description="Boxes left without overlay (chip contacts)."
    )
    elements: list[Element] = Field(default_factory=list)

    @field_validator("background_color")
    @classmethod
    def _color(cls, value: str) -> str:
        return _check_color(value)

    @field_validator("overlay_windows")
    @classmethod
    def _windows(cls, value: list[Box]) -> list[Box]:
        return [_check_box(box) for box in value]


class Template(_Strict):
    """A card template: its inputs and how each side is drawn."""

    format: Literal[1] = Field(description="Template file format version.")
    name: str
    description: str = ""
    orientation: Literal["landscape", "portrait"] = "landscape"
    width_px: int = Field(default=1016, ge=100, le=4000, description="Long edge, landscape.")
    height_px: int = Field(default=648, ge=100, le=4000, description="Short edge.")
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    images: dict[str, ImageSpec] = Field(default_factory=dict)
    front: SideTemplate
    back: SideTemplate | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TEMPLATE_NAME.match(value):
            raise ValueError("lower-case letters, digits, '_', '.', '-' (e.g. 'ktp-v1')")
        return value

    @property
    def canvas(self) -> tuple[int, int]:
        """Width and height of a side as the template draws it."""
        if self.orientation == "portrait":
            return self.height_px, self.width_px
        return self.width_px, self.height_px

    def sides(self) -> list[tuple[str, SideTemplate]]:
        out = [("front", self.front)]
        if self.back is not None:
            out.append(("back", self.back))
        return out

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if self.width_px < self.height_px:
            raise ValueError("width_px is the long edge: width_px >= height_px")
        for name in [*self.fields, *self.images]:
            if not _FIELD_NAME.match(name):
                raise ValueError(f"field/image name {name!r}: lower-case letters, digits, '_'")
        used_fields: set[str] = set()
        used_images: set[str] = set()
        cw, ch = self.canvas
        for side_name, side in self.sides():
            boxes = [(f"{side_name}.elements[{i}]", e.box) for i, e in enumerate(side.elements)]
            boxes += [
                (f"{side_name}.overlay_windows[{i}]", b) for i, b in enumerate(side.overlay_windows)
            ]
            for where, (x, y, w, h) in boxes:
                if x + w > cw or y + h > ch:
                    raise ValueError(f"{where}: box goes beyond the {cw} x {ch} card")
            for i, element in enumerate(side.elements):
                where = f"{side_name}.elements[{i}]"
                if isinstance(element, ImageElement):
                    if element.image is not None:
                        if element.image not in self.images:
                            raise ValueError(f"{where}: image {element.image!r} is not declared")
                        used_images.add(element.image)
                    continue
                pattern = element.text if isinstance(element, TextElement) else element.data
                for name in placeholders(pattern):
                    if name not in self.fields:
                        raise ValueError(f"{where}: field {{{name}}} is not declared in [fields]")
                    used_fields.add(name)
        unused = sorted((set(self.fields) - used_fields) | (set(self.images) - used_images))
        if unused:
            raise ValueError(f"declared but never drawn: {', '.join(unused)}")
        return self
