"""``POST /api/v1/orgs``, ``/sites`` and ``/sites/{id}/cameras``: admins grow the tree of their
subtree, each addition an audit line; bad input is refused with a reason; registering a site
id that already sent data hands the data to the site's unit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central.api import create_app
from central.db import Audit, Database
from central.ingest import IngestService
from central.settings import Settings
from tests.central_messages import event_msg
from tests.central_tree import ApiWorld, add_units, add_users, bearer_headers
from wire import codec, topics

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
USERS = {"nat-admin": ("admin", "national"), "sd-admin": ("admin", "p-sd"),
         "qd-admin": ("admin", "b-qd"), "qd-mon": ("monitor", "b-qd")}  # fmt: skip


World = ApiWorld


@pytest.fixture
def world(central_settings: Settings, central_db: Database) -> Iterator[World]:
    with central_db.session() as session:
        add_units(session, "seed")
        add_users(session, USERS, PASSWORD)
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as client:
        yield World(client, central_db, bearer_headers(client, USERS, PASSWORD))


def _audit(db: Database) -> list[tuple[str, str, str | None]]:
    with db.session() as session:
        rows = session.execute(
            select(Audit.actor, Audit.action, Audit.target)
            .where(Audit.actor != "seed", Audit.action.in_(("org.add", "site.add", "camera.add")))
            .order_by(Audit.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_provincial_admin_adds_a_branch_a_site_and_its_camera(world: World) -> None:
    unit = {"code": "b-yt", "name": "烟台分支局", "parent": "p-sd"}
    response = world.call("sd-admin", "POST", "/api/v1/orgs", unit)
    assert response.status_code == 201, response.text
    assert response.json() == {"code": "b-yt", "name": "烟台分支局", "level": 3, "parent": "p-sd"}
    site = {"id": "yt-1", "org": "b-yt", "enterprise_name": "烟台海洋食品有限公司",
            "registration_no": "3706/02001", "address": "烟台市芝罘区",
            "location_code": "370602"}  # fmt: skip
    response = world.call("sd-admin", "POST", "/api/v1/sites", site)
    assert response.status_code == 201, response.text
    assert response.json() == site
    camera = {"camera": "cam-1", "name": "装货口", "ptz": True}
    response = world.call("sd-admin", "POST", "/api/v1/sites/yt-1/cameras", camera)
    assert response.status_code == 201, response.text
    assert response.json() == {"site": "yt-1", "camera": "cam-1", "name": "装货口", "zone": None,
                               "ptz": True}  # fmt: skip
    listed = world.call("sd-admin", "GET", "/api/v1/sites/yt-1/cameras").json()
    assert [c["camera"] for c in listed] == ["cam-1"]
    assert world.call("qd-admin", "GET", "/api/v1/sites/yt-1").status_code == 404
    assert _audit(world.db) == [("sd-admin", "org.add", "b-yt"), ("sd-admin", "site.add", "yt-1"),
                                ("sd-admin", "camera.add", "yt-1/cam-1")]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "body", "code", "words"),
    [
        ("/api/v1/orgs", {"code": "b x", "name": "坏", "parent": "p-sd"}, 422, "code"),
        ("/api/v1/orgs", {"code": "b-x", "name": "  ", "parent": "p-sd"}, 422, "name"),
        ("/api/v1/orgs", {"code": "b-x", "name": "x", "parent": "b-qd"}, 409, "cannot have units"),
        ("/api/v1/orgs", {"code": "b-qd", "name": "x", "parent": "p-sd"}, 409, "exists already"),
        ("/api/v1/sites", {"id": "s/1", "org": "b-qd", "enterprise_name": "x"}, 422, "id"),
        ("/api/v1/sites", {"id": "s-1", "org": "p-sd", "enterprise_name": "x"}, 409, "branch"),
        (
            "/api/v1/sites",
            {"id": "s-1", "org": "b-qd", "enterprise_name": "x", "extra": 1},
            422,
            "extra",
        ),
        ("/api/v1/sites/nowhere/cameras", {"camera": "c1", "name": "x"}, 404, "no site"),
        ("/api/v1/orgs", {"code": "b-x", "name": "x", "parent": "\x00"}, 422, "parent"),
        (
            "/api/v1/sites",
            {"id": "s-1", "org": "b-qd", "enterprise_name": "x", "registration_no": "\x00"},
            422,
            "registration_no",
        ),
    ],
)
def test_bad_additions_are_refused_with_a_reason(
    world: World, url: str, body: dict[str, Any], code: int, words: str
) -> None:
    response = world.call("nat-admin", "POST", url, body)
    assert response.status_code == code, response.text
    assert words in response.text
    assert _audit(world.db) == []


def test_registering_a_site_that_sent_data_hands_its_data_to_the_unit(
    world: World, ingest: IngestService
) -> None:
    ingest.handle(topics.up("early", "edge-early", "event"), codec.encode(event_msg(seq=1)))
    body = {"id": "early", "org": "b-qd", "enterprise_name": "先行水产"}
    refused = world.call("qd-admin", "POST", "/api/v1/sites", body)
    assert refused.status_code == 409 and "national admin" in refused.text
    assert world.call("qd-admin", "GET", "/api/v1/events?site=early").json()["items"] == []
    assert world.call("nat-admin", "POST", "/api/v1/sites", body).status_code == 201
    events = world.call("qd-admin", "GET", "/api/v1/events?site=early").json()["items"]
    assert [e["site"] for e in events] == ["early"]
    assert world.call("qd-mon", "POST", "/api/v1/sites", body).status_code == 403
