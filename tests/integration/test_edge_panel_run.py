"""The panel as ``run`` wires it: real Store, Faults and LoadingSessions behind the buttons."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from edge.app import _panel
from edge.config import parse_config
from edge.faults import DEVICE, Faults
from edge.panel.state import State
from edge.pins.gpiozero_backend import GpiozeroBackend
from edge.sessions import LoadingSessions
from edge.store import Store
from tests.helpers import wait_for


def test_buttons_reach_sessions_and_events_and_faults_reach_the_leds(tmp_path: Path) -> None:
    config = parse_config(
        {
            "site": {"id": "s1", "device": "d1", "location_code": "L-1"},
            "storage": {"data_dir": str(tmp_path / "data")},
            "cameras": [{"id": "cam1"}],
            "panel": {
                "leds": {"green": 5, "red": 6},
                "buttons": {"loading": 20, "mark": 21, "hold_seconds": 1},
                "refresh_seconds": 0.05,
                "ack_seconds": 0.2,
            },
        },
        "test",
    )
    backend = GpiozeroBackend(mock=True)
    recorder = SimpleNamespace(status=lambda: [SimpleNamespace(camera="cam1", running=True)])
    connected = threading.Event()
    connected.set()
    sync = SimpleNamespace(connected=connected)
    with Store(config.db_path) as store:
        faults = Faults(store)
        gpio = SimpleNamespace(levels=lambda: {})
        parts = (recorder, faults, sync, gpio, backend)
        with _panel(config, store, *parts) as panel:  # type: ignore[arg-type]
            panel.start()
            # every event is pending in the outbox (no broker here): the panel shows uploading
            wait_for(lambda: panel.state in (State.OK, State.UPLOADING), 3, "ok or uploading")

            def press(pin: int) -> None:
                backend.factory.pin(pin).drive_low()
                backend.factory.pin(pin).drive_high()

            press(21)
            kinds = [e["kind"] for e in store.query("SELECT kind FROM events")]
            assert kinds == ["mark"]
            press(20)
            assert LoadingSessions(config, store).active() is not None
            for item in store.outbox_items():  # as if central acked everything
                store.mark_delivered(item.item_kind, item.item_id)
            wait_for(lambda: panel.state is State.LOADING, 3, "loading")
            faults.raise_fault(DEVICE, "storage_critical")
            wait_for(lambda: panel.state is State.STORAGE_CRITICAL, 3, "red 3")
            wait_for(lambda: backend.factory.pin(6).state, 4, "red blinks")
        assert not backend.factory.pin(5).state and not backend.factory.pin(6).state
    backend.close()
