"""Opaque keyset cursors: URL-safe base64 of the JSON ``[iso_time, id]`` of the last item."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from wire.errors import WireError

MAX_CURSOR_CHARS = 512


def encode_cursor(at: datetime, item_id: str) -> str:
    raw = json.dumps([at.isoformat(), item_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Return (time, id); raise ``WireError`` with a clear message for anything else."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise WireError("cursor: too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError/JSONDecodeError too
        raise WireError("cursor: not a cursor this API issued") from exc
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], str)
        or len(value[1]) > 64
    ):
        raise WireError("cursor: not a cursor this API issued")
    try:
        at = datetime.fromisoformat(value[0])
    except ValueError as exc:
        raise WireError("cursor: bad timestamp") from exc
    if at.tzinfo is None or at.utcoffset() is None:
        raise WireError("cursor: timestamp lacks an offset")
    return at, value[1]
