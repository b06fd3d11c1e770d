"""``GET /api/v1/audit``: admins only, scoped to the admin's subtree, filtered, paginated,
and itself audited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central import audit, orgs
from central.api import create_app
from central.blobs import FileBlobStore
from central.db import Audit, Clip, Database
from central.db.models import Transfer
from central.db.types import utcnow
from central.retention import Periods
from central.retention_sweep import Sweeper
from central.settings import Settings
from central.users import add_user

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
USERS = {  # name: (role, org)
    "nat-admin": ("admin", "national"),
    "sd-admin": ("admin", "p-sd"),
    "qd-admin": ("admin", "b-qd"),
    "qd-mon": ("monitor", "b-qd"),
    "xm-admin": ("admin", "b-xm"),
}
# Lines about things, each (action, target), and who below national may read them.
QD = {"qd-admin", "sd-admin"}
XM = {"xm-admin"}
SEEDED: dict[tuple[str, str | None], set[str]] = {
    ("org.add", "p-sd"): {"sd-admin"},
    ("org.add", "b-qd"): QD,
    ("org.add", "p-fj"): set(),
    ("org.add", "b-xm"): XM,
    ("site.add", "q_1"): QD,
    ("site.add", "qx1"): XM,
    ("camera.add", "q_1/c1"): QD,
    ("camera.add", "qx1/c1"): XM,  # "q_1" as a LIKE pattern would match "qx1"
    ("device.trust", "q_1/edge-1"): QD,
    ("ca.revoke", "q_1/edge-1"): QD,
    ("ca.revoke", "server"): set(),
    ("clip.view", "clip-q"): QD,
    ("clip.video", "clip-x"): XM,
    ("transfer.reject", "file-q"): QD,
    ("user.add", "nat-admin"): set(),
    ("user.add", "sd-admin"): {"sd-admin"},
    ("user.add", "qd-admin"): QD,
    ("user.add", "qd-mon"): QD,
    ("grant.add", "qd-mon"): QD,
    ("user.add", "xm-admin"): XM,
    ("auth.fail", "qd-mon"): QD,
    ("auth.rate_limited", "qd-mon"): set(),  # the target is an address, not a user
    ("terminal.add", "qd-admin"): set(),  # the target is a terminal, not a user
    ("import.sites", "sites.csv"): set(),
    ("site.add", "loose"): set(),  # a site registered under no unit
}


def _seed(db: Database) -> None:
    with db.session() as session:
        orgs.add_unit(session, "p-sd", "山东局", "national", "seed")
        orgs.add_unit(session, "b-qd", "青岛分支局", "p-sd", "seed")
        orgs.add_unit(session, "p-fj", "福建局", "national", "seed")
        orgs.add_unit(session, "b-xm", "厦门分支局", "p-fj", "seed")
        orgs.add_site(session, "q_1", "b-qd", "青岛水产", "seed")
        orgs.add_site(session, "qx1", "b-xm", "厦门水产", "seed")
        orgs.add_camera(session, "q_1", "c1", "装货口", "seed")
        orgs.add_camera(session, "qx1", "c1", "装货口", "seed")
        for name, (role, org) in USERS.items():
            add_user(session, name, PASSWORD, role, "seed", org=org)
        orgs.grant_camera(session, "qd-mon", "q_1", "c1", "seed")
        now = utcnow()
        for clip_id, site in (("clip-q", "q_1"), ("clip-x", "qx1")):
            session.add(Clip(id=clip_id, site=site, device="edge-1", camera="c1", kind="clip",
                             name="c.mp4", size=1, sha256="0" * 64, start=now,
                             end=now + timedelta(seconds=5), event_ids=[], seq=1,
                             clock_synced=True))  # fmt: skip
        session.add(Transfer(file_id="file-q", site="q_1", device="edge-1", init={}, ranges=[],
                             state="rejected"))  # fmt: skip
        session.flush()
        done = {(row.action, row.target) for row in session.scalars(select(Audit))}
        for action, target in SEEDED:
            if (action, target) not in done:
                audit.append(session, "seed", action, target)
        session.commit()


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]  # user -> Authorization header (every user signed in)


@pytest.fixture
def world(central_settings: Settings, central_db: Database) -> Iterator[World]:
    _seed(central_db)
    with TestClient(create_app(central_settings, central_db)) as client:
        headers = {}
        for user in USERS:
            response = client.post(
                "/api/v1/auth/token", data={"username": user, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            headers[user] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        yield World(client, headers)


def _all(world: World, user: str, query: str = "", limit: int = 500) -> list[dict[str, Any]]:
    """Every page of /audit?query, checking the pages do not overlap."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/api/v1/audit?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = world.client.get(url, headers=world.headers[user])
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    ids = [item["id"] for item in items]
    assert ids == sorted(set(ids), reverse=True)
    return items


