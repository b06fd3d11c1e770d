"""ISO 6346 container numbers: format and check digit.

A container number is a 3-letter owner code, a category letter (``U`` freight container,
``J`` detachable equipment, ``Z`` trailer/chassis), a 6-digit serial number and a check digit,
e.g. ``CSQU3054383``. The check digit: letters count A=10, B=12, … skipping multiples of 11;
each of the first ten characters is multiplied by 2**position; the sum mod 11, mod 10.
``parse_container_no`` accepts spaces and hyphens between the parts and lower case, and
returns the canonical form or raises ``ContainerNumberError`` (a ``ValueError``) saying why.
"""

from __future__ import annotations

import re
import string

from wire.errors import ContainerNumberError

_SHAPE = re.compile(r"^[A-Z]{3}[UJZ][0-9]{7}$")
_SEPARATORS = re.compile(r"[\s\-]+")
MAX_INPUT = 64


def _letter_values() -> dict[str, int]:
    values: dict[str, int] = {}
    value = 10
    for letter in string.ascii_uppercase:
        if value % 11 == 0:
            value += 1
        values[letter] = value
        value += 1
    return values


_VALUES = {**_letter_values(), **{d: int(d) for d in string.digits}}


def check_digit(first_ten: str) -> int:
    """The check digit of the first ten characters (owner code, category, serial)."""
    if len(first_ten) != 10 or any(c not in _VALUES for c in first_ten):
        raise ContainerNumberError(f"{first_ten!r}: need 4 letters and 6 digits")
    total = sum(_VALUES[c] * (1 << i) for i, c in enumerate(first_ten))
    return total % 11 % 10


def parse_container_no(text: str) -> str:
    """Canonical ``XXXU1234567`` for ``text``; raise ``ContainerNumberError`` if invalid."""
    if not isinstance(text, str):
        raise ContainerNumberError(f"container number must be text, not {type(text).__name__}")
    shown = text if len(text) <= MAX_INPUT else text[:MAX_INPUT] + "…"
    cleaned = _SEPARATORS.sub("", text).upper() if len(text) <= MAX_INPUT else text
    if not cleaned.isascii() or not _SHAPE.fullmatch(cleaned):
        raise ContainerNumberError(
            f"{shown!r}: not a container number (3-letter owner code, category U, J or Z, "
            "6-digit serial number and check digit, e.g. CSQU3054383)"
        )
    expected = check_digit(cleaned[:10])
    if int(cleaned[10]) != expected:
        raise ContainerNumberError(f"{cleaned}: check digit should be {expected}")
    return cleaned


def is_valid(text: str) -> bool:
    try:
        parse_container_no(text)
    except ContainerNumberError:
        return False
    return True
