"""Loading sessions driven by real ``down/cmd`` messages through a real Mosquitto."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_config
from edge.sessions import LoadingSessions
from edge.store import Store
from edge.sync import SyncClient
from tests.commanding import CommandCentral
from tests.helpers import Broker, wait_for

pytestmark = pytest.mark.slow

SITE, DEVICE = "site01", "edge01"


def test_loading_session_by_central_command(tmp_path: Path, broker: Broker) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        f'[site]\nid = "{SITE}"\ndevice = "{DEVICE}"\nlocation_code = "X-1"\n'
        f'[storage]\ndata_dir = "data"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        '[[cameras]]\nid = "dock1"\n'
    )
    config = load_config(path)
    central = CommandCentral(broker, SITE, DEVICE)
    with Store(config.db_path) as store, SyncClient(config, store) as sync:
        sync.start()
        wait_for(sync.connected.is_set, 10, "the edge to connect")
        central.send("cmd-1", "loading_start", container_no="CSQU3054383",
                     vehicle_plate="ABC-123", seal_numbers="S1, S2")  # fmt: skip
        central.send("cmd-1", "loading_start", container_no="CSQU3054383")  # duplicate id
        central.send("cmd-2", "loading_end", expires_in=-5)  # expired
        wait_for(lambda: len(central.results) >= 2, 10, "two answers")
        start = wait_for(lambda: next((e for e in central.events if e.kind == "loading_start"),
                                      None), 10, "the loading_start event")  # fmt: skip
        assert start.data["container_no"] == "CSQU3054383"
        assert start.data["seal_numbers"] == "S1,S2" and start.data["vehicle_plate"] == "ABC-123"
        central.send("cmd-3", "ping")  # commands are handled in order: a marker
        wait_for(lambda: any(r.id == "cmd-3" for r in central.results), 10, "the ping answer")
        by_id = {r.id: r for r in central.results}
        answers = [r for r in central.results if r.id == "cmd-1"]
        assert len(answers) == 2 and answers[0].data == answers[1].data  # run once, answered twice
        assert by_id["cmd-1"].ok and by_id["cmd-1"].data["session_id"] == start.data["session_id"]
        assert not by_id["cmd-2"].ok and "expired" in by_id["cmd-2"].detail
        assert LoadingSessions(config, store).active() is not None
        central.send("cmd-4", "loading_end")
        wait_for(lambda: any(r.id == "cmd-4" for r in central.results), 10, "the end answer")
        wait_for(lambda: any(e.kind == "loading_end" for e in central.events), 10, "loading_end")
        assert LoadingSessions(config, store).active() is None
        starts = [e for e in central.events if e.kind == "loading_start"]
        assert len({e.id for e in starts}) == 1  # the duplicate started nothing
    central.close()
