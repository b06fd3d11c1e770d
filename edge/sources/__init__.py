"""Camera sources behind one small interface (``base.Source``), one module each.

- ``config``    the camera models (a union discriminated on ``source``).
- ``base``      ``Source``/``Producer`` protocols, ``SourceInput``, a child-process producer.
- ``secrets``   credentials: read, put in a private ffconcat file, redact from messages.
- ``testsrc``   ffmpeg's lavfi test pattern (demo and CI).
- ``rtsp``      an RTSP URL read by the segmenter itself (TCP, socket timeout, stream copy).
- ``onvif``     ``GetStreamUri``/``GetSystemDateAndTime`` via onvif-zeep-async, then ``rtsp``.
- ``picamera2`` the Pi camera module (imported lazily), H.264 piped into the segmenter.
"""

from __future__ import annotations

from pathlib import Path

from edge.sources.base import Producer, Source, SourceInput
from edge.sources.config import (
    AnyCamera,
    OnvifCamera,
    Picamera2Camera,
    RtspCamera,
    TestsrcCamera,
)

__all__ = ["Producer", "Source", "SourceInput", "describe", "make_source"]


def make_source(camera: AnyCamera, runtime_dir: Path, check: bool = True) -> Source:
    """The source for ``camera``; ``runtime_dir`` is a private (0700) directory of its own.

    With ``check``, a source that cannot work on this machine (picamera2 off a Pi) raises
    ``ExternalProgramMissing`` now, so ``run`` fails at start with a clear message.
    """
    if isinstance(camera, TestsrcCamera):
        from edge.sources.testsrc import TestsrcSource

        return TestsrcSource(camera)
    if isinstance(camera, RtspCamera):
        from edge.sources.rtsp import RtspSource

        return RtspSource(camera, runtime_dir)
    if isinstance(camera, OnvifCamera):
        from edge.sources.onvif import OnvifSource

        return OnvifSource(camera, runtime_dir)
    if isinstance(camera, Picamera2Camera):
        from edge.sources.picamera2 import Picamera2Source, require_picamera2

        if check:
            require_picamera2()
        return Picamera2Source(camera)
    raise TypeError(f"unknown camera source {camera!r}")


def describe(camera: AnyCamera) -> str:
    """What ``camera`` records from, without credentials (no network, no checks)."""
    return make_source(camera, Path("/nonexistent"), check=False).describe()
