"""The ``reeferwatch-edge`` CLI as processes: run + trigger --wait + status, clean shutdown,
and no ffmpeg child outlives a killed ``run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import load_config
from edge.store import Store
from tests.helpers import Broker, wait_for

pytestmark = pytest.mark.slow

CONFIG = """
[site]
id = "site01"
device = "edge01"
location_code = "370200-QD-01"
[storage]
data_dir = "data"
[mqtt]
host = "127.0.0.1"
port = {port}
[recording]
segment_seconds = 2
[[cameras]]
id = "cam1"
width = 320
height = 240
fps = 10
[[cameras]]
id = "cam2"
width = 320
height = 240
fps = 10
[clips]
pre_seconds = 1
post_seconds = 1
[gpio]
backend = "mock"
[[gpio.inputs]]
name = "line1_md"
pin = 17
kind = "metal_detector_reject"
[gpio.simulation]
pulse_input = "line1_md"
every_seconds = 2
"""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge.cli", *args]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def edge(tmp_path: Path, broker: Broker, ffmpeg: str) -> Iterator[tuple[Path, subprocess.Popen]]:
    config = tmp_path / "edge.toml"
    config.write_text(CONFIG.format(port=broker.port))
    log = (tmp_path / "edge.log").open("ab")
    proc = subprocess.Popen(cli("run", "--config", str(config)), stdout=log, stderr=log)
    yield config, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    log.close()


def ffmpeg_children(pid: int) -> list[int]:
    return [c for c in children_of(pid) if "ffmpeg" in cmdline(c)]


def test_run_trigger_status_and_clean_sigterm(edge: tuple[Path, subprocess.Popen]) -> None:
    config_path, proc = edge
    config = load_config(config_path)
    wait_for(lambda: len(ffmpeg_children(proc.pid)) == 4, 20, "two ffmpeg pairs")
    with Store(config.db_path) as store:
        wait_for(lambda: store.last_segment("cam1") and store.last_segment("cam2"), 30,
                 "segments from both cameras")  # fmt: skip
    done = subprocess.run(
        cli("trigger", "--config", str(config_path), "mark", "--camera", "cam2", "--wait", "30"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[0] == "event" and lines[2] == "clip" and len(lines) == 4
    event_id, file_id = lines[1], lines[3]
    with Store(config.db_path) as store:
        clip = store.clip(file_id)
        assert clip is not None and clip.event_id == event_id and clip.camera == "cam2"
        assert store.outbox_item("file", file_id) is not None
        # the simulated metal detector (mock pin pulsed every 2 s) made events with clips
        # for both cameras
        wait_for(lambda: any(
            len(store.clips_for_event(e.id)) == 2
            for e in store.events_with_clip_state("cut")
            if e.kind == "metal_detector_reject"
        ), 30, "a simulated GPIO event with a clip per camera")  # fmt: skip
    status = subprocess.run(
        cli("status", "--config", str(config_path), "--json"),
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    report = json.loads(status.stdout)
    assert [c["camera"] for c in report["cameras"]] == ["cam1", "cam2"]
    assert all(c["last_segment_age_s"] < 10 for c in report["cameras"])
    assert report["backlog_items"] >= 2 and report["backlog_bytes"] >= clip.size
    kids = ffmpeg_children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    wait_for(lambda: not any(alive(k) for k in kids), 10, "ffmpeg children to exit")
    assert not list((config.data_dir / "work" / "cam1").glob("*.mp4"))  # last segment indexed


def test_killed_run_leaves_no_ffmpeg_children(edge: tuple[Path, subprocess.Popen]) -> None:
    _, proc = edge
    kids = wait_for(
        lambda: k if len(k := ffmpeg_children(proc.pid)) == 4 else None, 20, "ffmpeg children"
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    wait_for(lambda: not any(alive(k) for k in kids), 10, "orphaned ffmpeg children to die")


def test_trigger_wait_times_out_without_run(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(CONFIG.format(port=1))
    done = subprocess.run(
        cli("trigger", "--config", str(config), "seal_broken", "--wait", "1"),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 3
    assert "timed out" in done.stderr
    bad = subprocess.run(
        cli("trigger", "--config", str(config), "mark", "--camera", "nope"),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 2 and "nope" in bad.stderr
