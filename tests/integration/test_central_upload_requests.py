"""``/api/v1/sites/{id}/upload-requests`` refusals: each bad request gets a 4xx that names
the problem, and none of them queues a command; the box asked is the one heard from last, or
the site's device the request names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from central.api import create_app
from central.db import Database
from central.db.models import Audit, Command, Device
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import DEVICE, SITE, T0, event_msg, send_event

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
URL = f"/api/v1/sites/{SITE}/upload-requests"


@pytest.fixture
def api(central_settings: Settings, central_db: Database) -> Iterator[TestClient]:
    with central_db.session() as session:
        add_user(session, "nat", PASSWORD, "admin", actor="test")
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as client:
        form = {"username": "nat", "password": PASSWORD}
        token = client.post("/api/v1/auth/token", data=form).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _body(seconds: float = 60, **extra: object) -> dict[str, object]:
    return {"camera": "cam-1", "start": T0.isoformat(),
            "end": (T0 + timedelta(seconds=seconds)).isoformat(), **extra}  # fmt: skip


def _queued(db: Database) -> int:
    with db.session() as session:
        return int(session.execute(select(func.count()).select_from(Command)).scalar_one())


def test_no_box_has_reported_yet(api: TestClient, central_db: Database) -> None:
    response = api.post(URL, json=_body())
    assert response.status_code == 409 and "no box has reported" in response.json()["detail"]
    assert _queued(central_db) == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (_body(0), "end must be after start"),
        (_body(1801), "too long"),
        ({**_body(), "end": "2026-11-27T08:01:00"}, "timezone"),
        (_body(reason="\ud800"), "surrogate"),
        (_body(reason="   "), "blank"),
        ({**_body(), "camera": "../etc"}, "pattern"),
        (_body(device="../etc"), "pattern"),
        (_body(device=""), "at least 1 character"),
        (_body(device="edge-9"), "device 'edge-9' is not a device of site 'site-1'"),
        (_body(device="edge-2"), "device 'edge-2' is not a device of site 'site-1'"),
    ],
)
def test_a_bad_request_is_refused_with_its_reason(
    api: TestClient, ingest: IngestService, central_db: Database, body: dict, problem: str
) -> None:
    send_event(ingest, event_msg(seq=1))  # the box has reported
    with central_db.session() as session:  # a box of another site
        session.add(Device(site_id="site-2", device_id="edge-9", last_seen=T0))
        session.commit()
    raw = json.dumps(body)  # ASCII: a lone surrogate travels as its \u escape
    response = api.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert problem in response.text
    assert _queued(central_db) == 0


def test_a_good_request_is_queued_once(
    api: TestClient, ingest: IngestService, central_db: Database
) -> None:
    send_event(ingest, event_msg(seq=1))
    response = api.post(URL, json=_body(reason="复查"))
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["camera"], body["reason"]) == ("queued", "cam-1", "复查")
    assert api.get(f"/api/v1/upload-requests/{body['id']}").json()["status"] == "queued"
    assert _queued(central_db) == 1


def _boxes(db: Database) -> None:
    """Two boxes at the site: edge-1 heard from last, edge-2 an hour before."""
    with db.session() as session:
        session.add(Device(site_id=SITE, device_id=DEVICE, last_seen=T0))
        session.add(Device(site_id=SITE, device_id="edge-2", last_seen=T0 - timedelta(hours=1)))
        session.commit()


def _asked(db: Database) -> tuple[str, object]:
    """The device of the one queued command, and the device its audit line names."""
    with db.session() as session:
        (command,) = session.scalars(select(Command)).all()
        line = session.scalars(select(Audit).where(Audit.action == "upload_request.create")).one()
        return command.device, line.detail.get("device")


def test_without_a_device_the_box_heard_from_last_is_asked(
    api: TestClient, central_db: Database
) -> None:
    _boxes(central_db)
    response = api.post(URL, json=_body())
    assert response.status_code == 202 and response.json()["device"] == DEVICE
    assert _asked(central_db) == (DEVICE, DEVICE)


def test_a_request_may_name_the_box_of_the_site_to_ask(
    api: TestClient, central_db: Database
) -> None:
    _boxes(central_db)
    response = api.post(URL, json=_body(device="edge-2"))
    assert response.status_code == 202, response.text
    assert response.json()["device"] == "edge-2"
    assert _asked(central_db) == ("edge-2", "edge-2")
