"""``testsrc``: ffmpeg's lavfi test pattern encoded in real time (the demo and CI camera).

An ffmpeg encoder writes MPEG-TS into the segmenter's stdin; the segmenter copies it.
"""

from __future__ import annotations

from edge.ffmpeg import MPEGTS_STDIN, binary
from edge.sources.base import CommandProducer, SourceInput
from edge.sources.config import TestsrcCamera


def testsrc_command(width: int, height: int, fps: int, bitrate_kbps: int) -> list[str]:
    """lavfi testsrc2 encoded in real time to MPEG-TS on stdout."""
    return [
        binary("ffmpeg"),
        "-hide_banner",
        "-loglevel", "error",
        "-nostdin",
        "-re",
        "-f", "lavfi",
        "-i", f"testsrc2=size={width}x{height}:rate={fps}",
        "-an",
        "-c:v", "libx264",
        "-preset", "ultrafast",
        "-tune", "zerolatency",
        "-pix_fmt", "yuv420p",
        "-b:v", f"{bitrate_kbps}k",
        "-maxrate", f"{bitrate_kbps}k",
        "-bufsize", f"{bitrate_kbps * 2}k",
        "-g", str(fps),
        "-keyint_min", str(fps),
        "-sc_threshold", "0",
        "-f", "mpegts",
        "pipe:1",
    ]  # fmt: skip


class TestsrcSource:
    kind = "testsrc"

    def __init__(self, camera: TestsrcCamera) -> None:
        self.camera = camera

    def describe(self) -> str:
        cam = self.camera
        return f"testsrc {cam.width}x{cam.height}@{cam.fps} {cam.bitrate_kbps} kbit/s"

    def prepare(self) -> SourceInput:
        cam = self.camera
        argv = testsrc_command(cam.width, cam.height, cam.fps, cam.bitrate_kbps)
        return SourceInput(args=list(MPEGTS_STDIN), producer=CommandProducer(argv))

    def reachable(self) -> bool | None:
        return None
