"""Inspector lookups: events by container number, clips by their events' kind, and the
time window of ``/clips`` bounded by the longest clip (``wire.models.MAX_CLIP_SECONDS``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from central.api import create_app
from central.db import Database
from central.db.engine import alembic_config
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import T0, event_msg, file_init, send_event, send_file
from wire.models import EventMessage

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"


@pytest.fixture
def api(central_settings: Settings, central_db: Database) -> Iterator[TestClient]:
    with central_db.session() as session:
        add_user(session, "nat", PASSWORD, "admin", actor="test")
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "nat", "password": PASSWORD}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _loading(seq: int, container: str) -> EventMessage:
    msg = event_msg(seq=seq, kind="loading_start", camera=None)
    return msg.model_copy(update={"data": {"container_no": container, "session_id": "S1"}})


def test_events_by_container_number(api: TestClient, ingest: IngestService) -> None:
    wanted, other = _loading(1, "mscu1234565"), _loading(2, "TGHU7654321")
    for msg in (wanted, other, event_msg(seq=3)):
        send_event(ingest, msg)
    found = api.get("/api/v1/events", params={"container": "MSCU1234565"}).json()["items"]
    assert [e["id"] for e in found] == [wanted.id]
    assert api.get("/api/v1/events", params={"container": "NONE0000000"}).json()["items"] == []


def test_clips_by_event_kind_and_long_clips_in_a_window(
    api: TestClient, ingest: IngestService
) -> None:
    reject, mark = event_msg(seq=1), event_msg(seq=2, kind="mark")
    send_event(ingest, reject)
    send_event(ingest, mark)
    data = [os.urandom(2000) for _ in range(3)]
    of_reject = file_init(data[0], seq=3, event_ids=[reject.id])
    of_mark = file_init(data[1], seq=4, event_ids=[mark.id])
    long_ago = T0 - timedelta(minutes=100)  # 30 s long: ended well before T0
    early = file_init(data[2], seq=5, start=long_ago, event_ids=[reject.id])
    for init, body in ((of_reject, data[0]), (of_mark, data[1]), (early, data[2])):
        send_file(ingest, init, body)
    rejects = api.get("/api/v1/clips", params={"event_kind": "metal_detector_reject"}).json()
    assert {c["id"] for c in rejects["items"]} == {of_reject.file_id, early.file_id}
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}
    in_window = api.get("/api/v1/clips", params=window).json()["items"]
    assert {c["id"] for c in in_window} == {of_reject.file_id, of_mark.file_id}
    before = {"start": (long_ago + timedelta(seconds=10)).isoformat(), "end": T0.isoformat()}
    assert [c["id"] for c in api.get("/api/v1/clips", params=before).json()["items"]] == [
        early.file_id
    ]


def test_migration_0007_backfills_container_numbers(central_db: Database) -> None:
    config = alembic_config()
    with central_db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    with central_db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (id, site, device, seq, kind, occurred_at,"
                " occurred_offset_min, data, clock_synced, received_at) VALUES"
                " ('E1', 's', 'd', 1, 'loading_start', :at, 480, :data, true, :at)"
            ),
            {"at": T0, "data": '{"container_no": "mscu1234565"}'},
        )
    central_db.migrate()
    with central_db.engine.connect() as connection:
        stored = connection.execute(text("SELECT container_no FROM events")).scalar_one()
    assert stored == "MSCU1234565"


@pytest.mark.parametrize("route", ["/api/v1/events", "/api/v1/clips", "/api/v1/audit"])
@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00+00:00", "9999-12-31T23:59:59-14:00"]
)
def test_times_at_the_ends_of_the_calendar_are_no_server_error(
    api: TestClient, route: str, at: str
) -> None:
    for params in ({"start": at}, {"end": at}):
        assert api.get(route, params=params).status_code in (200, 400, 422)


def test_clips_of_several_event_kinds_at_once(api: TestClient, ingest: IngestService) -> None:
    reject, broken, mark = (
        event_msg(seq=1),
        event_msg(seq=2, kind="seal_broken"),
        event_msg(seq=3, kind="mark"),
    )
    inits = []
    for seq, event in enumerate((reject, broken, mark), start=4):
        send_event(ingest, event)
        body = os.urandom(1500)
        init = file_init(body, seq=seq, event_ids=[event.id])
        send_file(ingest, init, body)
        inits.append(init)
    kinds = [("event_kind", "metal_detector_reject"), ("event_kind", "seal_broken")]
    found = api.get("/api/v1/clips", params=kinds).json()["items"]
    assert {c["id"] for c in found} == {inits[0].file_id, inits[1].file_id}
    too_many = [("event_kind", "mark")] * 17
    assert api.get("/api/v1/clips", params=too_many).status_code == 422
