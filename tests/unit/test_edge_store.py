"""Store: migrations by user_version, WAL, two connections/processes, outbox order."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from edge.events import PRIORITY_URGENT, event_priority, file_priority, record_event
from edge.store import SCHEMA_VERSION, Store
from edge.timeutil import now
from wire.errors import StoreError, WireError


def test_fresh_store_is_migrated_and_in_wal(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.sqlite3") as store:
        assert store.schema_version == SCHEMA_VERSION >= 1
        tables = set(store.db.table_names())
        assert {"segments", "events", "clips", "outbox"} <= tables
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_reopen_keeps_data_and_does_not_remigrate(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    with Store(path) as store:
        event_id = record_event(store, "mark")
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.event(event_id) is not None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this software"):
        Store(path)


def test_close_is_idempotent_and_closed_store_raises(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.sqlite3")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.backlog()


def test_two_connections_see_each_others_commits(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    with Store(path) as one, Store(path) as two:
        first = record_event(one, "mark")
        second = record_event(two, "seal_broken", camera="cam1")
        assert two.event(first) is not None and one.event(second) is not None
        seqs = [i.seq for i in one.outbox_items()]
        assert seqs == sorted(seqs) and len(set(seqs)) == 2


def test_other_process_writes_while_we_hold_the_store(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    code = (
        "import sys; from edge.store import Store; from edge.events import record_event\n"
        "with Store(sys.argv[1]) as s:\n"
        "    for _ in range(20): print(record_event(s, 'mark'))\n"
    )
    with Store(path) as store:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        mine = [record_event(store, "mark") for _ in range(20)]
        outputs = [p.communicate(timeout=60)[0].split() for p in procs]
        assert all(p.returncode == 0 for p in procs)
        ids = set(mine) | {i for out in outputs for i in out}
        assert len(ids) == 60
        items = store.outbox_items()
        assert {i.item_id for i in items} == ids
        assert len({i.seq for i in items}) == 60


def test_event_is_committed_with_offset_and_queued_by_priority(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.sqlite3") as store:
        low = record_event(store, "mark", data={"note": "x"})
        high = record_event(store, "metal_detector_reject", source="line1_md")
        event = store.event(high)
        assert event is not None and event.occurred_at.utcoffset() is not None
        assert event.monotonic_ns > 0 and event.clip_state == "pending"
        assert store.event(low).data == {"note": "x"}  # type: ignore[union-attr]
        pending = store.outbox_pending()
        assert [p.item_id for p in pending] == [high, low]
        assert pending[0].priority == PRIORITY_URGENT
        assert record_event(store, "device_fault") and store.backlog()[0] == 3
        assert file_priority("seal_broken") > event_priority("mark")
        with pytest.raises(WireError):
            record_event(store, "explosion")


def test_delivery_and_acked_ranges(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.sqlite3") as store:
        t = now()
        event_id = record_event(store, "mark")
        seq = store.add_clip(
            "FILE1", event_id, "cam1", tmp_path / "c.mp4", t, t + timedelta(seconds=4),
            1000, "a" * 64, [], file_priority("mark"),
        )  # fmt: skip
        store.set_acked_ranges(seq, [(0, 100), (200, 300)])
        assert store.outbox_item("file", "FILE1").acked_ranges == [(0, 100), (200, 300)]  # type: ignore[union-attr]
        assert store.backlog() == (2, 1000)
        assert store.mark_delivered("file", "FILE1") is True
        assert store.mark_delivered("file", "FILE1") is False
        assert store.mark_delivered("event", "UNKNOWN") is False
        assert store.backlog() == (1, 0)
        assert store.last_delivery() is not None
        store.note_attempt(store.outbox_item("event", event_id).seq, next_attempt_ts=2e9)  # type: ignore[union-attr]
        assert store.outbox_pending() == []
        assert len(store.outbox_pending(due_only=False)) == 1
