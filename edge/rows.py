"""Typed rows of the edge store and their conversion from SQLite result rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.timeutil import parse_iso
from wire.models import FileKind

Range = tuple[int, int]


@dataclass(frozen=True)
class Segment:
    id: int
    camera: str
    path: Path
    start: datetime
    end: datetime
    duration: float
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    occurred_at: datetime
    monotonic_ns: int
    camera: str | None
    source: str | None
    data: dict[str, Any]
    clip_state: str
    clip_note: str | None


@dataclass(frozen=True)
class Clip:
    file_id: str
    event_id: str | None
    camera: str
    path: Path
    start: datetime
    end: datetime
    size: int
    sha256: str
    gaps: list[tuple[str, str]]
    session_id: str | None = None
    piece: int | None = None
    kind: FileKind = "clip"  # "window": an on-demand upload window (``edge.windowclips``)


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    item_kind: str
    item_id: str
    priority: int
    state: str
    acked_ranges: list[Range]
    attempts: int
    size: int
    created_at: str
    delivered_at: str | None


class Row(dict[str, Any]):
    """A result row addressable by column name or position."""

    def __init__(self, columns: list[str], values: tuple[Any, ...]) -> None:
        super().__init__(zip(columns, values, strict=True))
        self._values = values

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return super().__getitem__(key)


def segment_from_row(r: Any) -> Segment:
    return Segment(
        id=r["id"],
        camera=r["camera"],
        path=Path(r["path"]),
        start=parse_iso(r["start"]),
        end=parse_iso(r["end"]),
        duration=r["duration"],
        bytes=r["bytes"],
        sha256=r["sha256"],
    )


def event_from_row(r: Any) -> Event:
    return Event(
        id=r["id"],
        kind=r["kind"],
        occurred_at=parse_iso(r["occurred_at"]),
        monotonic_ns=r["monotonic_ns"],
        camera=r["camera"],
        source=r["source"],
        data=json.loads(r["data"] or "{}"),
        clip_state=r["clip_state"],
        clip_note=r["clip_note"],
    )


def clip_from_row(r: Any) -> Clip:
    return Clip(
        file_id=r["file_id"],
        event_id=r["event_id"],
        camera=r["camera"],
        path=Path(r["path"]),
        start=parse_iso(r["start"]),
        end=parse_iso(r["end"]),
        size=r["size"],
        sha256=r["sha256"],
        gaps=[(a, b) for a, b in json.loads(r["gaps"] or "[]")],
        session_id=r.get("session_id"),
        piece=r.get("piece"),
        kind="window" if r.get("kind") == "window" else "clip",
    )


def outbox_from_row(r: Any) -> OutboxItem:
    return OutboxItem(
        seq=r["seq"],
        item_kind=r["item_kind"],
        item_id=r["item_id"],
        priority=r["priority"],
        state=r["state"],
        acked_ranges=[(int(a), int(b)) for a, b in json.loads(r["acked_ranges"])],
        attempts=r["attempts"],
        size=r["size"],
        created_at=r["created_at"],
        delivered_at=r["delivered_at"],
    )
