"""``picamera2``: the Pi camera module, H.264-encoded in this process, piped to the segmenter.

picamera2 is imported lazily (it exists only on a Raspberry Pi, from apt
``python3-picamera2``). The Pi 4 has a hardware H.264 encoder (``H264Encoder``); the Pi 5 has
none, so there the software ``LibavH264Encoder`` is used. The elementary H.264 stream goes
into a pipe read by the one segmenter ffmpeg (``-f h264``), which copies it into segments.
Anything with the ``Producer`` interface can stand in for the camera (tests use a fake).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from edge.sources.base import Producer, SourceInput
from edge.sources.config import Picamera2Camera
from wire.errors import ExternalProgramMissing, MediaError

log = logging.getLogger(__name__)

ProducerFactory = Callable[[Picamera2Camera], Producer]
HW_ENCODER_DEVICE = Path("/dev/video11")


def require_picamera2() -> None:
    if importlib.util.find_spec("picamera2") is None:
        raise ExternalProgramMissing(
            "the picamera2 source needs the picamera2 module (on Raspberry Pi OS: "
            "apt install python3-picamera2); it cannot run on this machine"
        )


class Picamera2Producer:
    """The real camera: picamera2 writes H.264 into the pipe from its own threads."""

    def __init__(self, camera: Picamera2Camera) -> None:
        self.camera = camera
        self._picam: Any = None
        self._out: IO[bytes] | None = None
        self._error: str | None = None

    def start(self, stdout: int, stderr: int) -> None:
        try:
            from picamera2 import Picamera2
            from picamera2.encoders import H264Encoder, LibavH264Encoder
            from picamera2.outputs import FileOutput
        except ImportError as exc:
            os.close(stdout)
            raise ExternalProgramMissing(f"picamera2 is not importable ({exc})") from exc
        cam = self.camera
        self._out = os.fdopen(stdout, "wb", buffering=0)
        try:
            picam = Picamera2(cam.camera_num)
            config = picam.create_video_configuration(
                main={"size": (cam.width, cam.height)}, controls={"FrameRate": cam.fps}
            )
            picam.configure(config)
            bitrate = cam.bitrate_kbps * 1000
            # Pi 5: no hardware encoder → software x264 through libav.
            hardware = HW_ENCODER_DEVICE.exists()
            encoder_class = H264Encoder if hardware else LibavH264Encoder
            encoder = encoder_class(bitrate=bitrate, repeat=True, iperiod=cam.fps)
            picam.start_recording(encoder, FileOutput(self._out))
        except (RuntimeError, OSError, ValueError) as exc:
            self._error = str(exc)
            self.stop()
            raise MediaError(f"camera {cam.id}: picamera2 failed to start ({exc})") from exc
        self._picam = picam
        log.info("camera %s: picamera2 %s encoder", cam.id, "hardware" if hardware else "software")

    def running(self) -> bool:
        return self._picam is not None and self._error is None

    def exit_note(self) -> str:
        return f"picamera2 {self._error or 'stopped'}"

    def pids(self) -> list[int]:
        return []

    def stop(self) -> None:
        picam, self._picam = self._picam, None
        if picam is not None:
            try:
                picam.stop_recording()
            finally:
                picam.close()
        if self._out is not None:
            self._out.close()
            self._out = None


class Picamera2Source:
    kind = "picamera2"

    def __init__(
        self, camera: Picamera2Camera, producer_factory: ProducerFactory | None = None
    ) -> None:
        self.camera = camera
        self.producer_factory: ProducerFactory = producer_factory or Picamera2Producer

    def describe(self) -> str:
        cam = self.camera
        return f"picamera2 #{cam.camera_num} {cam.width}x{cam.height}@{cam.fps}"

    def prepare(self) -> SourceInput:
        cam = self.camera
        args = ["-f", "h264", "-framerate", str(cam.fps), "-i", "pipe:0"]
        return SourceInput(args=args, producer=self.producer_factory(cam))

    def reachable(self) -> bool | None:
        return None
