"""Response models of the public API (they make ``/openapi.json`` complete)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

Scalar = str | int | float | bool | None


class Problem(BaseModel):
    """Every error response: a human-readable ``detail``."""

    detail: str


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
