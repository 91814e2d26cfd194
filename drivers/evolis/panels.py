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

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from drivers.base import SideArtwork
from drivers.dyes import portrait_dye_planes
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
    if color.size != CARD_SIZE:
        raise ArtworkError(f"color artwork must be {CARD_SIZE[0]}x{CARD_SIZE[1]}, got {color.size}")
    return portrait_dye_planes(color, _INVERT_TO_5BIT)


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
    but a line's trailing white one costs at least a byte, so a busy photo is
    given up on early and cheaply.

    Runs are cut at every change of value and at every line start, in two
    passes over the dots; the rest works on the runs alone. A line's last run,
    when white, becomes the "rest is white" marker.
    """
    lines, width = plane.shape
    plane = np.ascontiguousarray(plane)
    change = np.empty((lines, width), dtype=bool)
    change[:, 0] = True
    np.not_equal(plane[:, 1:], plane[:, :-1], out=change[:, 1:])
    starts = np.flatnonzero(change)
    if limit is not None and starts.size - lines >= limit:
        return None
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = lines * width
    lengths = ends - starts
    values = plane.reshape(-1)[starts]
    trailing_white = (values == 0) & (ends % width == 0)
    single = (lengths == 1) & ~trailing_white
    sizes = 2 - single.astype(np.int64)
    total = int(sizes.sum())
    if limit is not None and total >= limit:
        return None
    offsets = np.cumsum(sizes) - sizes
    # Bits 6 and 5 of the head each add 256 to the counter.
    extra = np.where(lengths >= 512, 0x60, np.where(lengths >= 256, 0x40, 0))
    low = lengths - np.where(lengths >= 512, 512, np.where(lengths >= 256, 256, 0))
    head = np.where(single, values, 0x80 | extra | values)
    head[trailing_white] = 0x80
    low[trailing_white] = 0  # a zero counter ends the line
    out = np.empty(total, dtype=np.uint8)
    out[offsets] = head
    pair = ~single
    out[offsets[pair] + 1] = low[pair]
    return out.tobytes()


def decompress_color(data: bytes) -> Plane:
    """Inverse of :func:`compress_color` (used by the simulator and tests).

    Vectorised: the simulated printers decode every panel, and on a small
    station PC they share its cores with the daemon. Which bytes start an item
    follows from the top bits alone: a byte after a one-byte item or after a
    counter starts one, and in a row of bytes with the top bit set, heads and
    counters alternate from the row's start.
    """
    width = PANEL_LINE_PIXELS
    raw = np.frombuffer(data, dtype=np.uint8)
    high = raw >= 0x80
    position = np.arange(raw.size)
    row_start = high.copy()
    row_start[1:] &= ~high[:-1]
    last_row_start = np.maximum.accumulate(np.where(row_start, position, 0))
    is_head = np.ones(raw.size, dtype=bool)
    is_head[high] = ((position - last_row_start) % 2 == 0)[high]
    after_high = np.zeros(raw.size, dtype=bool)
    after_high[1:] = high[:-1]
    follows = position[after_high]
    is_head[after_high] = (follows - last_row_start[follows - 1]) % 2 == 0
    heads = np.flatnonzero(is_head)
    pair = high[heads]
    if pair.size and pair[-1] and heads[-1] + 1 >= raw.size:
        raise ArtworkError("compressed colour panel ends inside a run")

    values = raw[heads] & 0x1F
    counts = np.ones(heads.size, dtype=np.int64)
    pair_heads = raw[heads[pair]].astype(np.int64)
    counts[pair] = raw[heads[pair] + 1] + 256 * (((pair_heads >> 6) & 1) + ((pair_heads >> 5) & 1))
    # A zero counter ends the line: its length is what is left of the line.
    ends_line = counts == 0
    before = np.cumsum(counts) - counts
    enders = np.flatnonzero(ends_line)
    line_base = np.concatenate(([0], before[enders]))[np.cumsum(ends_line) - ends_line]
    x = (before - line_base) % width
    if np.any((x + counts > width) & ~ends_line):
        raise ArtworkError("a run crosses the end of its line")
    counts[enders] = width - x[enders]
    values[enders] = 0
    total = int(counts.sum())
    if total != PANEL_LINES * width:
        raise ArtworkError(
            f"compressed colour panel holds {total} dots, not {PANEL_LINES} lines of {width}"
        )
    return np.repeat(values, counts).reshape(PANEL_LINES, width)


# ------------------------------------------------------------ 1-bit panels


def pack_1bit(plane: Plane) -> bytes:
    return np.packbits(plane, axis=1).tobytes()


def unpack_1bit(data: bytes) -> Plane:
    if len(data) != PANEL_BYTES_BY_LEVELS[2]:
        raise ArtworkError(f"a 2-level panel is {PANEL_BYTES_BY_LEVELS[2]} bytes")
    packed = np.frombuffer(data, dtype=np.uint8).reshape(PANEL_LINES, LINE_BYTES_1BIT)
    return np.unpackbits(packed, axis=1)


def compress_1bit(plane: Plane) -> bytes:
    """Line by line: 0x00 white, 0xFF black, else N and the line's first N bytes."""
    packed = np.packbits(plane, axis=1)
    nonzero = packed != 0
    any_ink = nonzero.any(axis=1)
    full = (packed == 0xFF).all(axis=1)
    last = LINE_BYTES_1BIT - np.argmax(nonzero[:, ::-1], axis=1)
    counts = np.where(any_ink & ~full, last, 0)
    heads = np.where(full, 0xFF, counts)
    sizes = 1 + counts
    offsets = np.cumsum(sizes) - sizes
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    out[offsets] = heads
    column = np.arange(LINE_BYTES_1BIT)
    kept = column[None, :] < counts[:, None]
    out[(offsets[:, None] + 1 + column[None, :])[kept]] = packed[kept]
    return out.tobytes()


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


@functools.cache
def _uniform_mono(panel: str, ink: bool) -> Command:
    """The download of a 1-bit panel with no mask given: the same every card."""
    return mono_command(panel, np.full((PANEL_LINES, PANEL_LINE_PIXELS), int(ink), np.uint8))


def _mono(panel: str, mask: Image.Image | None, default: bool, what: str) -> Command:
    if mask is None:
        return _uniform_mono(panel, default)
    return mono_command(panel, _mask_plane(mask, default, what))


def encode_side(side: SideArtwork) -> tuple[Command, ...]:
    """The five panel downloads (Y, M, C, K, O) for one side of a card."""
    yellow, magenta, cyan = color_planes(side.color)
    return (
        color_command("y", yellow),
        color_command("m", magenta),
        color_command("c", cyan),
        _mono("k", side.black, default=False, what="black mask"),
        _mono("o", side.overlay, default=True, what="overlay mask"),
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
