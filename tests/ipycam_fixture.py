"""ipycam (PyPI) as a real ONVIF + RTSP camera for the tests, run as a subprocess.

go2rtc is not installed here, so ipycam serves RTSP with its native Python server (it finds
no go2rtc on the API port we give it). Frames are generated (a moving bar) at 320x240, 10 fps.
Run directly: ``python -m tests.ipycam_fixture ONVIF_PORT RTSP_PORT API_PORT [PASSWORD]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port, wait_port


@dataclass
class IpyCam:
    """A virtual camera we own: ``start()``/``stop()`` it any number of times."""

    workdir: Path
    password: str | None = None
    username: str = "admin"
    onvif_port: int = field(default_factory=free_port)
    rtsp_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def rtsp_url(self) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}/video_main"

    def start(self, timeout: float = 20.0) -> None:
        argv = [sys.executable, "-m", "tests.ipycam_fixture", str(self.onvif_port),
                str(self.rtsp_port), str(self.api_port)]  # fmt: skip
        env = dict(os.environ)
        if self.password:
            env["IPYCAM_TEST_PASSWORD"] = self.password  # not on the command line
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "ipycam.log").open("ab")
        self.process = subprocess.Popen(
            argv, cwd=Path(__file__).resolve().parent.parent, env=env,
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_port(self.onvif_port, timeout)
        wait_port(self.rtsp_port, timeout)

    def stop(self) -> None:
        """Kill the camera and its encoder children (its whole process group)."""
        proc = self.process
        if proc is None:
            return
        # the group too: ipycam's per-client encoder children must not outlive it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.process = None


def _serve(onvif_port: int, rtsp_port: int, api_port: int) -> None:  # pragma: no cover
    import logging

    import numpy as np
    from ipycam import CameraConfig, IPCamera, configure_logging

    configure_logging(level=logging.INFO)
    config = CameraConfig(
        local_ip="127.0.0.1", onvif_port=onvif_port, rtsp_port=rtsp_port,
        go2rtc_api_port=api_port, main_width=320, main_height=240, main_fps=10,
        main_bitrate="300K", sub_width=160, sub_height=120, sub_fps=10, sub_bitrate="100K",
        hw_accel="cpu",
    )  # fmt: skip
    password = os.environ.pop("IPYCAM_TEST_PASSWORD", "")
    if password:
        config.username, config.password = "admin", password
    camera = IPCamera(config)
    if not camera.start():
        raise SystemExit("ipycam failed to start")
    i = 0
    while camera.is_running:
        frame = np.zeros((240, 320, 3), np.uint8)
        frame[:, (i * 4) % 320] = 255
        frame[:, :, 1] = i % 256
        camera.stream(frame)
        i += 1


if __name__ == "__main__":  # pragma: no cover
    _serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
