"""Turning card artwork into a Magicard job, and a job's planes back into dots.

A plane is 1016 rows of 672 dots, the card's long edge being the row count
(as with Evolis, landscape artwork is turned a quarter turn counter-clockwise);
the card's 648 dots fill the start of each row and the rest stay white.

Colour planes carry 64 levels of dye (6 bits a dot). Each row is stored as six
bit-stripes of 84 bytes, lowest bit first; in a stripe the first dot is the
top bit of the first byte. The K plane is one such stripe a row (1 = resin).

There is no overlay plane: overlay is a setting (``OVRON``/``OVROFF``) with
rectangular holes (``NCTleft,top,right,bottom``, in dots of the landscape card,
right and bottom exclusive: printd's reading of the public tag). A mask's clear
windows are cut into rectangles; a mask that needs more than
:data:`MAX_HOLES` of them is refused rather than printed wrongly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from drivers.base import SideArtwork
from drivers.dyes import portrait_dye_planes
from drivers.evolis.panels import DecodedPanel
from drivers.magicard.protocol import (
    COLOR_BITS,
    COLOR_PLANE_BYTES,
    MONO_PLANE_BYTES,
    PLANE_ROW_PIXELS,
    PLANE_ROWS,
    ROW_BYTES,
    Job,
    JobHeader,
    Plane,
)

CARD_SIZE = (PLANE_ROWS, 648)  # landscape (width, height) in dots
CARD_DOTS = CARD_SIZE[1]
COLOR_MAX = (1 << COLOR_BITS) - 1
MAX_HOLES = 8

Dots = npt.NDArray[np.uint8]

# 8-bit ink amount (0 = none) to 6-bit dye level, rounded.
_INVERT_TO_6BIT = [((255 - v) * COLOR_MAX + 127) // 255 for v in range(256)]

# Settings every single-sided YMCKO job carries: LC1 = YMCKO dye film,
# one side, faulty cards to the reject box, one copy, page 1.
BASE_SETTINGS = ("LC1", "DPXOFF", "REJON", "ESS1", "PAG1", f"HGT{PLANE_ROWS}", f"WID{CARD_DOTS}")


class ArtworkError(ValueError):
    """Artwork that cannot be printed as given (wrong size, wrong mode)."""


def _portrait(image: Image.Image, what: str) -> Image.Image:
    if image.size != CARD_SIZE:
        raise ArtworkError(f"{what} must be {CARD_SIZE[0]}x{CARD_SIZE[1]}, got {image.size}")
    return image.transpose(Image.Transpose.ROTATE_90)


def _widen(dots: Dots) -> Dots:
    """Pad each 648-dot row to the plane's 672 dots with white."""
    out = np.zeros((PLANE_ROWS, PLANE_ROW_PIXELS), dtype=np.uint8)
    out[:, :CARD_DOTS] = dots
    return out


def color_planes(color: Image.Image | None) -> tuple[Dots, Dots, Dots]:
    """Y, M and C dye levels (0..63), 1016 rows of 672 dots."""
    if color is None:
        blank = np.zeros((PLANE_ROWS, PLANE_ROW_PIXELS), dtype=np.uint8)
        return blank, blank, blank
    if color.size != CARD_SIZE:
        raise ArtworkError(f"color artwork must be {CARD_SIZE[0]}x{CARD_SIZE[1]}, got {color.size}")
    yellow, magenta, cyan = portrait_dye_planes(color, _INVERT_TO_6BIT)
    return _widen(yellow), _widen(magenta), _widen(cyan)


def black_plane(mask: Image.Image | None) -> Dots:
    if mask is None:
        return np.zeros((PLANE_ROWS, PLANE_ROW_PIXELS), dtype=np.uint8)
    gray = _portrait(mask, "black mask").convert("L")
    return _widen((np.asarray(gray) > 127).astype(np.uint8))


def pack_color(levels: Dots) -> bytes:
    """Six bit-stripes a row, lowest bit first, first dot in the top bit."""
    shifts = np.arange(COLOR_BITS, dtype=np.uint8)[None, :, None]
    bits = (levels[:, None, :] >> shifts) & 1
    return np.packbits(bits, axis=2).tobytes()


def unpack_color(data: bytes) -> Dots:
    if len(data) != COLOR_PLANE_BYTES:
        raise ArtworkError(f"a colour plane is {COLOR_PLANE_BYTES} bytes, got {len(data)}")
    stripes = np.frombuffer(data, dtype=np.uint8).reshape(PLANE_ROWS, COLOR_BITS, ROW_BYTES)
    bits = np.unpackbits(stripes, axis=2)
    weights = (1 << np.arange(COLOR_BITS, dtype=np.uint8))[None, :, None]
    levels: Dots = (bits * weights).sum(axis=1, dtype=np.uint8)
    return levels


