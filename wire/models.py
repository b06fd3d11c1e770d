"""Versioned payload models of the wire contract (DESIGN §5).

Every ``up`` message carries an envelope: the wire version ``v``, the edge's wall-clock
``sent_at`` with its UTC offset, whether the edge clock is synchronised, and — for items
that pass through the outbox — the per-device sequence number ``seq`` assigned when the
item entered the outbox. Models forbid unknown fields so a typo is an error, not a loss.

File transfer (after EMQX's EIP-0021, under our own prefix):

1. ``up/file/{id}/init`` (``FileInit``) announces name, size, sha256, times, event ids.
   Central answers with a ``FileAck`` listing the byte ranges it already holds, so a
   resumed transfer sends only what is missing.
2. ``up/file/{id}/{offset}`` carries raw bytes (≤ 1 MiB). Central writes them durably,
   then acks the ranges it now holds — one cumulative ``FileAck`` per file for what a
   worker committed within a few milliseconds (``central.ingest.ackhold``), not one per
   chunk. Duplicates and reordering are harmless. The edge keeps a window of chunks
   unacknowledged, sized from the delivery rate and round trip it measures on these acks
   (``edge.pacing``), not a fixed number.
3. ``up/file/{id}/fin`` (``FileFin``) repeats size and sha256. The edge sends it right
   after the last chunk; central verifies the assembled file, stores it content-addressed
   and acks ``complete``. A fin that finds bytes missing (another ingest worker still holds
   the last chunk) is answered with the ranges held, and the edge sends the fin again once
   the acks cover the file. Only ``complete`` counts as delivery; a broker PUBACK never does.

Every init carries the clip's manifest signed with the device's Ed25519 key and chained
to the device's previous manifest (``wire.manifest``); central refuses a clip whose
manifest is missing, unsigned by the key it trusts for the device, or disagrees with the
init or the assembled bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from wire.topics import ID_PATTERN, MAX_CHUNK_BYTES

WireId = Annotated[str, Field(pattern=ID_PATTERN.pattern)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
SafeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_+\-.]{1,200}$")]
ScalarValue = str | int | float | bool | None


def _require_offset(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry its UTC offset (e.g. 2026-11-27T08:00:00+08:00)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_offset)]

EventKind = Literal[
    "mark",
    "metal_detector_reject",
    "metal_detector_pass",
    "seal_applied",
    "seal_broken",
    "door_open",
    "loading_start",
    "loading_end",
    "camera_fault",
    "device_fault",
    "fault_cleared",
    "upload_window_failed",
    "custom",
]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
FileKind = Literal["clip", "window"]
# Longest clip on the wire (session pieces ≤ 1 h, windows ≤ 30 min); lets central bound
# time-window queries on a clip's start.
MAX_CLIP_SECONDS = 2 * 3600
MAX_WINDOW_SECONDS = 30 * 60  # longest window one ``upload_window`` command may ask for


class WireModel(BaseModel):
    """Base of every payload: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1


class Envelope(WireModel):
    """Fields every ``up`` message carries."""

    sent_at: AwareDatetime
    clock_synced: bool


class Sequenced(Envelope):
    """An ``up`` message that passed through the outbox and so has a sequence number."""

    seq: int = Field(ge=1)


class StatusMessage(Envelope):
    """Retained on ``up/status``; the will message is the same with ``state='offline'``."""

    state: Literal["online", "offline"]
    version: str = Field(max_length=64)


class CameraHealth(WireModel):
    camera: WireId
    recording: bool
    last_segment_age_s: float | None = None
    faults: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)


class HealthMessage(Envelope):
    """Periodic device health on ``up/health``."""

    cameras: list[CameraHealth] = Field(default_factory=list, max_length=64)
    disk_used_bytes: int = Field(ge=0)
    disk_quota_bytes: int = Field(ge=0)
    backlog_items: int = Field(ge=0)
    backlog_bytes: int = Field(ge=0)
    temperature_c: float | None = None


class EventMessage(Sequenced):
    """One site event on ``up/event``; ``id`` is a ULID made on the edge."""

    id: WireId
    kind: EventKind
    occurred_at: AwareDatetime
    camera: WireId | None = None
    source: Annotated[str, Field(max_length=64)] | None = None
    data: dict[Annotated[str, Field(max_length=64)], ScalarValue] = Field(
        default_factory=dict, max_length=64
    )


class FileInit(Sequenced):
    """Announces a file on ``up/file/{file_id}/init``."""

    file_id: WireId
    name: SafeName
    size: int = Field(ge=1, le=8 * 1024**3)
    sha256: Sha256Hex
    kind: FileKind
    camera: WireId
    start: AwareDatetime
    end: AwareDatetime
    event_ids: list[WireId] = Field(default_factory=list, max_length=256)
    chunk_size: int = Field(ge=1024, le=MAX_CHUNK_BYTES)
    content_type: Literal["video/mp4"] = "video/mp4"
    # The signed manifest text (``wire.manifest``) and its base64 Ed25519 signature.
    manifest: Annotated[str, Field(max_length=16 * 1024)] | None = None
    signature: Annotated[str, Field(max_length=256)] | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> FileInit:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).total_seconds() > MAX_CLIP_SECONDS:
            raise ValueError(f"a clip spans at most {MAX_CLIP_SECONDS} s")
        return self


class FileFin(WireModel):
    """Closes a transfer on ``up/file/{file_id}/fin``."""

    file_id: WireId
    size: int = Field(ge=1)
    sha256: Sha256Hex


ByteRange = tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]


class FileAck(WireModel):
    """What central holds of one file: half-open byte ranges, and whether it is complete."""

    file_id: WireId
    ranges: list[ByteRange] = Field(default_factory=list, max_length=4096)
    complete: bool = False
    error: Annotated[str, Field(max_length=500)] | None = None


class AckMessage(WireModel):
    """On ``down/ack``: what central has durably committed. The only proof of delivery."""

    sent_at: AwareDatetime
    events: list[WireId] = Field(default_factory=list, max_length=10_000)
    files: list[FileAck] = Field(default_factory=list, max_length=1_000)


class CommandMessage(WireModel):
    """On ``down/cmd``: a command with an id; the edge answers on ``up/cmd-result``.

    Executed once per id (a repeated id is answered again with the recorded result, which
    for an upload window whose cut failed later is that failure); refused after
    ``expires_at``. ``loading_start`` takes the optional
    args ``container_no`` (ISO 6346), ``vehicle_plate`` and ``seal_numbers`` (comma-separated);
    ``loading_end`` and ``config_refresh`` take none. ``upload_window`` takes ``camera``,
    ``start`` and ``end`` (ISO 8601 with UTC offset, at most 30 min apart) and an optional
    ``reason`` (≤ 200 characters); it is answered at once with ``data.file_id`` of the
    ``window`` file that follows. ``config_refresh`` answers with ``data.applied`` and
    ``data.restart`` (comma-separated config keys).
    """

    id: WireId
    kind: Literal["ping", "upload_window", "config_refresh", "loading_start", "loading_end"]
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    args: dict[Annotated[str, Field(max_length=64)], ScalarValue] = Field(
        default_factory=dict, max_length=64
    )


class CommandResult(Envelope):
    """On ``up/cmd-result``."""

    id: WireId
    ok: bool
    detail: Annotated[str, Field(max_length=2000)] = ""
    data: dict[Annotated[str, Field(max_length=64)], ScalarValue] = Field(default_factory=dict)
