"""Code 128 encoding: text to the widths of its bars and spaces.

Digit runs use code set C (two digits a symbol) so a 16-digit ID number
stays short; other printable ASCII uses set B, control characters set A.
"""

from __future__ import annotations

# Bar/space widths (in modules) of symbol values 0..106, bar first; ISO/IEC 15417.
_PATTERNS = (  # noqa: SIM905 - the table reads as printed in the standard
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 "
    "221312 231212 112232 122132 122231 113222 123122 123221 223211 221132 "
    "221231 213212 223112 312131 311222 321122 321221 312212 322112 322211 "
    "212123 212321 232121 111323 131123 131321 112313 132113 132311 211313 "
    "231113 231311 112133 112331 132131 113123 113321 133121 313121 211331 "
    "231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 "
    "314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 "
    "112412 122114 122411 142112 142211 241211 221114 413111 241112 134111 "
    "111242 121142 121241 114212 124112 124211 411212 421112 421211 212141 "
    "214121 412121 111143 111341 131141 114113 114311 411113 411311 113141 "
    "114131 311141 411131 211412 211214 211232 2331112"
).split()

START = {"A": 103, "B": 104, "C": 105}
STOP = 106
_CODE = {"A": 101, "B": 100, "C": 99}  # "switch to set X" from the other sets
QUIET_ZONE_MODULES = 10


class Code128Error(ValueError):
    """The text cannot be carried by Code 128 (only ASCII 0..127)."""


def encodable(text: str) -> bool:
    """Whether every character of ``text`` has a Code 128 symbol."""
    return bool(text) and all(ord(c) < 128 for c in text)


def _digit_run(text: str, i: int) -> int:
    n = i
    while n < len(text) and text[n].isdigit() and text[n].isascii():
        n += 1
    return n - i


def _value(char: str, code_set: str) -> int:
    o = ord(char)
    if code_set == "B":
        return o - 32
    return o + 64 if o < 32 else o - 32  # set A: controls after the upper half


def _fits_set(char: str, code_set: str) -> bool:
    o = ord(char)
    return 32 <= o < 128 if code_set == "B" else o < 96


def symbols(text: str) -> list[int]:
    """Symbol values of ``text``: start, data, check symbol and stop."""
    if not encodable(text):
        raise Code128Error("Code 128 carries ASCII characters only, at least one")
    run = _digit_run(text, 0)
    if run >= 2 and run % 2 == 0 and (run >= 4 or run == len(text)):
        code_set = "C"
    elif _fits_set(text[0], "B"):
        code_set = "B"
    else:
        code_set = "A"
    out = [START[code_set]]
    i = 0
    while i < len(text):
        if code_set == "C":
            if _digit_run(text, i) >= 2:
                out.append(int(text[i : i + 2]))
                i += 2
                continue
            code_set = "B" if _fits_set(text[i], "B") else "A"
            out.append(_CODE[code_set])
            continue
        run = _digit_run(text, i)
        # Set C pays for its switch symbol with 4 digits (6 mid-text, 4 at the end).
        if run >= 6 or (run >= 4 and i + run == len(text)):
            if run % 2:
                out.append(_value(text[i], code_set))
                i += 1
            code_set = "C"
            out.append(_CODE["C"])
            continue
        char = text[i]
        if not _fits_set(char, code_set):
            code_set = "A" if code_set == "B" else "B"
            out.append(_CODE[code_set])
        out.append(_value(char, code_set))
        i += 1
    check = (out[0] + sum(pos * v for pos, v in enumerate(out[1:], start=1))) % 103
    out.append(check)
    out.append(STOP)
    return out


def modules(text: str) -> list[bool]:
    """The barcode as one boolean per module (True = bar), without quiet zones."""
    bars: list[bool] = []
    for value in symbols(text):
        bar = True
        for width in _PATTERNS[value]:
            bars.extend([bar] * int(width))
            bar = not bar
    return bars


def module_count(text: str) -> int:
    """Width of the barcode in modules, without quiet zones."""
    return 11 * (len(symbols(text)) - 1) + 13
