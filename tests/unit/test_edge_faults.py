"""The fault registry: dedupe, persistence, one event per transition, all in the outbox."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edge.faults import DEVICE, Faults
from edge.store import Store
from wire.errors import WireError


def fault_events(store: Store) -> list[tuple[str, str | None, dict]]:
    rows = store.query(
        "SELECT e.id FROM events e JOIN outbox o ON o.item_kind = 'event' AND o.item_id = e.id "
        "ORDER BY o.seq"
    )
    events = [store.event(r["id"]) for r in rows]
    return [(e.kind, e.camera, e.data) for e in events if e is not None]


def test_raise_is_deduplicated_and_clear_emits_fault_cleared(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store:
        faults = Faults(store)
        assert faults.raise_fault("cam1", "frozen", {"seconds": 31.25, "obj": [1]})
        assert not faults.raise_fault("cam1", "frozen", {"seconds": 40.0})
        assert faults.raise_fault(DEVICE, "clock_unsynchronised")
        assert [(f.scope, f.name) for f in faults.active()] == [
            ("cam1", "frozen"),
            ("device", "clock_unsynchronised"),
        ]
        assert faults.clear_fault("cam1", "frozen")
        assert not faults.clear_fault("cam1", "frozen")
        assert not faults.clear_fault("cam2", "dark")
        assert [(f.scope, f.name) for f in faults.active()] == [("device", "clock_unsynchronised")]
        assert fault_events(store) == [
            ("camera_fault", "cam1", {"fault": "frozen", "seconds": 31.25, "obj": "[1]"}),
            ("device_fault", None, {"fault": "clock_unsynchronised"}),
            ("fault_cleared", "cam1", {"fault": "frozen", "scope": "cam1"}),
        ]
        # every transition is an event in the outbox, pending delivery
        assert store.backlog()[0] == 3
        # a camera fault gets a clip (evidence); device faults and clears do not
        kinds = {e.kind: e.clip_state for e in (store.event(i.item_id) for i in
                 store.outbox_items()) if e is not None}  # fmt: skip
        assert kinds == {"camera_fault": "pending", "device_fault": "none", "fault_cleared": "none"}


def test_active_faults_survive_a_reopen(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store:
        Faults(store).raise_fault("cam2", "dark", {"luma": 3.5})
    with Store(tmp_path / "edge.db") as store:
        faults = Faults(store)
        [fault] = faults.active()
        assert (fault.scope, fault.name, fault.detail, fault.camera) == (
            "cam2",
            "dark",
            {"luma": 3.5},
            "cam2",
        )
        assert fault.event_id is not None and store.event(fault.event_id) is not None
        assert not faults.raise_fault("cam2", "dark")  # still active after the restart
        assert faults.clear_fault("cam2", "dark")
        assert faults.active() == []


def test_concurrent_raises_make_one_event(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store:
        faults = Faults(store)
        results: list[bool] = []
        threads = [
            threading.Thread(target=lambda f=f: results.append(f.raise_fault(DEVICE, "disk_low")))
            for f in [faults] * 4 + [Faults(store) for _ in range(4)]  # shared and own instances
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(True) == 1
        assert [k for k, _, _ in fault_events(store)] == ["device_fault"]


def test_bad_scope_or_name_is_rejected(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store:
        faults = Faults(store)
        with pytest.raises(WireError):
            faults.raise_fault("cam/1", "frozen")
        with pytest.raises(WireError):
            faults.clear_fault("cam1", "no spaces")
        assert faults.set_fault("cam1", "blurred", True)
        assert faults.set_fault("cam1", "blurred", False)
        assert not faults.set_fault("cam1", "blurred", False)
