"""Camera configuration: one model per source kind, a union discriminated on ``source``.

``source`` defaults to ``"testsrc"`` so the demo's and the tests' short tables keep working.
Passwords are ``SecretStr`` (never shown by ``repr``); ``password_file`` names a file whose
first line is the password (read when the recorder starts the camera, never logged).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from wire.topics import ID_PATTERN

SOURCE_KINDS = ("testsrc", "rtsp", "onvif", "picamera2")
CameraId = Annotated[str, Field(pattern=ID_PATTERN.pattern)]


class _Camera(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: CameraId


class _Credentials(BaseModel):
    """Optional username/password, the password inline or in a ``password_file``."""

    username: Annotated[str, Field(max_length=128)] | None = None
    password: SecretStr | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _one_password(self) -> Any:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password needs a username")
        return self


class TestsrcCamera(_Camera):
    """ffmpeg's lavfi test pattern encoded in real time: the demo and CI camera."""

    source: Literal["testsrc"] = "testsrc"
    width: int = Field(default=640, gt=0, le=7680)
    height: int = Field(default=360, gt=0, le=4320)
    fps: int = Field(default=15, gt=0, le=120)
    bitrate_kbps: int = Field(default=800, gt=0, le=100_000)


class RtspCamera(_Camera, _Credentials):
    """An RTSP URL recorded with stream copy; credentials go in username/password."""

    source: Literal["rtsp"]
    url: Annotated[str, Field(min_length=8, max_length=2048)]
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _plain_rtsp_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("rtsp", "rtsps"):
            raise ValueError("must start with rtsp:// or rtsps://")
        if not parts.hostname:
            raise ValueError("has no host")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials: use username and password")
        if "'" in url or "\n" in url:
            raise ValueError("must not contain quotes or newlines")
        return url


class OnvifCamera(_Camera, _Credentials):
    """An ONVIF camera: the RTSP URL is resolved with ``GetStreamUri`` at every start."""

    source: Literal["onvif"]
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: int = Field(default=80, ge=1, le=65535)
    profile: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class Picamera2Camera(_Camera):
    """The Raspberry Pi camera module through picamera2's H.264 encoder."""

    source: Literal["picamera2"]
    camera_num: int = Field(default=0, ge=0, le=7)
    width: int = Field(default=1280, gt=0, le=4608)
    height: int = Field(default=720, gt=0, le=2592)
    fps: int = Field(default=15, gt=0, le=120)
    bitrate_kbps: int = Field(default=2000, gt=0, le=50_000)


def _default_source(value: Any) -> Any:
    if isinstance(value, dict) and "source" not in value:
        return {**value, "source": "testsrc"}
    return value


CameraConfig = Annotated[
    Union[TestsrcCamera, RtspCamera, OnvifCamera, Picamera2Camera],  # noqa: UP007
    Field(discriminator="source"),
    BeforeValidator(_default_source),
]
AnyCamera = Union[TestsrcCamera, RtspCamera, OnvifCamera, Picamera2Camera]  # noqa: UP007
