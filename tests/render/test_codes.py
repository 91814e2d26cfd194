"""Code 128 and QR codes: encoded right and drawn with whole-pixel modules."""

from __future__ import annotations

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from printd.render import code128
from printd.render.codes import CodeMiss, code128_mask, qr_mask
from printd.render.model import Code128Element, QrElement


def _runs(row: list[bool]) -> list[int]:
    widths, current, count = [], row[0], 0
    for bar in row:
        if bar == current:
            count += 1
        else:
            widths.append(count)
            current, count = bar, 1
    widths.append(count)
    return widths


def _decode(widths: list[int]) -> str:
    """Read module widths back into text, following start/switch symbols (a test-side decoder)."""
    table = {p: v for v, p in enumerate(code128._PATTERNS)}
    values = []
    for i in range(0, len(widths) - 7, 6):
        values.append(table["".join(str(w) for w in widths[i : i + 6])])
    assert "".join(str(w) for w in widths[-7:]) == "2331112"
    *data, check = values
    assert check == (data[0] + sum(i * v for i, v in enumerate(data[1:], start=1))) % 103
    sets = {103: "A", 104: "B", 105: "C"}
    current = sets[data[0]]
    text = ""
    for value in data[1:]:
        if current == "C" and value < 100:
            text += f"{value:02d}"
        elif value in (99, 100, 101) and not (current == "A" and value == 101):
            current = {99: "C", 100: "B", 101: "A"}[value]
        elif value == 100 and current == "A":
            current = "B"
        elif current == "B":
            text += chr(value + 32)
        else:
            text += chr(value + 32) if value < 64 else chr(value - 64)
    return text


def test_known_checksum() -> None:
    """'ABC123456' uses set B then C, with check symbol 23 (computed by hand)."""
    assert code128.symbols("ABC123456") == [104, 33, 34, 35, 99, 12, 34, 56, 23, 106]


def test_nik_is_all_set_c() -> None:
    """A 16-digit NIK takes set C throughout: 8 data symbols, 123 modules."""
    assert code128.symbols("3521014107890003")[0] == 105
    assert code128.module_count("3521014107890003") == 123


def test_non_ascii_is_refused() -> None:
    """Characters beyond ASCII cannot be carried and say so."""
    assert not code128.encodable("É")
    with pytest.raises(code128.Code128Error):
        code128.symbols("É")


@given(st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=40))
def test_round_trip(text: str) -> None:
    """Any ASCII text reads back from its bar widths unchanged."""
    assert _decode(_runs(code128.modules(text))) == text


def test_drawn_barcode_has_whole_pixel_modules() -> None:
    """The mask's bars are exact multiples of the module width and decode back."""
    element = Code128Element(type="code128", data="{nik}", box=(0, 0, 600, 50))
    drawn = code128_mask(element, "3521014107890003")
    assert not isinstance(drawn, CodeMiss)
    mask, _at = drawn
    row = [bool(mask.getpixel((x, 10))) for x in range(mask.width)]
    widths = _runs(row)
    module = min(widths)
    assert module == 600 // (123 + 20)
    assert all(w % module == 0 for w in widths)
    assert _decode([w // module for w in widths]) == "3521014107890003"


def test_barcode_too_wide_for_box() -> None:
    """A box narrower than the barcode at its minimum module width is reported."""
    element = Code128Element(type="code128", data="{x}", box=(0, 0, 200, 50), min_module_px=2)
    assert isinstance(code128_mask(element, "3521014107890003"), CodeMiss)


def test_qr_mask_matches_segno_matrix() -> None:
    """Each QR module is a whole square of pixels matching segno's matrix."""
    element = QrElement(type="qr", data="{nik}", box=(0, 0, 250, 250), border=2)
    drawn = qr_mask(element, "3521014107890003")
    assert not isinstance(drawn, CodeMiss)
    mask, (left, top) = drawn
    matrix = segno.make_qr("3521014107890003", error="m", boost_error=False).matrix
    module = mask.width // len(matrix)
    assert module == 250 // (len(matrix) + 4)
    small = mask.resize((len(matrix), len(matrix)), Image.Resampling.NEAREST)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            assert bool(small.getpixel((x, y))) == bool(dark)
    assert (left, top) == ((250 - (len(matrix) + 4) * module) // 2 + 2 * module,) * 2


def test_qr_too_much_data_for_box() -> None:
    """Data needing more modules than the box allows at its minimum is reported."""
    element = QrElement(type="qr", data="{x}", box=(0, 0, 100, 100), min_module_px=3)
    assert isinstance(qr_mask(element, "A" * 300), CodeMiss)
