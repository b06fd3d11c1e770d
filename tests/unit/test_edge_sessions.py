"""Loading sessions and the commands that drive them, against a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from edge.commands import CommandHandler
from edge.config import EdgeConfig, parse_config
from edge.retention import holds
from edge.sessionclips import split_window
from edge.sessions import LoadingSessions
from edge.store import Store
from edge.timeutil import now
from wire.errors import ContainerNumberError, SessionError
from wire.models import CommandMessage


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[EdgeConfig, Store]]:
    data = {"site": {"id": "s", "device": "d", "location_code": "X-1"},
            "storage": {"data_dir": str(tmp_path)}, "cameras": [{"id": "c"}]}  # fmt: skip
    config = parse_config(data, "t")
    with Store(config.db_path) as store:
        yield config, store


def kinds(store: Store) -> list[str]:
    return [store.event(i.item_id).kind for i in store.outbox_items()]  # type: ignore[union-attr]


def test_start_stop_toggle_and_one_active_at_a_time(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    sessions = LoadingSessions(config, store)
    assert sessions.active() is None and sessions.stop() is None
    sid = sessions.start(container_no="csqu 3054383", vehicle_plate=" 鲁B 12345 ",
                         seal_numbers=["SL1", " ", "SL2"], source="panel")  # fmt: skip
    active = sessions.active()
    assert active is not None and active.id == sid
    assert (active.container_no, active.vehicle_plate, active.seal_numbers) == (
        "CSQU3054383", "鲁B 12345", ["SL1", "SL2"])  # fmt: skip
    assert len(holds(store)) == 1  # its video is pinned while it runs
    with pytest.raises(SessionError):
        sessions.start()
    assert sessions.toggle() == "stopped"
    ended = sessions.get(sid)
    assert ended is not None and ended.ended_at is not None and ended.clip_state == "pending"
    assert sessions.toggle() == "started" and sessions.toggle() == "stopped"
    assert kinds(store) == ["loading_start", "loading_end"] * 2
    start = store.event(ended.start_event_id)
    assert start is not None and start.clip_state == "none"
    assert start.data["container_no"] == "CSQU3054383" and start.data["seal_numbers"] == "SL1,SL2"


def test_bad_container_number_starts_nothing(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    sessions = LoadingSessions(config, store)
    with pytest.raises(ContainerNumberError, match="check digit should be 3"):
        sessions.start(container_no="CSQU3054384")
    assert sessions.active() is None and kinds(store) == [] and holds(store) == []


def command(kind: str, cid: str = "c1", expires_in: float = 60, **args: str) -> CommandMessage:
    t = now()
    return CommandMessage(id=cid, kind=kind, issued_at=t,  # type: ignore[arg-type]
                          expires_at=t + timedelta(seconds=expires_in), args=args)  # fmt: skip


def test_commands_run_once_per_id_and_refused_when_expired(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    handler = CommandHandler(config, store)
    result = handler.handle(command("loading_start", container_no="MWCU6059784",
                                    seal_numbers="A1,B2"))  # fmt: skip
    assert result is not None and result.ok, result
    again = handler.handle(command("loading_start", container_no="MWCU6059784"))
    assert again is not None and again.data == result.data  # answered again, not run again
    refused = handler.handle(command("loading_start", "c2"))
    assert refused is not None and not refused.ok and "already active" in refused.detail
    expired = handler.handle(command("loading_end", "c3", expires_in=-1))
    assert expired is not None and not expired.ok and "expired" in expired.detail
    assert LoadingSessions(config, store).active() is not None
    bad = handler.handle(command("loading_start", "c4", colour="red"))
    assert bad is not None and not bad.ok and "colour" in bad.detail
    end = handler.handle(command("loading_end", "c5"))
    assert end is not None and end.ok and end.data["session_id"] == result.data["session_id"]
    bad_no = handler.handle(command("loading_start", "c6", container_no="CSQU3054384"))
    assert bad_no is not None and not bad_no.ok and bad_no.detail.endswith("should be 3")
    assert kinds(store) == ["loading_start", "loading_end"]


def test_split_window_pieces() -> None:
    t = now()
    pieces = split_window(t, t + timedelta(seconds=25), 10)
    assert [(b - a).total_seconds() for a, b in pieces] == [10, 10, 5]
    assert pieces[0][0] == t and pieces[-1][1] == t + timedelta(seconds=25)
