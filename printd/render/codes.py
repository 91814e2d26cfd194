"""Barcodes and QR codes as 1-bit masks for the resin black panel.

Modules are whole pixels (no resampling), so every bar edge is sharp and a
scanner reads what the encoder meant.
"""

from __future__ import annotations

from dataclasses import dataclass

import segno
from PIL import Image

from printd.render import code128
from printd.render.model import Code128Element, QrElement


@dataclass(frozen=True, slots=True)
class CodeMiss:
    reason: str


def code128_mask(
    element: Code128Element, text: str
) -> tuple[Image.Image, tuple[int, int]] | CodeMiss:
    """The barcode of ``text`` centred in the element's box, or why it cannot be."""
    if not code128.encodable(text):
        return CodeMiss("Code 128 carries ASCII letters, digits and signs only")
    bars = code128.modules(text)
    x, y, width, height = element.box
    total = len(bars) + 2 * code128.QUIET_ZONE_MODULES
    module = width // total
    if module < element.min_module_px:
        return CodeMiss(
            f"the barcode needs {total * element.min_module_px} px, the box is {width} px wide"
        )
    row = b"".join((b"\xff" if bar else b"\x00") * module for bar in bars)
    line = Image.frombytes("L", (len(row), 1), row)
    mask = line.resize((len(row), height), Image.Resampling.NEAREST).convert("1", dither=None)
    return mask, (x + (width - len(row)) // 2, y)


def _make_qr(element: QrElement, text: str, mask: int | None) -> segno.QRCode | CodeMiss:
    if not text:
        return CodeMiss("a QR code needs some data")
    try:
        return segno.make_qr(text, error=element.error, boost_error=False, mask=mask)
    except segno.DataOverflowError:
        return CodeMiss("too much data for a QR code")


def _qr_module(element: QrElement, symbol_modules: int) -> int | CodeMiss:
    _x, _y, width, height = element.box
    span = symbol_modules + 2 * element.border
    module = min(width, height) // span
    if module < element.min_module_px:
        return CodeMiss(
            f"the QR code needs {span * element.min_module_px} px, the box is "
            f"{min(width, height)} px"
        )
    return module


def qr_fits(element: QrElement, text: str) -> CodeMiss | None:
    """Whether the QR code of ``text`` fits the box, without choosing its mask.

    The mask does not change the symbol's size, and choosing the best one is
    most of the encoding time, so intake checks with a fixed mask.
    """
    qr = _make_qr(element, text, mask=0)
    if isinstance(qr, CodeMiss):
        return qr
    module = _qr_module(element, len(qr.matrix))
    return module if isinstance(module, CodeMiss) else None


def qr_mask(element: QrElement, text: str) -> tuple[Image.Image, tuple[int, int]] | CodeMiss:
    """The QR code of ``text`` centred in the element's box, or why it cannot be."""
    qr = _make_qr(element, text, mask=None)
    if isinstance(qr, CodeMiss):
        return qr
    matrix: tuple[bytearray, ...] = qr.matrix
    n = len(matrix)
    module = _qr_module(element, n)
    if isinstance(module, CodeMiss):
        return module
    x, y, width, height = element.box
    cells = Image.frombytes("L", (n, n), b"".join(bytes(row) for row in matrix))
    dark = cells.point([255 if v else 0 for v in range(256)], "1")
    mask = dark.resize((n * module, n * module), Image.Resampling.NEAREST)
    side = (n + 2 * element.border) * module
    left = x + (width - side) // 2 + element.border * module
    top = y + (height - side) // 2 + element.border * module
    return mask, (left, top)
