"""Recorder and clips against real ffmpeg: segments, hashes, stream copy, faststart cuts."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from edge.clips import clip_name, cut_window
from edge.clipworker import ClipWorker
from edge.config import EdgeConfig, load_config
from edge.events import record_event
from edge.ffmpeg import probe
from edge.recorder import Recorder
from edge.store import Store
from edge.timeutil import now
from tests.helpers import wait_for
from wire.errors import NotCoveredError

pytestmark = pytest.mark.slow

NAME = re.compile(r"^site01_cam1_\d{8}T\d{6}[+-]\d{4}\.mp4$")


def edge_config(tmp_path: Path, pre: float = 2, post: float = 2) -> EdgeConfig:
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
id = "cam1"
width = 320
height = 240
fps = 10
bitrate_kbps = 600
[clips]
pre_seconds = {pre}
post_seconds = {post}
"""
    )
    return load_config(path)


@pytest.fixture
def recording(tmp_path: Path, ffmpeg: str) -> Iterator[tuple[EdgeConfig, Store, Recorder]]:
    config = edge_config(tmp_path)
    with Store(config.db_path) as store, Recorder(config, store) as recorder:
        recorder.start()
        yield config, store, recorder


def ffprobe_stream(path: Path) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_segments_are_valid_named_hashed_and_stream_copied(
    recording: tuple[EdgeConfig, Store, Recorder],
) -> None:
    config, store, recorder = recording
    segments = wait_for(lambda: store.segments("cam1")[:3] if len(store.segments("cam1")) >= 3
                        else None, 30, "three indexed segments")  # fmt: skip
    cam = recorder.cameras[0]
    assert "-c" in cam.segmenter_command
    assert cam.segmenter_command[cam.segmenter_command.index("-c") + 1] == "copy"
    assert "libx264" not in cam.segmenter_command
    for seg in segments:
        assert NAME.match(seg.path.name), seg.path.name
        assert seg.path.parent == config.data_dir / "segments" / "cam1" / seg.start.strftime(
            "%Y-%m-%d"
        )
        assert hashlib.sha256(seg.path.read_bytes()).hexdigest() == seg.sha256
        assert seg.bytes == seg.path.stat().st_size
        info = probe(seg.path)
        assert info.video_codec == "h264"
        assert abs(info.duration - seg.duration) < 0.05
        assert info.tags.get("location_code") == "370200-QD-01"
        assert info.tags.get("site") == "site01" and info.tags.get("camera") == "cam1"
        assert ffprobe_stream(seg.path) == "h264"
    # after the first (partial) segment, segments are ~segment_seconds long and contiguous
    for earlier, later in zip(segments[1:], segments[2:], strict=False):
        assert 1.5 <= later.duration <= 2.6
        assert abs((later.start - earlier.end).total_seconds()) < 0.5


def test_clip_cut_has_window_duration_metadata_and_faststart(
    recording: tuple[EdgeConfig, Store, Recorder], tmp_path: Path
) -> None:
    config, store, _ = recording
    wait_for(lambda: len(store.segments("cam1")) >= 2, 30, "two segments")
    t = now()
    start, end = t - timedelta(seconds=2), t + timedelta(seconds=3)
    wait_for(lambda: (s := store.last_segment("cam1")) and s.end >= end, 30, "window recorded")
    out = tmp_path / "clips" / clip_name("site01", "cam1", start, "EVT1")
    result = cut_window(store, "cam1", start, end, out, {"site": "site01", "camera": "cam1"})
    assert result.gaps == [] and result.path == out
    info = probe(out)
    assert abs(info.duration - 5.0) <= config.recording.segment_seconds
    assert info.video_codec == "h264"
    assert info.tags["site"] == "site01"
    assert info.tags["creation_time"].startswith(start.astimezone().strftime("%Y-%m-%dT%H:%M"))
    data = out.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "moov must precede mdat (+faststart)"
    assert not list(out.parent.glob("*.part")) and not list(out.parent.glob("*.ffconcat"))


def test_uncovered_window_raises_and_partial_window_reports_gap(
    recording: tuple[EdgeConfig, Store, Recorder], tmp_path: Path
) -> None:
    _, store, _ = recording
    wait_for(lambda: len(store.segments("cam1")) >= 2, 30, "two segments")
    long_ago = now() - timedelta(hours=1)
    with pytest.raises(NotCoveredError):
        cut_window(store, "cam1", long_ago, long_ago + timedelta(seconds=5), tmp_path / "x.mp4", {})
    first = store.segments("cam1")[0]
    start = first.start - timedelta(seconds=5)
    result = cut_window(store, "cam1", start, first.end, tmp_path / "gap.mp4", {})
    assert len(result.gaps) == 1
    assert result.gaps[0][0] == start
    assert abs((result.gaps[0][1] - first.start).total_seconds()) < 0.01


