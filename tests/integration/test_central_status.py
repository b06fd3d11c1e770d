"""``GET /api/v1/devices`` through FastAPI's TestClient: status, last seq, open gap alarms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from central.api import create_app
from central.blobs import FileBlobStore
from central.db import Database
from central.db.types import utcnow
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import DEVICE, SITE, event_msg, send_event

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"


@pytest.fixture
def client(central_settings: Settings, central_db: Database) -> Iterator[TestClient]:
    with central_db.session() as session:
        add_user(session, "mona", PASSWORD, "admin", actor="test")  # national: every site
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as test_client:
        yield test_client


def test_devices_route_shows_status_and_gap_alarms(
    client: TestClient, central_db: Database, blobs: FileBlobStore
) -> None:
    assert client.get("/api/v1/devices").status_code == 401
    now = [utcnow()]
    ingest = IngestService(central_db, blobs, seq_gap_grace_s=60, clock=lambda: now[0])
    send_event(ingest, event_msg(seq=1))
    send_event(ingest, event_msg(seq=4))
    now[0] += timedelta(seconds=61)
    ingest.check()
    token = client.post(
        "/api/v1/auth/token", data={"username": "mona", "password": PASSWORD}
    ).json()["access_token"]
    response = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    (device,) = response.json()
    assert (device["site"], device["device"], device["status"]) == (SITE, DEVICE, "online")
    assert device["last_seq"] == 4 and device["clock_synced"] is True
    assert [(a["kind"], a["detail"]) for a in device["alarms"]] == [
        ("seq_gap", {"from": 2, "to": 3})
    ]
