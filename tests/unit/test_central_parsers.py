"""Parsers of untrusted input: keyset cursors and HTTP Range headers (with Hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.api.cursor import decode_cursor, encode_cursor
from central.api.httprange import RangeNotSatisfiable, parse_range
from wire.errors import WireError

aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)
ids = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")


@given(aware, ids)
def test_cursor_round_trips(at: datetime, item_id: str) -> None:
    assert decode_cursor(encode_cursor(at, item_id)) == (at, item_id)


@given(st.text(max_size=600))
def test_cursor_garbage_is_a_wire_error(text: str) -> None:
    try:
        at, item_id = decode_cursor(text)
    except WireError as exc:
        assert str(exc).startswith("cursor:")
    else:
        assert at.tzinfo is not None and isinstance(item_id, str)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        encode_cursor(datetime(2026, 1, 1, tzinfo=timezone.utc), "a")[:-3],
        "WzEsMl0",  # [1,2]
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwiYSJd",  # naive timestamp
    ],
)
def test_cursor_rejects(cursor: str) -> None:
    with pytest.raises(WireError):
        decode_cursor(cursor)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=500-", 1000, (500, 999)),
        ("bytes=-100", 1000, (900, 999)),
        ("bytes=-5000", 1000, (0, 999)),
        ("bytes=900-5000", 1000, (900, 999)),
        ("BYTES = 1 - 1", 1000, (1, 1)),
    ],
)
def test_range_forms(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=5-1", "bytes=-0", "bytes=-", "bytes=0-1,4-5", "items=0-1", ""]
)
def test_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


@given(st.text(max_size=80), st.integers(min_value=1, max_value=10**12))
def test_range_never_escapes_the_file(header: str, size: int) -> None:
    try:
        first, last = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    assert 0 <= first <= last < size


@given(st.integers(0, 2000), st.integers(0, 2000), st.integers(1, 1500))
def test_range_numeric(first: int, last: int, size: int) -> None:
    header = f"bytes={first}-{last}"
    if first >= size or last < first:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    else:
        assert parse_range(header, size) == (first, min(last, size - 1))


def test_offset_survives_round_trip() -> None:
    at = datetime(2026, 11, 27, 8, tzinfo=timezone(timedelta(hours=8)))
    decoded, _ = decode_cursor(encode_cursor(at, "x"))
    assert decoded == at and decoded.utcoffset() == timedelta(hours=8)
