"""The README's demo: one command brings up broker, central and a site; a clip arrives in 60 s."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.procstat import descendants
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.slow


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()
            and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()}  # fmt: skip


def test_demo_shows_a_clip_within_a_minute_and_stops_cleanly(tmp_path: Path, ffmpeg: str) -> None:
    port = free_port()
    started = time.monotonic()
    children: set[int] = set()
    demo = subprocess.Popen(
        [str(Path(sys.executable).with_name("reeferwatch")), "demo",
         "--workdir", str(tmp_path / "demo"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        banner = ""
        while "Password:" not in banner:
            line = demo.stdout.readline()
            assert line, f"demo exited before printing its password:\n{banner}"
            banner += line
        password = re.search(r"Password:\s+(\S+)", banner)
        assert password and len(password.group(1)) >= 12, banner
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "admin", "password": password.group(1)}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def clips() -> list[object]:
            return list(httpx.get(f"{base}/api/v1/clips", headers=headers).json()["items"])

        found = wait_for(clips, 60 - (time.monotonic() - started), "a clip within 60 s of start")
        assert {clip["camera"] for clip in found} <= {"dock1", "dock2"}  # type: ignore[index]
        children = descendants(demo.pid)
        assert len(children) >= 5, "broker, ingest, central, edge and ffmpeg should be running"
        # the demo runs what production runs: TLS with client certificates, signed clips
        assert "tls=True" in (tmp_path / "demo" / "logs" / "edge.log").read_text()
        assert "require_certificate true" in (tmp_path / "demo" / "mosquitto.conf").read_text()
        assert all(clip["verified"] for clip in found)  # type: ignore[index]
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 0
    wait_for(lambda: not alive(children), 10, "every child of the demo to exit")
