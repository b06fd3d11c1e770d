"""Event and loading-session clips from a real recorder (ffmpeg, 2 s segments, two cameras)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.clipworker import ClipWorker
from edge.config import EdgeConfig, load_config
from edge.events import PRIORITY_FILE_OFFSET, record_event
from edge.ffmpeg import probe
from edge.recorder import Recorder
from edge.sessions import LoadingSessions
from edge.store import Store
from edge.timeutil import now
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

SEGMENT_S = 2
CAMERA = "width = 160\nheight = 120\nfps = 10\nbitrate_kbps = 200\n"


def edge_config(folder: Path) -> EdgeConfig:
    path = folder / "edge.toml"
    path.write_text(
        '[site]\nid = "site01"\ndevice = "edge01"\nlocation_code = "X-1"\n'
        f'[storage]\ndata_dir = "data"\n[recording]\nsegment_seconds = {SEGMENT_S}\n'
        f'[[cameras]]\nid = "dock1"\n{CAMERA}[[cameras]]\nid = "dock2"\n{CAMERA}'
        "[clips]\npre_seconds = 1\npost_seconds = 1\n"
        '[clips.kinds.metal_detector_reject]\ncameras = ["dock1"]\n'
        "pre_seconds = 2\npost_seconds = 3\npriority = 0\n"
        "[sessions]\nmax_clip_seconds = 3\npriority = 30\n"
    )
    return load_config(path)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EdgeConfig, Store]]:
    if not os.path.exists("/usr/bin/ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    config = edge_config(tmp_path_factory.mktemp("eventclips"))
    with Store(config.db_path) as store, Recorder(config, store) as recorder:
        recorder.start()
        wait_for(lambda: all(store.segments(c.id) for c in config.cameras), 30, "first segments")
        yield config, store


def test_event_clip_follows_its_kind_and_lasts_pre_plus_post(
    recording: tuple[EdgeConfig, Store],
) -> None:
    config, store = recording
    event_id = record_event(store, "metal_detector_reject", source="md")
    worker = ClipWorker(config, store)
    wait_for(lambda: worker.process_pending() and store.event(event_id).clip_state != "pending",  # type: ignore[union-attr]
             40, "the reject clip")  # fmt: skip
    (clip,) = store.clips_for_event(event_id)  # only the kind's camera
    assert clip.camera == "dock1"
    assert abs(probe(clip.path).duration - 5.0) <= SEGMENT_S
    item = store.outbox_item("file", clip.file_id)
    assert item is not None and item.priority == PRIORITY_FILE_OFFSET + 0


def test_event_survives_kill_9_between_commit_and_clip(
    recording: tuple[EdgeConfig, Store],
) -> None:
    config, store = recording
    script = (
        "import os, signal, sys\n"
        "from edge.config import load_config\nfrom edge.events import record_event\n"
        "from edge.store import Store\n"
        f"config = load_config({str(config.data_dir.parent / 'edge.toml')!r})\n"
        "store = Store(config.db_path)\n"
        "print(record_event(store, 'seal_broken', source='seal'), flush=True)\n"
        "sys.stdin.read()\n"  # wait to be killed, with the clip not cut
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])  # fmt: skip
    assert child.stdout is not None
    event_id = child.stdout.readline().decode().strip()
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    assert child.stdin is not None
    child.stdin.close()
    child.stdout.close()
    event = store.event(event_id)
    assert event is not None and event.clip_state == "pending"
    worker = ClipWorker(config, store)  # a fresh worker, as after a restart
    wait_for(lambda: worker.process_pending() and store.event(event_id).clip_state == "cut",  # type: ignore[union-attr]
             40, "the clip of the event committed before kill -9")  # fmt: skip
    assert {c.camera for c in store.clips_for_event(event_id)} == {"dock1", "dock2"}


def test_session_clips_cover_start_to_end_for_every_camera(
    recording: tuple[EdgeConfig, Store],
) -> None:
    config, store = recording
    sessions = LoadingSessions(config, store)
    sid = sessions.start(container_no="CSQU3054383", source="test")
    started = now()
    wait_for(lambda: (now() - started).total_seconds() > 5, 10, "a 5 s session")
    assert sessions.stop("test") == sid
    session = sessions.get(sid)
    assert session is not None and session.ended_at is not None
    worker = ClipWorker(config, store)
    wait_for(lambda: worker.process_pending() and sessions.get(sid).clip_state != "pending",  # type: ignore[union-attr]
             40, "the session clips")  # fmt: skip
    assert sessions.get(sid).clip_state == "cut"  # type: ignore[union-attr]
    rows = store.query("SELECT file_id FROM clips WHERE session_id = ? ORDER BY camera, piece",
                       (sid,))  # fmt: skip
    clips = [store.clip(r["file_id"]) for r in rows]
    length = (session.ended_at - session.started_at).total_seconds()
    for cam in ("dock1", "dock2"):
        mine = sorted((c for c in clips if c and c.camera == cam), key=lambda c: c.piece or 0)
        assert len(mine) == math.ceil(length / 3) >= 2  # > 5 s in pieces of at most 3 s
        assert mine[0].start == session.started_at and mine[-1].end == session.ended_at
        assert all(a.end == b.start for a, b in zip(mine, mine[1:], strict=False))
        total = sum(probe(c.path).duration for c in mine)
        # stream copy: each piece may begin at the keyframe before its start (≤ one segment)
        assert abs(total - length) <= SEGMENT_S * len(mine)
        for c in mine:
            item = store.outbox_item("file", c.file_id)
            assert item is not None and item.priority == PRIORITY_FILE_OFFSET + 30
            assert probe(c.path).duration <= 3 + SEGMENT_S
