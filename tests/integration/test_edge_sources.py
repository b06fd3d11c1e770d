"""Camera sources against real peers: ipycam (ONVIF + RTSP) and the picamera2 plumbing.

ipycam is stopped mid-recording (offline fault within 15 s), restarted (recording resumes
within 10 s of the camera being reachable) and the index shows an honest gap. The camera's
password never shows in any process's command line or in the logs.
"""

from __future__ import annotations

import logging
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from edge.clips import cut_window
from edge.config import EdgeConfig, load_config
from edge.faults import Faults
from edge.ffmpeg import binary, probe
from edge.gaps import gaps
from edge.recorder import CameraRecorder, Recorder
from edge.sources.base import CommandProducer
from edge.sources.config import Picamera2Camera
from edge.sources.picamera2 import Picamera2Source
from edge.store import Store
from tests.helpers import wait_for
from tests.ipycam_fixture import IpyCam

pytestmark = pytest.mark.slow

PASSWORD = "Pw-9f3#kq!x"


def config_for(tmp_path: Path, camera: str) -> EdgeConfig:
    path = tmp_path / "edge.toml"
    path.write_text(
        f"""
[site]
id = "site01"
device = "edge01"
location_code = "370200-QD-01"
[storage]
data_dir = "data"
[recording]
segment_seconds = 2
[[cameras]]
{camera}
"""
    )
    return load_config(path)


def all_cmdlines() -> str:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return "\n".join(found)


@pytest.fixture
def ipycam(tmp_path: Path, ffmpeg: str) -> Iterator[IpyCam]:
    pytest.importorskip("ipycam")
    pytest.importorskip("onvif")
    cam = IpyCam(tmp_path / "ipycam", password=PASSWORD)
    cam.start()
    yield cam
    cam.stop()


def events(store: Store, kind: str) -> list:
    return [e for e in store.events_with_clip_state("pending", 1000) if e.kind == kind] + [
        e for e in store.events_with_clip_state("none", 1000) if e.kind == kind
    ]


