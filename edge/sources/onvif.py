"""``onvif``: resolve the RTSP URL with ONVIF (onvif-zeep-async), then record it as ``rtsp``.

Every (re)start asks the camera again (``GetProfiles``, ``GetStreamUri`` for RTP-Unicast over
RTSP; cameras change URLs) and reads its clock (``GetSystemDateAndTime``) to report the
drift against ours. Replies that do not parse (ipycam has such bugs) are tolerated where a
fallback exists: no clock reply → drift unknown; no profile list → the configured token.
The password stays in this process (WS-Security digest) and in the private ffconcat file.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.sources.base import SourceInput, tcp_reachable
from edge.sources.config import OnvifCamera
from edge.sources.rtsp import rtsp_input
from edge.sources.secrets import read_password, redact, secret_forms, strip_credentials
from wire.errors import ExternalProgramMissing, MediaError

log = logging.getLogger(__name__)


def _onvif_errors() -> tuple[type[BaseException], ...]:
    """Errors a misbehaving camera or network can cause in onvif-zeep-async and below."""
    import aiohttp
    import zeep.exceptions
    from lxml import etree
    from onvif.exceptions import ONVIFError

    return (
        ONVIFError,
        zeep.exceptions.Error,
        etree.LxmlError,
        aiohttp.ClientError,
        asyncio.TimeoutError,
        OSError,
        AttributeError,
        KeyError,
        TypeError,
        ValueError,
    )


def _camera_utc(reply: Any) -> datetime:
    utc = reply.UTCDateTime
    d, t = utc.Date, utc.Time
    return datetime(d.Year, d.Month, d.Day, t.Hour, t.Minute, t.Second, tzinfo=timezone.utc)


class OnvifSource:
    kind = "onvif"

    def __init__(self, camera: OnvifCamera, runtime_dir: Path) -> None:
        self.camera = camera
        self.runtime_dir = runtime_dir
        self.stream_url: str | None = None
        self.clock_drift_s: float | None = None

    def describe(self) -> str:
        cam = self.camera
        user = f" as {cam.username}" if cam.username else ""
        resolved = f" → {strip_credentials(self.stream_url)}" if self.stream_url else ""
        return f"onvif {cam.host}:{cam.port}{user}{resolved}"

    def reachable(self) -> bool | None:
        return tcp_reachable(self.camera.host, self.camera.port)

    def prepare(self) -> SourceInput:
        cam = self.camera
        password = read_password(cam.password, cam.password_file)
        url = self.resolve(password)
        source = rtsp_input(self.runtime_dir, url, cam.username, password, cam.timeout_s)
        source.info["clock_drift_s"] = self.clock_drift_s
        return source

    def resolve(self, password: str | None) -> str:
        """Ask the camera for its stream URL (and clock); ``MediaError`` if it cannot."""
        try:
            import onvif  # noqa: F401  (onvif-zeep-async)
        except ImportError as exc:
            raise ExternalProgramMissing(
                "the onvif source needs onvif-zeep-async (pip install 'reeferwatch[edge]')"
            ) from exc
        errors = _onvif_errors()
        budget = self.camera.timeout_s * 3
        try:
            url = asyncio.run(asyncio.wait_for(self._resolve(password, errors), budget))
        except errors as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", secret_forms(password))
            raise MediaError(
                f"camera {self.camera.id}: ONVIF at {self.camera.host}:{self.camera.port} "
                f"did not give a stream URL ({detail})"
            ) from exc
        self.stream_url = strip_credentials(url)
        drift = "unknown" if self.clock_drift_s is None else f"{self.clock_drift_s:+.1f} s"
        log.info(
            "camera %s: ONVIF stream %s, camera clock drift %s",
            self.camera.id,
            self.stream_url,
            drift,
        )
        return self.stream_url

    async def _resolve(self, password: str | None, errors: tuple[type[BaseException], ...]) -> str:
        from onvif import ONVIFCamera

        cam = self.camera
        client = ONVIFCamera(cam.host, cam.port, cam.username, password)
        try:
            await client.update_xaddrs()
            self.clock_drift_s = await self._drift(client, errors)
            media = await client.create_media_service()
            token = cam.profile
            try:
                profiles = await media.GetProfiles()
                tokens = [p.token for p in profiles]
                if token is None or token not in tokens:
                    if token is not None:
                        log.warning("camera %s: no ONVIF profile %r", cam.id, token)
                    token = tokens[0]
            except errors as exc:
                if token is None:
                    raise
                log.warning("camera %s: GetProfiles failed (%s); using %s", cam.id, exc, token)
            request = media.create_type("GetStreamUri")
            request.ProfileToken = token
            request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            reply = await media.GetStreamUri(request)
            return str(reply.Uri)
        finally:
            await client.close()

    async def _drift(self, client: Any, errors: tuple[type[BaseException], ...]) -> float | None:
        """Camera clock minus ours, in seconds (None when the reply is unusable)."""
        try:
            device = await client.create_devicemgmt_service()
            before = time.time()
            reply = await device.GetSystemDateAndTime()
            after = time.time()
            return round(_camera_utc(reply).timestamp() - (before + after) / 2, 1)
        except errors as exc:
            log.warning("camera %s: camera clock unknown (%s)", self.camera.id, exc)
            return None