def pack_mono(dots: Dots) -> bytes:
    return np.packbits(dots, axis=1).tobytes()


def unpack_mono(data: bytes) -> Dots:
    if len(data) != MONO_PLANE_BYTES:
        raise ArtworkError(f"a K plane is {MONO_PLANE_BYTES} bytes, got {len(data)}")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(PLANE_ROWS, ROW_BYTES)
    return np.unpackbits(rows, axis=1)


# ------------------------------------------------------------------ overlay

Hole = tuple[int, int, int, int]  # left, top, right, bottom (exclusive)


def overlay_holes(mask: Image.Image | None) -> tuple[Hole, ...] | None:
    """The clear windows of an overlay mask as rectangles (landscape dots).

    None means no overlay at all (the mask is clear everywhere); an empty
    tuple means overlay over the whole card.
    """
    if mask is None:
        return ()
    if mask.size != CARD_SIZE:
        raise ArtworkError(f"overlay mask must be {CARD_SIZE[0]}x{CARD_SIZE[1]}, got {mask.size}")
    clear = np.asarray(mask.convert("L")) <= 127
    if clear.all():
        return None
    holes: list[Hole] = []
    remaining = clear.copy()
    while remaining.any():
        if len(holes) == MAX_HOLES:
            raise ArtworkError(
                f"overlay windows need more than {MAX_HOLES} rectangles; "
                "a Magicard cuts only rectangular holes"
            )
        top = int(np.argmax(remaining.any(axis=1)))
        left = int(np.argmax(remaining[top]))
        row = remaining[top, left:]
        width = int(np.argmin(row)) if not row.all() else row.size
        right = left + width
        bottom = top + 1
        while bottom < remaining.shape[0] and clear[bottom, left:right].all():
            bottom += 1
        remaining[top:bottom, left:right] = False
        holes.append((left, top, right, bottom))
    return tuple(holes)


def overlay_settings(holes: tuple[Hole, ...] | None) -> tuple[str, ...]:
    if holes is None:
        return ("OVROFF",)
    return ("OVRON", *(f"NCT{a},{b},{c},{d}" for a, b, c, d in holes))


def overlay_mask_from_header(header: JobHeader) -> Dots:
    """The overlay a job asks for, as 1016 x 672 dots (1 = overlay laid)."""
    landscape = np.ones((CARD_SIZE[1], CARD_SIZE[0]), dtype=np.uint8)
    if header.get("OVR") == "OFF":
        landscape[:] = 0
    for key, value in header.settings:
        if key != "NCT":
            continue
        numbers = value.split(",")
        if len(numbers) != 4:
            raise ArtworkError(f"NCT takes four numbers, got {value!r}")
        left, top, right, bottom = (int(n) for n in numbers)
        landscape[top:bottom, left:right] = 0
    return _widen(np.rot90(landscape).copy())


# -------------------------------------------------------------------- jobs


def encode_side(side: SideArtwork, job_id: str = "00000000") -> Job:
    """A single-sided YMCKO job for one side of a card."""
    yellow, magenta, cyan = color_planes(side.color)
    black = black_plane(side.black)
    holes = overlay_holes(side.overlay)
    settings = (*BASE_SETTINGS, *overlay_settings(holes), f"TDT{job_id}")
    return Job(
        settings,
        (
            Plane("B", pack_color(yellow)),
            Plane("G", pack_color(magenta)),
            Plane("R", pack_color(cyan)),
            Plane("K", pack_mono(black)),
        ),
    )


PANEL_OF_PLANE = {"B": "y", "G": "m", "R": "c", "K": "k"}


def decode_plane(plane: Plane) -> DecodedPanel:
    """A received plane as a panel (Y, M, C at 64 levels, K at 2)."""
    if plane.letter == "K":
        return DecodedPanel("k", 2, unpack_mono(plane.data))
    if plane.letter not in PANEL_OF_PLANE:
        raise ArtworkError(f"unknown plane {plane.letter!r}")
    return DecodedPanel(PANEL_OF_PLANE[plane.letter], 64, unpack_color(plane.data))


def decode_overlay(header: JobHeader) -> DecodedPanel:
    return DecodedPanel("o", 2, overlay_mask_from_header(header))
