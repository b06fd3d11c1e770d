"""``/api/v1/users`` and ``PUT /api/v1/auth/password``: admins create, disable, enable and
re-role the users of their subtree and grant them cameras (Art. 8–10), every change an audit
line; a user changes their own password, a wrong current one counting towards lockout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central.api import create_app
from central.db import Audit, Database
from central.db.models import AuthSession, User
from central.settings import Settings
from tests.central_tree import ApiWorld, add_tree, add_users

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse battery staple"
USERS = {"nat-admin": ("admin", "national"), "qd-admin": ("admin", "b-qd"),
         "qd-mon": ("monitor", "b-qd"), "xm-admin": ("admin", "b-xm")}  # fmt: skip


class World(ApiWorld):
    """Also signs in with any password."""

    def sign_in(self, user: str, password: str = PASSWORD) -> Any:
        return self.client.post("/api/v1/auth/token", data={"username": user, "password": password})

    def login(self, user: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.sign_in(user, password)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def world(central_settings: Settings, central_db: Database) -> Iterator[World]:
    with central_db.session() as session:
        add_tree(session, "seed")
        add_users(session, USERS, PASSWORD)
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as client:
        w = World(client, central_db, {})
        w.headers = {user: w.login(user) for user in USERS}
        yield w


def _actions(db: Database, target: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    with db.session() as session:
        rows = session.execute(
            select(Audit.actor, Audit.action, Audit.detail)
            .where(Audit.target == target, Audit.actor != "seed")
            .where(Audit.action.like("user.%") | Audit.action.like("grant.%"))
            .order_by(Audit.id)
        )
        return [(r.actor, r.action, r.detail) for r in rows]


def test_an_admin_creates_a_user_of_their_subtree_who_can_then_sign_in(world: World) -> None:
    body = {"username": "qd-mon2", "role": "monitor", "org": "b-qd", "password": PASSWORD}
    response = world.call("qd-admin", "POST", "/api/v1/users", body)
    assert response.status_code == 201, response.text
    assert response.json() | {"created_at": None} == {
        "username": "qd-mon2", "role": "monitor", "org": "b-qd", "org_name": "青岛分支局",
        "disabled": False, "created_at": None, "grants": 0,
    }  # fmt: skip
    assert world.sign_in("qd-mon2").status_code == 200
    assert _actions(world.db, "qd-mon2") == [
        ("qd-admin", "user.add", {"role": "monitor", "org": "b-qd"})
    ]
    assert world.call("qd-admin", "POST", "/api/v1/users", body).status_code == 409
    names = [u["username"] for u in world.call("qd-admin", "GET", "/api/v1/users").json()["items"]]
    assert names == ["qd-admin", "qd-mon", "qd-mon2"]


def test_users_beyond_the_subtree_are_not_confirmed_to_exist(world: World) -> None:
    body = {"username": "sneaky", "role": "admin", "org": "p-sd", "password": PASSWORD}
    assert world.call("qd-admin", "POST", "/api/v1/users", body).status_code == 404
    assert world.call("qd-admin", "GET", "/api/v1/users/xm-admin").status_code == 404
    assert world.call("qd-admin", "GET", "/api/v1/users/nobody").status_code == 404
    patch = {"disabled": True}
    assert world.call("qd-admin", "PATCH", "/api/v1/users/nat-admin", patch).status_code == 404
    assert world.sign_in("nat-admin").status_code == 200
    assert world.call("qd-mon", "GET", "/api/v1/users").status_code == 403


def test_bad_user_bodies_are_refused_with_a_reason(world: World) -> None:
    short = {"username": "x", "role": "monitor", "org": "b-qd", "password": "short"}
    response = world.call("nat-admin", "POST", "/api/v1/users", short)
    assert response.status_code == 422 and "password" in response.text
    odd = {"username": "a b", "role": "monitor", "org": "b-qd", "password": PASSWORD}
    assert world.call("nat-admin", "POST", "/api/v1/users", odd).status_code == 422
    boss = {"username": "boss", "role": "superuser", "org": "b-qd", "password": PASSWORD}
    assert world.call("nat-admin", "POST", "/api/v1/users", boss).status_code == 422
    nul = {"username": "nul", "role": "monitor", "org": "\x00", "password": PASSWORD}
    assert world.call("nat-admin", "POST", "/api/v1/users", nul).status_code == 422
    nul_move = {"org": "\x00"}
    assert world.call("nat-admin", "PATCH", "/api/v1/users/qd-mon", nul_move).status_code == 422
    extra = {"disabled": True, "password": "x"}
    assert world.call("nat-admin", "PATCH", "/api/v1/users/qd-mon", extra).status_code == 422


def test_disabling_a_user_ends_their_sessions_and_enabling_lets_them_back(world: World) -> None:
    monitor = world.headers["qd-mon"]
    assert world.client.get("/api/v1/clips", headers=monitor).status_code == 200
    response = world.call("qd-admin", "PATCH", "/api/v1/users/qd-mon", {"disabled": True})
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert world.client.get("/api/v1/clips", headers=monitor).status_code == 401
    assert world.sign_in("qd-mon").status_code == 401
    with world.db.session() as session:
        user_id = session.scalar(select(User.id).where(User.username == "qd-mon"))
        live = select(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
        )
        assert session.scalars(live).all() == []
    assert world.call("qd-admin", "PATCH", "/api/v1/users/qd-mon", {"disabled": False}).json()[
        "disabled"
    ] is False  # fmt: skip
    assert world.sign_in("qd-mon").status_code == 200
    actions = [(actor, action) for actor, action, _ in _actions(world.db, "qd-mon")]
    assert actions == [("qd-admin", "user.disable"), ("qd-admin", "user.enable")]


def test_an_admin_can_neither_disable_nor_demote_themselves(world: World) -> None:
    for patch in ({"disabled": True}, {"role": "monitor"}):
        response = world.call("qd-admin", "PATCH", "/api/v1/users/qd-admin", patch)
        assert response.status_code == 409, patch
    assert world.call("qd-admin", "GET", "/api/v1/users/qd-admin").json()["role"] == "admin"
    promoted = world.call("qd-admin", "PATCH", "/api/v1/users/qd-mon", {"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert _actions(world.db, "qd-mon")[-1] == (
        "qd-admin", "user.role", {"role": "admin", "was": "monitor"}
    )  # fmt: skip


def test_a_grant_shows_a_monitor_the_camera_and_its_revocation_hides_it(world: World) -> None:
    url = "/api/v1/users/qd-mon/grants/sd-1/c1"
    cameras = "/api/v1/sites/sd-1/cameras"
    assert world.call("qd-mon", "GET", cameras).status_code == 404
    response = world.call("qd-admin", "PUT", url)
    assert response.status_code == 200 and response.json()["camera_name"] == "sd-1 c1"
    assert world.call("qd-admin", "PUT", url).status_code == 200  # idempotent
    assert [c["camera"] for c in world.call("qd-mon", "GET", cameras).json()] == ["c1"]
    grants = world.call("qd-admin", "GET", "/api/v1/users/qd-mon/grants").json()
    assert [(g["site"], g["camera"], g["granted_by"]) for g in grants] == [
        ("sd-1", "c1", "qd-admin")
    ]
    assert world.call("qd-admin", "GET", "/api/v1/users/qd-mon").json()["grants"] == 1
    assert world.call("qd-admin", "DELETE", url).status_code == 204
    assert world.call("qd-admin", "DELETE", url).status_code == 404
    assert world.call("qd-mon", "GET", cameras).status_code == 404
    assert [a for _, a, _ in _actions(world.db, "qd-mon")] == ["grant.add", "grant.revoke"]


def test_grants_stay_inside_both_scopes(world: World) -> None:
    # a camera beyond the admin's subtree: not confirmed to exist
    assert world.call("qd-admin", "PUT", "/api/v1/users/qd-mon/grants/fj-1/c1").status_code == 404
    # the national admin sees it, but it lies outside the monitor's own unit
    response = world.call("nat-admin", "PUT", "/api/v1/users/qd-mon/grants/fj-1/c1")
    assert response.status_code == 422 and "outside" in response.text
    assert world.call("nat-admin", "PUT", "/api/v1/users/qd-mon/grants/sd-1/c9").status_code == 404


def test_a_user_changes_their_password_and_other_sessions_end(world: World) -> None:
    other = world.login("qd-mon")
    mine = world.headers["qd-mon"]
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = world.client.put("/api/v1/auth/password", headers=mine, json=body)
    assert response.status_code == 204, response.text
    assert world.client.get("/api/v1/clips", headers=mine).status_code == 200
    assert world.client.get("/api/v1/clips", headers=other).status_code == 401
    assert world.sign_in("qd-mon").status_code == 401
    assert world.sign_in("qd-mon", NEW_PASSWORD).status_code == 200
    detail = _actions(world.db, "qd-mon")[-1]
    assert detail[:2] == ("qd-mon", "user.password") and detail[2]["sessions_ended"] == 1  # type: ignore[index]


def test_a_wrong_current_password_counts_towards_lockout(world: World) -> None:
    mine = world.headers["qd-mon"]
    wrong = {"current_password": "not the password at all", "new_password": NEW_PASSWORD}
    codes = [
        world.client.put("/api/v1/auth/password", headers=mine, json=wrong).status_code
        for _ in range(6)
    ]
    assert codes[0] == 403 and codes[-1] == 429, codes
    assert world.sign_in("qd-mon").status_code == 429  # the user name is locked
    short = {"current_password": PASSWORD, "new_password": "short"}
    assert world.client.put("/api/v1/auth/password", headers=mine, json=short).status_code == 429
    with world.db.session() as session:
        fails = session.scalars(
            select(Audit.detail).where(Audit.action == "auth.fail", Audit.target == "qd-mon")
        ).all()
    assert {"reason": "password", "client": "testclient"} in fails


def test_an_unacceptable_new_password_changes_nothing(world: World) -> None:
    mine = world.headers["qd-admin"]
    for new in ("short", PASSWORD):
        body = {"current_password": PASSWORD, "new_password": new}
        assert world.client.put("/api/v1/auth/password", headers=mine, json=body).status_code == 422
    assert world.sign_in("qd-admin").status_code == 200


def test_an_admin_resets_a_forgotten_password_and_lifts_the_lockout(world: World) -> None:
    for _ in range(5):
        assert world.sign_in("qd-mon", "not the password at all").status_code in (401, 429)
    assert world.sign_in("qd-mon").status_code == 429  # locked
    url, body = "/api/v1/users/qd-mon/password", {"new_password": NEW_PASSWORD}
    assert world.call("qd-admin", "PUT", url, body).status_code == 204
    assert world.client.get("/api/v1/clips", headers=world.headers["qd-mon"]).status_code == 401
    assert world.sign_in("qd-mon").status_code == 401
    assert world.sign_in("qd-mon", NEW_PASSWORD).status_code == 200
    assert _actions(world.db, "qd-mon")[-1] == (
        "qd-admin", "user.password_reset", {"sessions_ended": 1, "unlocked": True}
    )  # fmt: skip
    short = {"new_password": "short"}
    assert world.call("qd-admin", "PUT", url, short).status_code == 422
    assert world.call("qd-admin", "PUT", "/api/v1/users/qd-admin/password", body).status_code == 409
    assert world.call("xm-admin", "PUT", url, body).status_code == 404
    monitor = world.login("qd-mon", NEW_PASSWORD)
    assert world.client.put(url, headers=monitor, json=body).status_code == 403


def test_moving_a_user_keeps_only_the_grants_inside_their_new_unit(world: World) -> None:
    assert world.call("nat-admin", "PUT", "/api/v1/users/qd-mon/grants/sd-1/c1").status_code == 200
    move = {"org": "b-xm"}
    assert world.call("qd-admin", "PATCH", "/api/v1/users/qd-mon", move).status_code == 404
    assert world.call("qd-admin", "PATCH", "/api/v1/users/qd-admin", move).status_code == 409
    response = world.call("nat-admin", "PATCH", "/api/v1/users/qd-mon", move)
    assert response.status_code == 200, response.text
    assert (response.json()["org"], response.json()["grants"]) == ("b-xm", 0)
    assert world.call("qd-admin", "GET", "/api/v1/users/qd-mon").status_code == 404
    assert world.call("xm-admin", "GET", "/api/v1/users/qd-mon").json()["org_name"] == "厦门分支局"
    assert _actions(world.db, "qd-mon")[-1] == ("nat-admin", "user.move", {"org": "b-xm"})
    itself = world.call("nat-admin", "PATCH", "/api/v1/users/nat-admin", {"org": "p-sd"})
    assert itself.status_code == 409
    nowhere = world.call("nat-admin", "PATCH", "/api/v1/users/qd-admin", {"org": "nowhere"})
    assert nowhere.status_code == 404
