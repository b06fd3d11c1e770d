"""Response models of the public API (they make ``/openapi.json`` complete)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

Scalar = str | int | float | bool | None


def plain_text(value: str) -> str:
    """Free text an inspector types (a reason): trimmed, not blank, no NUL, and encodable
    (a lone surrogate would fail the database and the audit line)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


class Problem(BaseModel):
    """Every error response: a human-readable ``detail``."""

    detail: str


# The refusals of an admin's change: monitor, beyond the scope, conflict, bad body.
ADMIN_WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (403, 404, 409, 422)
}


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str = Field(description="for POST /auth/refresh; good for one use only")
    refresh_expires_in: int = Field(description="seconds until the session ends")
    session_id: str
    terminal: str | None = Field(default=None, description="the registered terminal signed in from")


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime = Field(description="updated at most once a minute")
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    state: str = Field(description="live | revoked | expired")
    client: str = Field(description="the address it signed in from")
    terminal: str | None
    current: bool = Field(description="the session of the token making this request")


class EventOut(BaseModel):
    id: str
    site: str
    device: str
    seq: int
    kind: str
    occurred_at: datetime = Field(description="as the edge recorded it, with its offset")
    camera: str | None
    source: str | None
    data: dict[str, Scalar]
    clock_synced: bool
    received_at: datetime


class ClipOut(BaseModel):
    id: str
    site: str
    device: str
    camera: str
    kind: str
    name: str
    size: int
    sha256: str
    start: datetime
    end: datetime
    event_ids: list[str]
    verified: bool
    received_at: datetime
    video_url: str
    retention_class: str = Field(description="standard | anomaly | evidence (docs/central.md)")
    retain_until: datetime | None = Field(
        description="may be deleted after this unless on hold; null: kept for good"
    )
    hold: bool = Field(description="on legal hold: never deleted")
    hold_reason: str | None


class MediaLinkOut(BaseModel):
    url: str = Field(description="streams the clip without an Authorization header")
    expires_at: datetime


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class ClipPage(BaseModel):
    items: list[ClipOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class HealthOut(BaseModel):
    status: str


class LoadingSessionOut(BaseModel):
    """One container loaded at a site (regulation Annex 1), from its loading events."""

    id: str
    site: str
    device: str
    container_no: str | None = Field(description="ISO 6346, as entered at the site")
    vehicle_plate: str | None
    seal_numbers: list[str]
    started_at: datetime = Field(description="in the site's UTC offset")
    ended_at: datetime | None = Field(description="null while loading goes on")
    duration_s: float | None
    start_event_id: str | None
    end_event_id: str | None


class LoadingSessionPage(BaseModel):
    items: list[LoadingSessionOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class LoadingSessionDetail(LoadingSessionOut):
    clips: list[ClipOut] = Field(description="the session's clips the caller may see")


class UploadRequestIn(BaseModel):
    """Ask a site's box for a recorded window of one camera (historical playback)."""

    camera: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    start: AwareDatetime
    end: AwareDatetime = Field(description="at most 30 minutes after start")
    reason: Annotated[str, AfterValidator(plain_text)] | None = Field(default=None, max_length=200)
    device: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="the box of the site to ask (a device of /devices); default: the one "
        "heard from last",
    )  # fmt: skip


class UploadRequestOut(BaseModel):
    id: str
    site: str
    device: str
    camera: str | None
    start: datetime | None
    end: datetime | None
    reason: str | None
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    status: str = Field(
        description="queued | sent | accepted (the box cuts and uploads it) | delivered "
        "(the clip is here: see clip) | failed | expired"
    )
    detail: str | None = Field(description="the box's answer")
    file_id: str | None = Field(description="the id the window's clip will have")
    clip: ClipOut | None = Field(default=None, description="once it has arrived and verified")


class UploadRequestPage(BaseModel):
    items: list[UploadRequestOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