@pytest.mark.parametrize("user", ["nat-admin", "sd-admin", "qd-admin", "xm-admin"])
def test_admin_reads_exactly_their_subtree(world: World, user: str) -> None:
    items = _all(world, user)
    seen = {(i["action"], i["target"]) for i in items if i["actor"] == "seed"}
    if user == "nat-admin":
        assert seen == set(SEEDED)
    else:
        assert seen == {line for line, readers in SEEDED.items() if user in readers}
    # lines by users: a user's own and their subtree's sign-ins, never another subtree's
    actors = {i["actor"] for i in items if i["action"] == "auth.login"}
    assert user in actors
    assert ("xm-admin" in actors) == (user in ("nat-admin", "xm-admin"))


def test_a_monitor_is_refused_and_anonymous_is_unauthorized(world: World) -> None:
    response = world.client.get("/api/v1/audit", headers=world.headers["qd-mon"])
    assert response.status_code == 403
    assert "admins" in response.json()["detail"]
    assert world.client.get("/api/v1/audit").status_code == 401


def test_reading_is_audited_and_supervisors_see_it(world: World) -> None:
    response = world.client.get(
        "/api/v1/audit?action=clip.view&limit=7", headers=world.headers["qd-admin"]
    )
    assert response.status_code == 200
    views = _all(world, "sd-admin", "action=audit.view")
    mine = [v for v in views if v["actor"] == "qd-admin"]
    assert len(mine) == 1
    assert mine[0]["detail"] == {"action": "clip.view", "rows": 1, "continued": False}
    assert mine[0]["target"] is None
    assert not _all(world, "xm-admin", "actor=qd-admin")


def test_filters_and_pagination(world: World) -> None:
    everything = _all(world, "nat-admin")
    by_pages = _all(world, "nat-admin", limit=3)
    assert len(everything) > 20
    assert [i for i in by_pages if i["id"] <= everything[0]["id"]] == everything
    assert {i["action"] for i in _all(world, "nat-admin", "action=org.add")} == {"org.add"}
    assert {i["actor"] for i in _all(world, "nat-admin", "actor=qd-mon")} == {"qd-mon"}
    seed = _all(world, "nat-admin", "actor=seed")
    middle = datetime.fromisoformat(seed[len(seed) // 2]["at"])
    at = quote(middle.isoformat())
    later = _all(world, "nat-admin", f"actor=seed&start={at}")
    earlier = _all(world, "nat-admin", f"actor=seed&end={at}")
    assert later and all(datetime.fromisoformat(i["at"]) >= middle for i in later)
    assert all(datetime.fromisoformat(i["at"]) < middle for i in earlier)
    assert len(later) + len(earlier) == len(seed)


def test_bad_queries(world: World) -> None:
    window = "start=2026-11-27T10:00:00%2B08:00&end=2026-11-27T09:00:00%2B08:00"
    for query, code in (("cursor=nonsense", 400), (window, 422),
                        ("start=2026-11-27T10:00:00", 422), ("limit=501", 422),
                        ("actor=a%00b", 400), ("action=%00", 400)):  # fmt: skip
        response = world.client.get(f"/api/v1/audit?{query}", headers=world.headers["nat-admin"])
        assert response.status_code == code, (query, response.text)


def test_the_chain_still_verifies(world: World, central_db: Database) -> None:
    _all(world, "qd-admin")
    with central_db.session() as session:
        assert audit.verify_chain(session).ok


def test_clip_deletions_stay_visible_to_the_subtree_of_the_clips_site(
    world: World, central_db: Database, central_settings: Settings
) -> None:
    """The sweep's ``clip.delete`` lines are scoped by the site they record (the clip is gone,
    there is nothing to look up): the admins of that site's subtree still read them, nobody
    else does. A recorded site rules over a clip of that id that exists elsewhere."""
    now = utcnow()
    with central_db.session() as session:
        for clip_id, site in (("gone-q", "q_1"), ("gone-x", "qx1")):
            session.add(Clip(id=clip_id, site=site, device="edge-1", camera="c1", kind="clip",
                             name="g.mp4", size=1, sha256="1" * 64, start=now,
                             end=now + timedelta(seconds=5), event_ids=[], seq=2,
                             clock_synced=True, received_at=now - timedelta(days=400),
                             retain_until=now - timedelta(days=1)))  # fmt: skip
        session.commit()
    periods = Periods(standard_days=180, anomaly_days=1096, evidence_days=0)
    report = Sweeper(central_db, FileBlobStore(central_settings.data_dir), periods).run()
    assert report.deleted == 2
    with central_db.session() as session:  # a line naming Qingdao's live clip, about Xiamen
        audit.append(session, "retention", "clip.delete", "clip-q", {"site": "qx1"})
        session.commit()
    readers = {"nat-admin": {"gone-q", "gone-x", "clip-q"}, "sd-admin": {"gone-q"},
               "qd-admin": {"gone-q"}, "xm-admin": {"gone-x", "clip-q"}}  # fmt: skip
    for user, expected in readers.items():
        lines = _all(world, user, "action=clip.delete")
        assert {line["target"] for line in lines} == expected, user
        assert all(line["actor"] == "retention" for line in lines)
