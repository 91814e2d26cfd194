"""Fonts for card text: loaded once per (file, size) and asked what they can draw.

Text is laid out with Pillow's basic layout engine, never Raqm, so a card
renders to the same pixels on every station whatever libraries it has.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

from PIL import ImageFont

SHIPPED_FONTS = Path(__file__).parent / "fonts"


class FontError(Exception):
    """A font file is missing or is not a TrueType/OpenType font printd can read."""


@functools.lru_cache(maxsize=512)
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``path`` in pixel ``size``, shared by every render."""
    try:
        return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    except OSError as exc:
        raise FontError(f"font {path.name} cannot be loaded: {exc}") from None


@functools.lru_cache(maxsize=64)
def font_coverage(path: Path) -> frozenset[int]:
    """The code points the font has a glyph for, read from its ``cmap`` table.

    A character outside this set would print as an empty box, so validation
    refuses it before the card reaches a printer.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FontError(f"font {path.name} cannot be read: {exc}") from None
    try:
        return _parse_cmap(data)
    except (struct.error, ValueError) as exc:
        raise FontError(f"font {path.name} has no usable character map: {exc}") from None


def _parse_cmap(data: bytes) -> frozenset[int]:
    (num_tables,) = struct.unpack_from(">H", data, 4)
    cmap_offset = None
    for i in range(num_tables):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if tag == b"cmap":
            cmap_offset = offset
            break
    if cmap_offset is None:
        raise ValueError("no cmap table")
    _version, count = struct.unpack_from(">HH", data, cmap_offset)
    subtables: dict[tuple[int, int], int] = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap_offset + 4 + 8 * i)
        subtables[(platform, encoding)] = cmap_offset + offset
    # Full Unicode tables first, then the BMP ones.
    for key in ((3, 10), (0, 4), (0, 6), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)):
        if key in subtables:
            start = subtables[key]
            (fmt,) = struct.unpack_from(">H", data, start)
            if fmt == 12:
                return _format12(data, start)
            if fmt == 4:
                return _format4(data, start)
    raise ValueError("no Unicode subtable of format 4 or 12")


def _format4(data: bytes, start: int) -> frozenset[int]:
    (seg_count_x2,) = struct.unpack_from(">H", data, start + 6)
    segs = seg_count_x2 // 2
    ends_at = start + 14
    starts_at = ends_at + seg_count_x2 + 2
    deltas_at = starts_at + seg_count_x2
    range_offsets_at = deltas_at + seg_count_x2
    ends = struct.unpack_from(f">{segs}H", data, ends_at)
    starts = struct.unpack_from(f">{segs}H", data, starts_at)
    deltas = struct.unpack_from(f">{segs}H", data, deltas_at)
    range_offsets = struct.unpack_from(f">{segs}H", data, range_offsets_at)
    covered: set[int] = set()
    for i in range(segs):
        first, last = starts[i], ends[i]
        if first == 0xFFFF:
            continue
        for code in range(first, last + 1):
            if range_offsets[i] == 0:
                glyph = (code + deltas[i]) & 0xFFFF
            else:
                address = range_offsets_at + 2 * i + range_offsets[i] + 2 * (code - first)
                (glyph,) = struct.unpack_from(">H", data, address)
                if glyph:
                    glyph = (glyph + deltas[i]) & 0xFFFF
            if glyph:
                covered.add(code)
    return frozenset(covered)


def _format12(data: bytes, start: int) -> frozenset[int]:
    (groups,) = struct.unpack_from(">I", data, start + 12)
    covered: set[int] = set()
    for i in range(groups):
        first, last, glyph = struct.unpack_from(">III", data, start + 16 + 12 * i)
        if last - first > 0x10FFFF:
            raise ValueError("cmap group out of range")
        covered.update(code for code in range(first, last + 1) if glyph + code - first)
    return frozenset(covered)
