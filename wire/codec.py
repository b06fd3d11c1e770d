"""Encode payload models to bytes and decode bytes to models, with errors that name the field."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from wire.errors import WireError

MAX_JSON_BYTES = 256 * 1024

M = TypeVar("M", bound=BaseModel)


def encode(message: BaseModel) -> bytes:
    """Serialise a payload model to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_none=True).encode()


def decode(model: type[M], payload: bytes | bytearray | str) -> M:
    """Parse ``payload`` as ``model``; raise ``WireError`` naming the first bad field."""
    if len(payload) > MAX_JSON_BYTES:
        raise WireError(f"payload: {len(payload)} bytes exceeds the {MAX_JSON_BYTES}-byte limit")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"payload: not UTF-8 JSON ({exc})") from exc
    except RecursionError as exc:  # e.g. b"[" * 100_000
        raise WireError("payload: JSON nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise WireError(f"payload: unreadable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise WireError(f"payload: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise WireError(
            f"{model.__name__}.{where}: {first['msg']} ({exc.error_count()} error(s))"
        ) from exc