def test_onvif_camera_outage_fault_resume_and_honest_gap(
    ipycam: IpyCam, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = config_for(
        tmp_path,
        f'id = "cam1"\nsource = "onvif"\nhost = "127.0.0.1"\nport = {ipycam.onvif_port}\n'
        f'username = "admin"\npassword = "{PASSWORD}"\ntimeout_s = 4',
    )
    with Store(config.db_path) as store, Recorder(config, store) as recorder:
        recorder.start()
        cam = recorder.cameras[0]
        wait_for(lambda: len(store.segments("cam1")) >= 2, 40, "two segments from ipycam")
        # stream copy from the resolved RTSP URL, read through a private ffconcat file
        cmd = cam.segmenter_command
        assert cmd[cmd.index("-c") + 1] == "copy" and "libx264" not in cmd
        assert cmd[cmd.index("-f") + 1] == "concat"
        concat = Path(cmd[cmd.index("-i") + 1])
        assert stat.S_IMODE(concat.stat().st_mode) == 0o600
        assert stat.S_IMODE(concat.parent.stat().st_mode) == 0o700
        assert PASSWORD not in all_cmdlines()
        status = cam.status()
        assert "onvif 127.0.0.1" in status.source and "video_main" in status.source
        assert status.clock_drift_s is not None and abs(status.clock_drift_s) < 5
        for seg in store.segments("cam1")[:2]:
            info = probe(seg.path)
            assert info.video_codec == "h264"
            stamped = datetime.fromisoformat(info.tags["creation_time"].replace("Z", "+00:00"))
            assert abs((stamped - seg.start).total_seconds()) < 0.01

        before = store.last_segment("cam1")
        assert before is not None
        # faults from before the outage (a stall under load, say) do not count
        earlier = {e.id for e in events(store, "camera_fault") + events(store, "fault_cleared")}
        ipycam.stop()
        stopped = time.monotonic()
        fault = wait_for(
            lambda: [e for e in events(store, "camera_fault") if e.id not in earlier], 15,
            "an offline fault",
        )  # fmt: skip
        assert fault[0].data["fault"] == "offline" and fault[0].camera == "cam1"
        assert time.monotonic() - stopped <= 15
        assert Faults(store).is_active("cam1", "offline")
        time.sleep(3)  # the camera stays away for a while (its outage, not a poll)
        ipycam.start()
        reachable = time.monotonic()
        work = config.data_dir / "work" / "cam1"
        wait_for(lambda: any(p.stat().st_size > 0 for p in work.glob("*.mp4")), 10,
                 "recording to resume within 10 s of the camera being reachable")  # fmt: skip
        resumed = time.monotonic() - reachable
        after = wait_for(
            lambda: [s for s in store.segments("cam1") if s.start > before.end][-1:], 20,
            "a segment after the outage",
        )[0]  # fmt: skip
        wait_for(
            lambda: [e for e in events(store, "fault_cleared") if e.id not in earlier], 10,
            "the fault to clear",
        )  # fmt: skip
        holes = [g for g in gaps(store, "cam1") if g.reason == "offline"]
        assert holes, gaps(store, "cam1")
        assert holes[0].start >= before.end - (before.end - before.start)
        assert holes[0].end <= after.start
        assert (holes[0].end - holes[0].start).total_seconds() >= 3
        assert resumed <= 10
        # a window over the outage is cut from what exists and names the gap inside it
        window = cut_window(store, "cam1", before.start, after.end, tmp_path / "w.mp4", {})
        assert window.segments >= 2
        assert any(abs((a - holes[0].start).total_seconds()) < 0.6
                   and abs((b - holes[0].end).total_seconds()) < 0.6
                   for a, b in window.gaps), window.gaps  # fmt: skip
    logs = caplog.text + (work / "ffmpeg.log").read_text(errors="replace")
    assert PASSWORD not in logs
    assert "Pw-9f3%23kq%21x" not in logs


def test_rtsp_source_with_password_file_keeps_it_out_of_sight(
    ipycam: IpyCam, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "cam1.pass").write_text(PASSWORD + "\n")
    config = config_for(
        tmp_path,
        f'id = "cam1"\nsource = "rtsp"\nurl = "{ipycam.rtsp_url}"\n'
        'username = "admin"\npassword_file = "cam1.pass"',
    )
    with Store(config.db_path) as store, Recorder(config, store) as recorder:
        recorder.start()
        wait_for(lambda: store.segments("cam1"), 30, "a segment over RTSP")
        assert PASSWORD not in all_cmdlines()
        assert recorder.cameras[0].status().source == f"rtsp {ipycam.rtsp_url} as admin"
    assert PASSWORD not in caplog.text


def fake_picamera(camera: Picamera2Camera) -> CommandProducer:
    """Stands in for the Pi camera: an H.264 elementary stream, as picamera2 writes it."""
    return CommandProducer([
        binary("ffmpeg"), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={camera.width}x{camera.height}:rate={camera.fps}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(camera.fps),
        "-pix_fmt", "yuv420p", "-f", "h264", "pipe:1",
    ])  # fmt: skip


def test_picamera2_adapter_feeds_the_segmenter(tmp_path: Path, ffmpeg: str) -> None:
    config = config_for(
        tmp_path, 'id = "pi"\nsource = "picamera2"\nwidth = 320\nheight = 240\nfps = 10'
    )
    camera = config.cameras[0]
    assert isinstance(camera, Picamera2Camera)
    source = Picamera2Source(camera, producer_factory=fake_picamera)
    with (
        Store(config.db_path) as store,
        CameraRecorder(config, camera, store, source=source) as recorder,
    ):
        recorder.start()
        segments = wait_for(lambda: s if len(s := store.segments("pi")) >= 2 else None, 30,
                            "segments from the picamera2 pipe")  # fmt: skip
        cmd = recorder.segmenter_command
        assert cmd[cmd.index("-f") + 1] == "h264" and cmd[cmd.index("-c") + 1] == "copy"
        assert probe(segments[1].path).video_codec == "h264"
        assert 1.5 <= segments[1].duration <= 2.6
