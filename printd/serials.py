"""Blank serial numbers and ranges as technicians write them.

A range is ``AB-100001..AB-100500``: the same prefix, numeric suffixes of the
same width, first <= last. Lists mix ranges and single serials, separated by
commas or whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_TAIL_DIGITS = re.compile(r"^(.*?)(\d+)$")
MAX_RANGE = 1_000_000


class SerialError(ValueError):
    """A serial or range the ledger cannot take."""


def check_serial(serial: str) -> str:
    if not _SERIAL.match(serial):
        raise SerialError(
            f"{serial!r} is not a blank serial (letters, digits, '-' or '_', at most 40)"
        )
    return serial


def expand_range(text: str) -> Iterator[str]:
    """Every serial of ``FIRST..LAST``, in order."""
    first, sep, last = text.partition("..")
    if not sep:
        yield check_serial(text.strip())
        return
    first, last = first.strip(), last.strip()
    check_serial(first)
    check_serial(last)
    head_a, head_b = _TAIL_DIGITS.match(first), _TAIL_DIGITS.match(last)
    if head_a is None or head_b is None:
        raise SerialError(f"range {text!r}: both ends must end in digits")
    prefix, start_digits = head_a.groups()
    prefix_b, end_digits = head_b.groups()
    if prefix != prefix_b or len(start_digits) != len(end_digits):
        raise SerialError(f"range {text!r}: both ends need the same prefix and digit count")
    start, end = int(start_digits), int(end_digits)
    if start > end:
        raise SerialError(f"range {text!r}: the first serial comes after the last")
    if end - start + 1 > MAX_RANGE:
        raise SerialError(f"range {text!r}: more than {MAX_RANGE:,} serials")
    width = len(start_digits)
    for number in range(start, end + 1):
        yield f"{prefix}{number:0{width}d}"


def parse_serials(items: Iterable[str]) -> list[str]:
    """Expand ranges and lists; refuse repeats, keeping the order given."""
    serials: list[str] = []
    for item in items:
        for part in re.split(r"[,\s]+", item.strip()):
            if part:
                serials.extend(expand_range(part))
    seen: set[str] = set()
    repeated = []
    for serial in serials:
        if serial in seen:
            repeated.append(serial)
        seen.add(serial)
    if repeated:
        shown = ", ".join(repeated[:5]) + (" ..." if len(repeated) > 5 else "")
        raise SerialError(f"serials given more than once: {shown}")
    return serials


def describe(serials: list[str]) -> str:
    """A short human form of a serial list: 'AB-100001..AB-100500 (500)'."""
    if not serials:
        return "(none)"
    if len(serials) == 1:
        return serials[0]
    return f"{serials[0]}..{serials[-1]} ({len(serials):,})"
