"""``rtsp``: an RTSP URL recorded by the segmenter ffmpeg itself, with stream copy.

RTSP over TCP with a socket timeout (``timeout``, µs, ffmpeg 5+) so a dead peer ends ffmpeg
within seconds. The URL with its credentials reaches ffmpeg through a private ffconcat file
(``edge.sources.secrets``), never through the command line.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from edge.sources.base import SourceInput, tcp_reachable
from edge.sources.config import RtspCamera
from edge.sources.secrets import (
    ffconcat_input,
    read_password,
    secret_forms,
    strip_credentials,
    with_credentials,
)

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}


def rtsp_input(
    runtime_dir: Path, url: str, username: str | None, password: str | None, timeout_s: float
) -> SourceInput:
    """Segmenter input args that read ``url`` over TCP via a private ffconcat file."""
    full = with_credentials(url, username, password)
    options = {"rtsp_transport": "tcp", "timeout": str(int(timeout_s * 1_000_000))}
    args = ffconcat_input(runtime_dir / "source.ffconcat", full, options)
    return SourceInput(
        args=args,
        secrets=secret_forms(password, full),
        info={"url": strip_credentials(url)},
    )


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 554)


class RtspSource:
    kind = "rtsp"

    def __init__(self, camera: RtspCamera, runtime_dir: Path) -> None:
        self.camera = camera
        self.runtime_dir = runtime_dir

    def describe(self) -> str:
        user = f" as {self.camera.username}" if self.camera.username else ""
        return f"rtsp {strip_credentials(self.camera.url)}{user}"

    def prepare(self) -> SourceInput:
        cam = self.camera
        password = read_password(cam.password, cam.password_file)
        return rtsp_input(self.runtime_dir, cam.url, cam.username, password, cam.timeout_s)

    def reachable(self) -> bool | None:
        return tcp_reachable(*host_port(self.camera.url))
