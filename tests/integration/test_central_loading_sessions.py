"""Loading sessions at central: built from the edge's loading events in any order, listed and
shown with their clips through ``/api/v1/loading-sessions``, scoped and audited."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from central import orgs
from central.api import create_app
from central.db import Audit, Database
from central.db.engine import alembic_config
from central.db.models import LoadingSession
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import SITE, T0, event_msg, file_init, send_event, send_file
from wire.models import EventMessage

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
END = T0 + timedelta(minutes=42)


def _event(seq: int, kind: str, session_id: str = "S1", **data: object) -> EventMessage:
    at = END if kind == "loading_end" else T0
    msg = event_msg(seq=seq, kind=kind, camera=None, at=at)
    facts: dict[str, object] = {"session_id": session_id, "started_at": T0.isoformat(), **data}
    if kind == "loading_end":
        facts["ended_at"] = END.isoformat()
    return msg.model_copy(update={"data": facts, "source": "button"})


def _row(db: Database, session_id: str = "S1") -> LoadingSession | None:
    with db.session() as session:
        return session.get(LoadingSession, session_id)


@pytest.fixture
def api(central_settings: Settings, central_db: Database) -> Iterator[TestClient]:
    with central_db.session() as session:
        orgs.add_unit(session, "p-sd", "山东局", "national", "test")
        orgs.add_unit(session, "b-qd", "青岛分支局", "p-sd", "test")
        orgs.add_unit(session, "b-yt", "烟台分支局", "p-sd", "test")
        orgs.add_site(session, SITE, "b-qd", "青岛某水产有限公司", "test")
        for camera in ("cam-1", "cam-2"):
            orgs.add_camera(session, SITE, camera, camera, "test")
        add_user(session, "nat", PASSWORD, "admin", actor="test")
        add_user(session, "qd-mon", PASSWORD, "monitor", actor="test", org="b-qd")
        orgs.grant_camera(session, "qd-mon", SITE, "cam-1", "test")
        add_user(session, "yt-admin", PASSWORD, "admin", actor="test", org="b-yt")
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as client:
        yield client


def _as(client: TestClient, user: str) -> dict[str, str]:
    form = {"username": user, "password": PASSWORD}
    token = client.post("/api/v1/auth/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_start_then_end_make_one_session(ingest: IngestService, central_db: Database) -> None:
    start = _event(1, "loading_start", container_no="mscu1234565", vehicle_plate="鲁B12345")
    end = _event(2, "loading_end", container_no="MSCU1234565", seal_numbers="S-1,S-2")
    for msg in (start, end, start):  # the start redelivered after the end
        send_event(ingest, msg)
    row = _row(central_db)
    assert row is not None
    assert (row.site, row.container_no, row.vehicle_plate) == (SITE, "MSCU1234565", "鲁B12345")
    assert row.seal_numbers == "S-1,S-2"
    assert (row.started_at, row.ended_at) == (T0, END)
    assert (row.start_event_id, row.end_event_id) == (start.id, end.id)
    assert row.started_offset_min == 480


def test_end_before_start_gives_the_same_session(
    ingest: IngestService, central_db: Database
) -> None:
    start = _event(1, "loading_start", vehicle_plate="鲁B12345")
    end = _event(2, "loading_end", seal_numbers="S-9")
    send_event(ingest, end)
    send_event(ingest, start)
    row = _row(central_db)
    assert row is not None and (row.started_at, row.ended_at) == (T0, END)
    assert (row.vehicle_plate, row.seal_numbers) == ("鲁B12345", "S-9")


def test_events_without_a_session_make_none(ingest: IngestService, central_db: Database) -> None:
    bare = event_msg(seq=1, kind="loading_start", camera=None)
    send_event(ingest, bare.model_copy(update={"data": {"container_no": "MSCU1234565"}}))
    send_event(ingest, event_msg(seq=2))
    with central_db.session() as session:
        assert session.scalars(select(LoadingSession)).all() == []


def test_list_filters_and_detail_with_clips(
    api: TestClient, ingest: IngestService, central_db: Database
) -> None:
    start = _event(1, "loading_start", container_no="MSCU1234565")
    end = _event(2, "loading_end")
    other = _event(3, "loading_start", session_id="S2", container_no="TGHU7654321")
    for msg in (start, end, other):
        send_event(ingest, msg)
    bodies = [os.urandom(3000) for _ in range(2)]
    pieces = [
        file_init(body, seq=4 + i, camera=camera, event_ids=[start.id, end.id])
        for i, (body, camera) in enumerate(zip(bodies, ("cam-1", "cam-2"), strict=True))
    ]
    for init, body in zip(pieces, bodies, strict=True):
        send_file(ingest, init, body)

    nat = _as(api, "nat")
    listed = api.get("/api/v1/loading-sessions", headers=nat).json()
    assert [s["id"] for s in listed["items"]] == ["S2", "S1"]  # same start: by id, desc
    by_container = api.get(
        "/api/v1/loading-sessions", params={"container": "mscu1234565"}, headers=nat
    ).json()["items"]
    assert [s["id"] for s in by_container] == ["S1"]
    assert by_container[0]["duration_s"] == 42 * 60
    assert by_container[0]["started_at"].endswith("+08:00")
    still_open = api.get("/api/v1/loading-sessions", params={"open": True}, headers=nat).json()
    assert [s["id"] for s in still_open["items"]] == ["S2"]

    detail = api.get("/api/v1/loading-sessions/S1", headers=nat).json()
    assert {c["id"] for c in detail["clips"]} == {p.file_id for p in pieces}
    # A monitor sees the session of a site they hold a grant in, and only their camera's clip.
    mon = api.get("/api/v1/loading-sessions/S1", headers=_as(api, "qd-mon")).json()
    assert [c["camera"] for c in mon["clips"]] == ["cam-1"]
    with central_db.session() as session:
        viewers = session.scalars(
            select(Audit.actor).where(Audit.action == "loading_session.view", Audit.target == "S1")
        ).all()
    assert sorted(viewers) == ["nat", "qd-mon"]


def test_out_of_scope_users_get_nothing(api: TestClient, ingest: IngestService) -> None:
    send_event(ingest, _event(1, "loading_start", container_no="MSCU1234565"))
    outsider = _as(api, "yt-admin")  # another branch of the same province
    assert api.get("/api/v1/loading-sessions", headers=outsider).json()["items"] == []
    assert api.get("/api/v1/loading-sessions/S1", headers=outsider).status_code == 404
    assert api.get("/api/v1/loading-sessions/S1").status_code == 401
    assert api.get("/api/v1/loading-sessions/nope", headers=_as(api, "nat")).status_code == 404


def test_migration_0009_builds_sessions_from_stored_events(central_db: Database) -> None:
    config = alembic_config()
    with central_db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    insert = text(
        "INSERT INTO events (id, site, device, seq, kind, occurred_at, occurred_offset_min,"
        " data, container_no, clock_synced, received_at) VALUES"
        " (:id, 's', 'd', :seq, :kind, :at, 480, :data, 'MSCU1234565', true, :at)"
    )
    with central_db.engine.begin() as connection:
        for seq, kind in ((1, "loading_start"), (2, "loading_end")):
            data = (
                '{"session_id": "OLD", "started_at": "2026-11-27T08:00:00+08:00",'
                ' "ended_at": "2026-11-27T08:42:00+08:00", "vehicle_plate": "鲁B12345"}'
            )
            connection.execute(insert, {"id": f"E{seq}", "seq": seq, "kind": kind,
                                        "at": T0, "data": data})  # fmt: skip
    central_db.migrate()
    row = _row(central_db, "OLD")
    assert row is not None and (row.site, row.container_no) == ("s", "MSCU1234565")
    assert (row.started_at, row.ended_at) == (T0, END)
    assert (row.start_event_id, row.end_event_id, row.vehicle_plate) == ("E1", "E2", "鲁B12345")
