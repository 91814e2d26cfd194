"""Turning card artwork into Evolis panels, and panels back into pictures.

A panel is 1016 lines of 648 dots: the card's long edge is the line count, so
landscape artwork (1016 x 648) is turned a quarter turn counter-clockwise
before it is cut into lines. Y, M and C carry 32 levels of dye (5 bits a dot);
K (resin black) and O (overlay) are 1 bit a dot, 1 meaning "lay ribbon here".

Compression (``Dbc``) follows the guide's section 4:
- K and O, line by line: 0x00 white line, 0xFF black line, or N (1..81) then
  the line's first N bytes (the rest are white).
- Y, M and C, dot by dot: a byte with the top bit clear is one dot of that
  value; a byte with the top bit set carries a value in its low 5 bits and is
  followed by a repeat counter; bits 6 and 5 each add 256 to the counter. A
  counter of zero (with no extra bits) ends the line: the rest is white.
A panel is sent compressed only when that is smaller than the raw form.

The encoder is vectorised with numpy and Pillow's C routines: a Python loop per
dot would cost a second per card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from drivers.base import SideArtwork
from drivers.dyes import dye_planes
from drivers.evolis.protocol import (
    PANEL_BYTES_BY_LEVELS,
    PANEL_LINE_PIXELS,
    PANEL_LINES,
    Command,
    db,
    dbc,
)

CARD_SIZE = (PANEL_LINES, PANEL_LINE_PIXELS)  # landscape (width, height) in dots
LINE_BYTES_1BIT = PANEL_LINE_PIXELS // 8
COLOR_LEVELS = 32
COLOR_MAX = COLOR_LEVELS - 1

Plane = npt.NDArray[np.uint8]

# 8-bit ink amount (0 = none) to 5-bit dye level, rounded.
_TO_5BIT = [(v * COLOR_MAX + 127) // 255 for v in range(256)]
_INVERT_TO_5BIT = [_TO_5BIT[255 - v] for v in range(256)]


class ArtworkError(ValueError):
    """Artwork that cannot be printed as given (wrong size, wrong mode)."""


def _portrait(image: Image.Image, what: str) -> Image.Image:
    if image.size != CARD_SIZE:
        raise ArtworkError(f"{what} must be {CARD_SIZE[0]}x{CARD_SIZE[1]}, got {image.size}")
    return image.transpose(Image.Transpose.ROTATE_90)


def _mask_plane(mask: Image.Image | None, default: bool, what: str) -> Plane:
    if mask is None:
        value = 1 if default else 0
        return np.full((PANEL_LINES, PANEL_LINE_PIXELS), value, dtype=np.uint8)
    gray = _portrait(mask, what).convert("L")
    return (np.asarray(gray) > 127).astype(np.uint8)


def color_planes(color: Image.Image | None) -> tuple[Plane, Plane, Plane]:
    """Y, M and C dye levels (0..31), one line per row."""
    if color is None:
        blank = np.zeros((PANEL_LINES, PANEL_LINE_PIXELS), dtype=np.uint8)
        return blank, blank, blank
    return dye_planes(_portrait(color, "color artwork"), _INVERT_TO_5BIT)


# ------------------------------------------------------------- 5-bit colour


def pack_5bit(plane: Plane) -> bytes:
    """Raw ``Db;x;32`` data: 8 dots -> 5 bytes, most significant bit first."""
    groups = plane.reshape(-1, 8).astype(np.uint64)
    word = np.zeros(groups.shape[0], dtype=np.uint64)
    for i in range(8):
        word |= groups[:, i] << np.uint64(35 - 5 * i)
    out = np.empty((groups.shape[0], 5), dtype=np.uint8)
    for j in range(5):
        out[:, j] = (word >> np.uint64(32 - 8 * j)) & np.uint64(0xFF)
    return out.tobytes()


def unpack_5bit(data: bytes) -> Plane:
    if len(data) != PANEL_BYTES_BY_LEVELS[32]:
        raise ArtworkError(f"a 32-level panel is {PANEL_BYTES_BY_LEVELS[32]} bytes")
    groups = np.frombuffer(data, dtype=np.uint8).reshape(-1, 5).astype(np.uint64)
    word = np.zeros(groups.shape[0], dtype=np.uint64)
    for j in range(5):
        word |= groups[:, j] << np.uint64(32 - 8 * j)
    out = np.empty((groups.shape[0], 8), dtype=np.uint8)
    for i in range(8):
        out[:, i] = (word >> np.uint64(35 - 5 * i)) & np.uint64(0x1F)
    return out.reshape(PANEL_LINES, PANEL_LINE_PIXELS)


def compress_color(plane: Plane, limit: int | None = None) -> bytes | None:
    """Run-length form of a 32-level plane (see the module docstring).

    Returns None when the result would be ``limit`` bytes or more: every run
    costs at least one byte, so a busy photo is given up on early and cheaply.
    """
    lines, width = plane.shape
    nonzero = plane != 0
    any_ink = nonzero.any(axis=1)
    last_ink = np.where(any_ink, width - 1 - np.argmax(nonzero[:, ::-1], axis=1), -1)

    change = np.ones_like(nonzero)
    change[:, 1:] = plane[:, 1:] != plane[:, :-1]
    valid = np.arange(width)[None, :] <= last_ink[:, None]
    run_starts = change & valid
    if limit is not None and int(np.count_nonzero(run_starts)) >= limit:
        return None
    starts = np.flatnonzero(run_starts)

    line_of = starts // width
    line_stop = line_of * width + last_ink[line_of] + 1
    following = np.append(starts[1:], lines * width)
    lengths = np.minimum(following, line_stop) - starts
    values = plane.reshape(-1)[starts].astype(np.int64)

    # Lines with white dots at their end get a "rest is white" marker there,
    # after that line's runs. Item order is worked out by counting, not sorting.
    has_term = last_ink < width - 1
    terms_before = np.cumsum(has_term) - has_term
    run_item = np.arange(starts.size) + terms_before[line_of]
    runs_through = np.cumsum(np.bincount(line_of, minlength=lines))
    term_lines = np.flatnonzero(has_term)
    term_item = runs_through[term_lines] + terms_before[term_lines]

    single = lengths == 1
    item_size = np.full(starts.size + term_lines.size, 2, dtype=np.int64)
    item_size[run_item[single]] = 1
    total = int(item_size.sum())
    if limit is not None and total >= limit:
        return None
    item_offset = np.cumsum(item_size) - item_size
    run_offset = item_offset[run_item]
    extra = np.where(lengths >= 512, 0x60, np.where(lengths >= 256, 0x40, 0))
    low = lengths - np.where(lengths >= 512, 512, np.where(lengths >= 256, 256, 0))

    out = np.zeros(total, dtype=np.uint8)
    out[run_offset] = np.where(single, values, 0x80 | extra | values)
    pair = ~single
    out[run_offset[pair] + 1] = low[pair]
    out[item_offset[term_item]] = 0x80  # and a zero counter, already in place
    return out.tobytes()


def decompress_color(data: bytes) -> Plane:
    """Inverse of :func:`compress_color` (used by the simulator and tests)."""
    out = np.zeros((PANEL_LINES, PANEL_LINE_PIXELS), dtype=np.uint8)
    line = x = i = 0
    n = len(data)
    while i < n:
        if line >= PANEL_LINES:
            raise ArtworkError("compressed colour panel runs past its last line")
        head = data[i]
        i += 1
        if head & 0x80:
            if i >= n:
                raise ArtworkError("compressed colour panel ends inside a run")
            count = data[i] + 256 * (((head >> 6) & 1) + ((head >> 5) & 1))
            i += 1
            if count == 0:
                line, x = line + 1, 0
                continue
            if x + count > PANEL_LINE_PIXELS:
                raise ArtworkError("a run crosses the end of its line")
            out[line, x : x + count] = head & 0x1F
            x += count
        else:
            out[line, x] = head & 0x1F
            x += 1
        if x == PANEL_LINE_PIXELS:
            line, x = line + 1, 0
    if line != PANEL_LINES or x != 0:
        raise ArtworkError(f"compressed colour panel holds {line} lines, not {PANEL_LINES}")
    return out


# ------------------------------------------------------------ 1-bit panels


def pack_1bit(plane: Plane) -> bytes:
    return np.packbits(plane, axis=1).tobytes()


def unpack_1bit(data: bytes) -> Plane:
    if len(data) != PANEL_BYTES_BY_LEVELS[2]:
        raise ArtworkError(f"a 2-level panel is {PANEL_BYTES_BY_LEVELS[2]} bytes")
    packed = np.frombuffer(data, dtype=np.uint8).reshape(PANEL_LINES, LINE_BYTES_1BIT)
    return np.unpackbits(packed, axis=1)


def compress_1bit(plane: Plane) -> bytes:
    packed = np.packbits(plane, axis=1)
    nonzero = packed != 0
    any_ink = nonzero.any(axis=1)
    last = LINE_BYTES_1BIT - np.argmax(nonzero[:, ::-1], axis=1)
    full = (packed == 0xFF).all(axis=1)
    rows = packed.tobytes()
    out = bytearray()
    for index in range(PANEL_LINES):
        if not any_ink[index]:
            out.append(0x00)
        elif full[index]:
            out.append(0xFF)
        else:
            count = int(last[index])
            start = index * LINE_BYTES_1BIT
            out.append(count)
            out += rows[start : start + count]
    return bytes(out)


def decompress_1bit(data: bytes) -> Plane:
    rows = bytearray()
    i = 0
    n = len(data)
    white = bytes(LINE_BYTES_1BIT)
    while i < n:
        head = data[i]
        i += 1
        if head == 0x00:
            rows += white
        elif head == 0xFF:
            rows += b"\xff" * LINE_BYTES_1BIT
        elif head <= LINE_BYTES_1BIT:
            if i + head > n:
                raise ArtworkError("compressed 2-level panel ends inside a line")
            rows += data[i : i + head] + white[head:]
            i += head
        else:
            raise ArtworkError(f"bad line header {head} in a compressed 2-level panel")
    if len(rows) != PANEL_BYTES_BY_LEVELS[2]:
        raise ArtworkError(f"compressed 2-level panel holds {len(rows) // 81} lines")
    return unpack_1bit(bytes(rows))


# --------------------------------------------------------------- commands


def color_command(panel: str, plane: Plane) -> Command:
    packed = compress_color(plane, limit=PANEL_BYTES_BY_LEVELS[32])
    if packed is not None:
        return dbc(panel, 32, packed)
    return db(panel, 32, pack_5bit(plane))


def mono_command(panel: str, plane: Plane) -> Command:
    packed = compress_1bit(plane)
    if len(packed) < PANEL_BYTES_BY_LEVELS[2]:
        return dbc(panel, 2, packed)
    return db(panel, 2, pack_1bit(plane))


def encode_side(side: SideArtwork) -> tuple[Command, ...]:
    """The five panel downloads (Y, M, C, K, O) for one side of a card."""
    yellow, magenta, cyan = color_planes(side.color)
    black = _mask_plane(side.black, default=False, what="black mask")
    overlay = _mask_plane(side.overlay, default=True, what="overlay mask")
    return (
        color_command("y", yellow),
        color_command("m", magenta),
        color_command("c", cyan),
        mono_command("k", black),
        mono_command("o", overlay),
    )


@dataclass(frozen=True, slots=True)
class DecodedPanel:
    """A panel as a printer received it: which one and its dots."""

    panel: str
    levels: int
    plane: Plane

    def image(self) -> Image.Image:
        """The panel as a landscape picture (ink amount, 0 = none)."""
        scale = 255 // (self.levels - 1)
        portrait = Image.fromarray((self.plane * scale).astype(np.uint8), mode="L")
        return portrait.transpose(Image.Transpose.ROTATE_270)


def decode_panel(command: Command) -> DecodedPanel:
    """Decode a ``Db`` or ``Dbc`` command back into its dots."""
    if command.name not in ("Db", "Dbc") or len(command.params) < 2:
        raise ArtworkError(f"not a panel download: {command!r}")
    panel = command.params[0]
    levels = int(command.params[1])
    if levels == 2:
        plane = unpack_1bit(command.data) if command.name == "Db" else decompress_1bit(command.data)
    elif levels == 32:
        plane = (
            unpack_5bit(command.data) if command.name == "Db" else decompress_color(command.data)
        )
    else:
        raise ArtworkError(f"this codec decodes 2 and 32 levels, not {levels}")
    return DecodedPanel(panel, levels, plane)
