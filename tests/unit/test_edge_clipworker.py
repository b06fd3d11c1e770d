"""Clip worker without any recording: the event is kept, the clip is marked failed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from edge.clipworker import ClipWorker
from edge.config import load_config
from edge.events import record_event
from edge.store import Store
from edge.timeutil import now


def test_event_without_any_recording_is_kept_and_clip_marked_failed(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        '[site]\nid = "s"\ndevice = "d"\nlocation_code = "X-1"\n'
        '[storage]\ndata_dir = "data"\n[recording]\nsegment_seconds = 2\n'
        '[[cameras]]\nid = "cam1"\n[clips]\npre_seconds = 2\npost_seconds = 2\n'
    )
    config = load_config(path)
    with Store(config.db_path) as store:
        recent = record_event(store, "mark")
        old = record_event(store, "mark", occurred_at=now() - timedelta(minutes=5))
        worker = ClipWorker(config, store)
        assert worker.process_pending() == 1  # only the overdue one is decided
        event = store.event(old)
        assert event is not None and event.clip_state == "failed"
        assert event.clip_note is not None and "not recorded" in event.clip_note
        assert store.event(recent).clip_state == "pending"  # type: ignore[union-attr]
        assert store.outbox_item("event", old).state == "pending"  # type: ignore[union-attr]
        assert store.clips_for_event(old) == []
        worker.close()
        worker.close()
