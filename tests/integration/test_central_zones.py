"""``/api/v1/sites/{id}/zones`` and ``/api/v1/sites/{id}/cameras/{camera}/zone``: zones are
read like their site, created and assigned by admins within their scope, every change an
audit line; a camera only ever lies in a zone of its own site."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from central import orgs
from central.api import create_app
from central.db import Audit, Database
from central.db.models import Camera, Zone
from central.settings import Settings
from tests.central_tree import ApiWorld, add_tree, add_users, bearer_headers

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
USERS = {"nat-admin": ("admin", "national"), "sd-admin": ("admin", "p-sd"),
         "qd-admin": ("admin", "b-qd"), "qd-mon": ("monitor", "b-qd"),
         "xm-admin": ("admin", "b-xm")}  # fmt: skip
ZONES = "/api/v1/sites/{}/zones"
CAMERA_ZONE = "/api/v1/sites/{}/cameras/{}/zone"


World = ApiWorld


@pytest.fixture
def world(central_settings: Settings, central_db: Database) -> Iterator[World]:
    with central_db.session() as session:
        add_tree(session, "seed")
        add_users(session, USERS, PASSWORD)
        orgs.grant_camera(session, "qd-mon", "sd-1", "c1", "seed")
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as client:
        yield World(client, central_db, bearer_headers(client, USERS, PASSWORD))


def _lines(db: Database, action: str) -> list[Audit]:
    with db.session() as session:
        return list(session.scalars(select(Audit).where(Audit.action == action).order_by(Audit.id)))


def _zone_count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Zone)) or 0)


def _add(world: World, user: str, site: str, code: str, name: str = "装货口") -> Any:
    return world.call(user, "POST", ZONES.format(site), {"code": code, "name": name})


def test_an_admin_adds_a_zone_and_everyone_of_the_site_lists_it(world: World) -> None:
    response = _add(world, "qd-admin", "sd-1", "dock", " 装货口 ")
    assert response.status_code == 201, response.text
    zone = response.json()
    assert zone == {"id": zone["id"], "site": "sd-1", "code": "dock", "name": "装货口",
                    "cameras": []}  # fmt: skip
    for user in ("nat-admin", "sd-admin", "qd-admin", "qd-mon"):
        listed = world.call(user, "GET", ZONES.format("sd-1"))
        assert listed.status_code == 200 and listed.json() == [zone], user
    assert world.call("xm-admin", "GET", ZONES.format("sd-1")).status_code == 404
    assert world.call("nat-admin", "GET", ZONES.format("nowhere")).status_code == 404
    (line,) = _lines(world.db, "zone.add")
    assert (line.actor, line.target, line.detail) == (
        "qd-admin", "sd-1/dock", {"id": zone["id"], "name": "装货口"}
    )  # fmt: skip
    # the line is about a site of Qingdao: Xiamen's admin does not read it
    for user, sees in (("sd-admin", True), ("xm-admin", False)):
        items = world.call(user, "GET", "/api/v1/audit?action=zone.add").json()["items"]
        assert bool(items) == sees, user


@pytest.mark.parametrize(
    ("user", "site", "body", "code", "problem"),
    [
        ("qd-admin", "sd-1", {"code": "dock", "name": "again"}, 409, "has a zone 'dock'"),
        ("qd-mon", "sd-1", {"code": "gate", "name": "x"}, 403, "only admins"),
        ("xm-admin", "sd-1", {"code": "gate", "name": "x"}, 404, "no site 'sd-1'"),
        ("nat-admin", "nowhere", {"code": "gate", "name": "x"}, 404, "no site 'nowhere'"),
        ("qd-admin", "sd-1", {"code": "a b", "name": "x"}, 422, "pattern"),
        ("qd-admin", "sd-1", {"code": "gate", "name": "   "}, 422, "blank"),
        ("qd-admin", "sd-1", {"code": "gate", "name": "x", "id": 7}, 422, "extra"),
        ("qd-admin", "sd-1", {"code": "gate"}, 422, "missing"),
    ],
)
def test_zone_creation_refusals(
    world: World, user: str, site: str, body: dict[str, Any], code: int, problem: str
) -> None:
    assert _add(world, "qd-admin", "sd-1", "dock").status_code == 201
    response = world.call(user, "POST", ZONES.format(site), body)
    assert response.status_code == code and problem in response.text, response.text
    assert _zone_count(world.db) == 1
    assert len(_lines(world.db, "zone.add")) == 1


def test_a_camera_goes_into_a_zone_of_its_own_site_only(world: World) -> None:
    dock = _add(world, "qd-admin", "sd-1", "dock").json()["id"]
    cold = _add(world, "qd-admin", "sd-1", "cold", "冷库").json()["id"]
    elsewhere = _add(world, "xm-admin", "fj-1", "dock").json()["id"]
    url = CAMERA_ZONE.format("sd-1", "c1")

    response = world.call("qd-admin", "PUT", url, {"zone_id": dock})
    assert response.status_code == 200, response.text
    assert response.json() == {"site": "sd-1", "camera": "c1", "name": "sd-1 c1",
                               "zone": "dock", "ptz": False}  # fmt: skip
    cameras = world.call("qd-mon", "GET", "/api/v1/sites/sd-1/cameras").json()
    assert [(c["camera"], c["zone"]) for c in cameras] == [("c1", "dock")]
    other = world.call("sd-admin", "PUT", CAMERA_ZONE.format("sd-1", "c2"), {"zone_id": dock})
    assert other.status_code == 200 and other.json()["zone"] == "dock"
    zones = world.call("qd-admin", "GET", ZONES.format("sd-1")).json()
    assert [(z["code"], z["cameras"]) for z in zones] == [("cold", []), ("dock", ["c1", "c2"])]
    mine = world.call("qd-mon", "GET", ZONES.format("sd-1")).json()  # the granted camera only
    assert [(z["code"], z["cameras"]) for z in mine] == [("cold", []), ("dock", ["c1"])]

    for zone_id in (elsewhere, 999_999):  # another site's zone, or none at all: alike
        refused = world.call("qd-admin", "PUT", url, {"zone_id": zone_id})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == f"zone {zone_id} is not a zone of site 'sd-1'"
    with world.db.session() as session:
        camera = session.get(Camera, ("sd-1", "c1"))
        assert camera is not None and camera.zone_id == dock

    assert world.call("qd-admin", "PUT", url, {"zone_id": cold}).json()["zone"] == "cold"
    assert world.call("qd-admin", "PUT", url, {"zone_id": None}).json()["zone"] is None
    assert world.call("qd-admin", "PUT", url, {"zone_id": None}).status_code == 200  # no change
    lines = [(a.actor, a.target, a.detail) for a in _lines(world.db, "camera.zone")]
    assert lines == [
        ("qd-admin", "sd-1/c1", {"zone": "dock", "was": None}),
        ("sd-admin", "sd-1/c2", {"zone": "dock", "was": None}),
        ("qd-admin", "sd-1/c1", {"zone": "cold", "was": "dock"}),
        ("qd-admin", "sd-1/c1", {"zone": None, "was": "cold"}),
    ]


@pytest.mark.parametrize(
    ("user", "url", "body", "code"),
    [
        ("qd-mon", CAMERA_ZONE.format("sd-1", "c1"), {"zone_id": None}, 403),
        ("xm-admin", CAMERA_ZONE.format("sd-1", "c1"), {"zone_id": None}, 404),
        ("qd-admin", CAMERA_ZONE.format("sd-1", "c9"), {"zone_id": None}, 404),
        ("qd-admin", CAMERA_ZONE.format("nowhere", "c1"), {"zone_id": None}, 404),
        ("qd-admin", CAMERA_ZONE.format("sd-1", "c1"), {}, 422),
        ("qd-admin", CAMERA_ZONE.format("sd-1", "c1"), {"zone_id": 0}, 422),
        ("qd-admin", CAMERA_ZONE.format("sd-1", "c1"), {"zone_id": 2**40}, 422),
        ("qd-admin", CAMERA_ZONE.format("sd-1", "c1"), {"zone_id": "dock"}, 422),
    ],
)
def test_camera_zone_refusals(
    world: World, user: str, url: str, body: dict[str, Any], code: int
) -> None:
    response = world.call(user, "PUT", url, body)
    assert response.status_code == code, response.text
    assert not _lines(world.db, "camera.zone")