def test_unreadable_segment_is_quarantined_not_fatal(tmp_path: Path, ffmpeg: str) -> None:
    config = edge_config(tmp_path)
    work = config.data_dir / "work" / "cam1"
    work.mkdir(parents=True)
    (work / "site01_cam1_20260101T000000+0000.mp4").write_bytes(b"not a video at all")
    with Store(config.db_path) as store, Recorder(config, store) as recorder:
        recorder.start()
        assert (config.data_dir / "quarantine" / "site01_cam1_20260101T000000+0000.mp4").exists()
        wait_for(lambda: store.segments("cam1"), 30, "recording despite the bad file")


def test_recorder_restarts_a_killed_ffmpeg(
    recording: tuple[EdgeConfig, Store, Recorder],
) -> None:
    _, store, recorder = recording
    cam = recorder.cameras[0]
    wait_for(lambda: store.segments("cam1"), 30, "a first segment")
    old = cam.child_pids()
    cam._segmenter.kill()  # type: ignore[union-attr]
    wait_for(lambda: cam.restarts >= 1 and cam.status().running, 30, "a restarted pair")
    assert set(cam.child_pids()).isdisjoint(old)
    count = len(store.segments("cam1"))
    wait_for(lambda: len(store.segments("cam1")) > count, 30, "segments after restart")


def test_clip_worker_cuts_one_clip_per_camera_and_queues_it(
    recording: tuple[EdgeConfig, Store, Recorder],
) -> None:
    config, store, _ = recording
    wait_for(lambda: len(store.segments("cam1")) >= 1, 30, "a segment")
    event_id = record_event(store, "metal_detector_reject", source="line1_md")
    with ClipWorker(config, store, poll_s=0.2) as worker:
        worker.start()
        event = wait_for(
            lambda: (e := store.event(event_id)) and e.clip_state != "pending" and e, 30, "a clip"
        )
    assert event.clip_state == "cut"
    clips = store.clips_for_event(event_id)
    assert len(clips) == 1 and clips[0].camera == "cam1"
    clip = clips[0]
    assert clip.path.name.endswith(f"_{event_id}.mp4")
    assert hashlib.sha256(clip.path.read_bytes()).hexdigest() == clip.sha256
    item = store.outbox_item("file", clip.file_id)
    assert item is not None and item.state == "pending" and item.size == clip.size
    assert abs(probe(clip.path).duration - 4.0) <= config.recording.segment_seconds


def test_stalled_camera_is_restarted(recording: tuple[EdgeConfig, Store, Recorder]) -> None:
    _, store, recorder = recording
    cam = recorder.cameras[0]
    wait_for(lambda: len(store.segments("cam1")) >= 2, 30, "segments")
    source = cam._source
    assert source is not None
    source.send_signal(signal.SIGSTOP)  # the camera freezes: no data, no exit
    try:
        wait_for(lambda: cam.restarts >= 1, 20, "a restart after no segment for 2 x 2 s")
    finally:
        if source.poll() is None:
            source.send_signal(signal.SIGCONT)
    assert cam._source is not source
    count = len(store.segments("cam1"))
    wait_for(lambda: len(store.segments("cam1")) > count, 30, "segments after the restart")


def test_event_window_partly_before_recording_is_cut_with_a_gap(
    recording: tuple[EdgeConfig, Store, Recorder],
) -> None:
    config, store, _ = recording
    first = wait_for(lambda: store.segments("cam1")[:1], 30, "a first segment")[0]
    t = first.start + timedelta(seconds=0.5)  # pre (2 s) reaches back before recording began
    event_id = record_event(store, "seal_broken", camera="cam1", occurred_at=t)
    with ClipWorker(config, store, poll_s=0.2) as worker:
        worker.start()
        wait_for(lambda: store.event(event_id).clip_state == "cut", 30, "the clip")  # type: ignore[union-attr]
    (clip,) = store.clips_for_event(event_id)
    assert len(clip.gaps) == 1
    assert clip.start >= first.start - timedelta(seconds=0.01)
    assert probe(clip.path).duration > 1.0
