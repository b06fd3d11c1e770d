"""``upload_window`` and ``config_refresh`` over a real Mosquitto, with a real ffmpeg recorder."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from edge.clipworker import ClipWorker
from edge.config import load_config
from edge.events import PRIORITY_WINDOW
from edge.ffmpeg import probe
from edge.recorder import Recorder
from edge.store import Store
from edge.sync import SyncClient
from edge.timeutil import iso, now
from edge.windowclips import window_state
from tests.commanding import CommandCentral
from tests.helpers import Broker, wait_for
from wire.models import ScalarValue

pytestmark = pytest.mark.slow

SITE, DEVICE = "site01", "edge01"
SEGMENT_S = 2
WINDOW_S = 3.0


def write_config(path: Path, broker: Broker, extra: str = "") -> None:
    path.write_text(
        f'[site]\nid = "{SITE}"\ndevice = "{DEVICE}"\nlocation_code = "X-1"\n'
        f'[storage]\ndata_dir = "data"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        f"[recording]\nsegment_seconds = {SEGMENT_S}\n"
        '[[cameras]]\nid = "dock1"\nwidth = 160\nheight = 120\nfps = 10\nbitrate_kbps = 200\n'
        f"{extra}"
    )


def test_upload_window_is_cut_from_recorded_segments_and_queued_as_a_window(
    tmp_path: Path, broker: Broker, ffmpeg: str
) -> None:
    path = tmp_path / "edge.toml"
    write_config(path, broker)
    config = load_config(path)
    central = CommandCentral(broker, SITE, DEVICE)
    try:
        with (
            Store(config.db_path) as store,
            Recorder(config, store) as recorder,
            ClipWorker(config, store) as worker,
            SyncClient(config, store) as sync,
        ):
            recorder.start()
            worker.start()
            sync.start()
            wait_for(sync.connected.is_set, 20, "the edge to connect")
            wait_for(lambda: len(store.segments("dock1")) >= 2, 90, "two recorded segments")
            # from the second segment on: the first one of a recording starts late (its own
            # timestamps begin at 1 s) and a cut inside it comes out longer than asked
            start = store.segments("dock1")[1].start + timedelta(seconds=1)
            end = start + timedelta(seconds=WINDOW_S)  # may reach past the last closed segment
            args: dict[str, ScalarValue] = {"camera": "dock1", "start": iso(start),
                                            "end": iso(end), "reason": "inspection"}  # fmt: skip
            central.send("w-1", "upload_window", **args)
            central.send("w-1", "upload_window", **args)  # a redelivery of the same id
            later = now() + timedelta(hours=1)
            central.send("w-2", "upload_window", camera="dock1", start=iso(later),
                         end=iso(later + timedelta(seconds=10)))  # fmt: skip
            central.send("w-3", "ping")  # handled in order: after it, the others are answered

            central.answer("w-3")
            accepted, refused = central.answer("w-1"), central.answer("w-2")
            wait_for(lambda: len([r for r in central.results if r.id == "w-1"]) == 2, 10,
                     "the redelivery's answer")  # fmt: skip
            answers = [r for r in central.results if r.id == "w-1"]
            assert answers[0].data == answers[1].data  # answered again, not run again
            assert accepted.ok and accepted.data["state"] == "queued", accepted
            file_id = str(accepted.data["file_id"])
            assert not refused.ok and refused.detail.startswith("camera dock1: nothing recorded")

            clip = wait_for(lambda: store.clip(file_id), 90, "the window clip to be queued")
            assert clip is not None
            assert clip.kind == "window" and clip.camera == "dock1"
            assert clip.path.parent == config.data_dir / "clips" and clip.path.exists()
            item = store.outbox_item("file", file_id)
            assert item is not None and item.priority == PRIORITY_WINDOW
            # stream copy starts at the keyframe at or before ``start`` (one every second)
            assert WINDOW_S - 0.5 <= probe(clip.path).duration <= WINDOW_S + 1.5
            # the clip's row is committed first, the window's state just after it
            wait_for(lambda: window_state(store, "w-1") == ("cut", None), 10, "the window cut")
            windows = store.query("SELECT file_id FROM clips WHERE kind = 'window'")
            assert [r["file_id"] for r in windows] == [file_id]  # one clip for the id

            init = wait_for(lambda: next((i for i in central.inits if i.file_id == file_id),
                                         None), 30, "the window's file init")  # fmt: skip
            assert init is not None
            assert init.kind == "window" and init.camera == "dock1" and init.event_ids == []
    finally:
        central.close()


def test_config_refresh_changes_the_uplink_live_and_a_broken_file_changes_nothing(
    tmp_path: Path, broker: Broker
) -> None:
    path = tmp_path / "edge.toml"
    write_config(path, broker)
    config = load_config(path)
    central = CommandCentral(broker, SITE, DEVICE)
    try:
        with Store(config.db_path) as store, SyncClient(config, store) as sync:
            sync.start()
            wait_for(sync.connected.is_set, 20, "the edge to connect")
            assert sync.uplink.rate() == 0
            write_config(path, broker, "[uplink]\nkbps = 800\n[health]\npublish_seconds = 7\n")
            central.send("r-1", "config_refresh")
            applied = central.answer("r-1")
            assert applied.ok, applied
            assert applied.data["applied"] == "uplink.kbps,health.publish_seconds"
            assert applied.data["restart"] == ""
            assert sync.uplink.rate() == 100_000 and sync.health.period_s == 7

            write_config(path, broker, "[uplink]\nkbps = -1\n[health]\npublish_seconds = 9\n")
            central.send("r-2", "config_refresh")
            broken = central.answer("r-2")
            assert not broken.ok and broken.detail.startswith(str(path.resolve()))
            assert "uplink.kbps" in broken.detail, broken.detail
            assert sync.uplink.rate() == 100_000 and sync.health.period_s == 7  # unchanged
    finally:
        central.close()
