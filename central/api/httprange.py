"""Parse a single-range ``Range: bytes=...`` header (RFC 9110 §14.1.2)."""

from __future__ import annotations

import re

_SPEC = re.compile(r"^\s*bytes\s*=\s*(\d{0,19})\s*-\s*(\d{0,19})\s*$", re.IGNORECASE)


class RangeNotSatisfiable(ValueError):
    """The header is malformed, asks for several ranges, or lies outside the file."""


def parse_range(header: str, size: int) -> tuple[int, int]:
    """Return the inclusive (first, last) byte positions the header selects in ``size`` bytes.

    Supports ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``; raises ``RangeNotSatisfiable``
    with a reason for everything else.
    """
    if "," in header:
        raise RangeNotSatisfiable("multiple ranges are not supported")
    match = _SPEC.match(header)
    if not match:
        raise RangeNotSatisfiable("expected bytes=first-last, bytes=first- or bytes=-suffix")
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        raise RangeNotSatisfiable("empty range")
    if not first_text:
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable("zero-length suffix range")
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size:
        raise RangeNotSatisfiable(f"first byte {first} is beyond the {size}-byte file")
    if last < first:
        raise RangeNotSatisfiable(f"last byte {last} is before first byte {first}")
    return first, min(last, size - 1)
