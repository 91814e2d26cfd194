"""Serial ranges as technicians type them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printd.serials import SerialError, describe, parse_serials


def test_range_expands_in_order_with_width_kept() -> None:
    """A range keeps its prefix and zero padding and runs first to last."""
    assert parse_serials(["AB-000998..AB-001001"]) == [
        "AB-000998",
        "AB-000999",
        "AB-001000",
        "AB-001001",
    ]


def test_lists_mix_ranges_and_singles() -> None:
    """Commas and spaces separate items; ranges and single serials mix."""
    assert parse_serials(["X1, X3..X4", "Y9"]) == ["X1", "X3", "X4", "Y9"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("AB-5..AB-1", "comes after"),
        ("AB-1..CD-5", "same prefix"),
        ("AB-01..AB-100", "same prefix and digit count"),
        ("AB..CD", "end in digits"),
        ("AB 1;DROP", "not a blank serial"),
        ("A1..A1,A1", "more than once"),
    ],
)
def test_bad_ranges_are_refused_with_the_reason(text: str, why: str) -> None:
    """Each malformed range names what is wrong with it."""
    with pytest.raises(SerialError, match=why):
        parse_serials([text])


@given(st.integers(0, 10_000), st.integers(0, 300))
def test_range_length_is_end_minus_start_plus_one(start: int, length: int) -> None:
    """Any well-formed range yields exactly its span of distinct serials."""
    end = start + length
    serials = parse_serials([f"Z-{start:06d}..Z-{end:06d}"])
    assert len(serials) == length + 1
    assert len(set(serials)) == len(serials)
    assert describe(serials).startswith(f"Z-{start:06d}")
