"""Every ``/api/v1`` route × role × org scope, from one table (DESIGN §6, Art. 4, 8–10).

The tree: national → Shandong (p-sd) → Qingdao (b-qd) → site ``sd-1`` (cameras c1, c2);
national → Fujian (p-fj) → Xiamen (b-xm) → site ``fj-1`` (c1); and ``loose``, a site that
sends data but is registered under no unit. Each site has one event per camera, one
camera-less event, one clip per camera and one device; each registered site has one zone,
``dock``, holding all its cameras (``tests/authz_world.py``). ``USERS`` says which (site,
camera) pairs each user sees; every route must agree with it. A route the table does not
know fails the test, so a new route cannot skip authorisation unnoticed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from central.db import Audit, Database
from central.db.models import OrgUnit, User
from central.db.types import utcnow
from tests.authz_tree import TREE_ROUTES
from tests.authz_users import USER_ROUTES
from tests.authz_world import (
    CAMERAS,
    UNITS,
    USERS,
    Pair,
    World,
    _admin_only,
    _send,
    world,
)

pytest_plugins = ["tests.central_fixtures"]
__all__ = ["world"]  # the module-scoped fixture every test of the table uses


def _pairs_of(items: list[dict[str, object]]) -> set[Pair]:
    return {(str(i["site"]), i["camera"]) for i in items}  # type: ignore[misc]


def check_events(world: World, user: str, sees: set[Pair]) -> None:
    items = world.get(user, "/api/v1/events?limit=500").json()["items"]  # type: ignore[attr-defined]
    assert _pairs_of(items) == sees
    for site in CAMERAS:  # a site filter cannot widen the scope
        items = world.get(user, f"/api/v1/events?site={site}").json()["items"]  # type: ignore[attr-defined]
        assert _pairs_of(items) == {p for p in sees if p[0] == site}


def check_clips(world: World, user: str, sees: set[Pair]) -> None:
    items = world.get(user, "/api/v1/clips?limit=500").json()["items"]  # type: ignore[attr-defined]
    assert _pairs_of(items) == {p for p in sees if p[1] is not None}


def check_clip_detail(world: World, user: str, sees: set[Pair], suffix: str) -> None:
    for pair, clip_id in world.clips.items():
        code = world.get(user, f"/api/v1/clips/{clip_id}{suffix}").status_code  # type: ignore[attr-defined]
        assert code == (200 if pair in sees else 404), (user, pair, suffix)


def check_devices(world: World, user: str, sees: set[Pair]) -> None:
    items = world.get(user, "/api/v1/devices").json()  # type: ignore[attr-defined]
    assert {d["site"] for d in items} == {site for site, _ in sees}


def check_sites(world: World, user: str, sees: set[Pair]) -> None:
    items = world.get(user, "/api/v1/sites").json()  # type: ignore[attr-defined]
    assert {s["id"] for s in items} == {site for site, _ in sees} - {"loose"}


def check_site_detail(world: World, user: str, sees: set[Pair]) -> None:
    for site in CAMERAS:
        code = world.get(user, f"/api/v1/sites/{site}").status_code  # type: ignore[attr-defined]
        visible = site != "loose" and any(p[0] == site for p in sees)
        assert code == (200 if visible else 404), (user, site)


def check_site_cameras(world: World, user: str, sees: set[Pair]) -> None:
    for site in ("sd-1", "fj-1"):
        response = world.get(user, f"/api/v1/sites/{site}/cameras")
        if not any(p[0] == site for p in sees):
            assert response.status_code == 404  # type: ignore[attr-defined]
            continue
        cams = {(c["site"], c["camera"]) for c in response.json()}  # type: ignore[attr-defined]
        assert cams == {p for p in sees if p[0] == site and p[1] is not None}


def check_orgs(world: World, user: str, sees: set[Pair]) -> None:
    codes = {o["code"] for o in world.get(user, "/api/v1/orgs").json()}  # type: ignore[attr-defined]
    role, org, _, _ = USERS[user]
    expected = UNITS.get(user) or UNITS[{"national": "nat-admin", "b-qd": "qd-admin"}[org]]
    assert codes == expected


def check_loading_sessions(world: World, user: str, sees: set[Pair]) -> None:
    body = world.get(user, "/api/v1/loading-sessions?limit=500").json()  # type: ignore[attr-defined]
    assert {s["site"] for s in body["items"]} == {site for site, _ in sees}


def check_loading_session_detail(world: World, user: str, sees: set[Pair]) -> None:
    for site in CAMERAS:
        response = world.get(user, f"/api/v1/loading-sessions/ls-{site}")
        visible = any(p[0] == site for p in sees)
        assert response.status_code == (200 if visible else 404), (user, site)  # type: ignore[attr-defined]


AUTH_ACTIONS = ("auth.login", "auth.fail", "auth.lockout", "auth.logout", "session.revoke")


def _audit_ids(world: World, user: str) -> set[int]:
    ids: set[int] = set()
    cursor = ""
    while True:
        body = world.get(user, f"/api/v1/audit?limit=100{cursor}").json()  # type: ignore[attr-defined]
        ids |= {item["id"] for item in body["items"]}
        if body["next_cursor"] is None:
            return ids
        cursor = f"&cursor={body['next_cursor']}"


def check_audit(world: World, user: str, sees: set[Pair]) -> None:
    """Admins read the lines by or about their subtree's users, units, sites, cameras and
    clips (all of them at national level); monitors are refused."""
    role, org, _, _ = USERS[user]
    if role != "admin":
        headers = {"Authorization": f"Bearer {world.tokens[user]}"}
        assert world.client.get("/api/v1/audit", headers=headers).status_code == 403
        return
    db: Database = world.client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        rows = session.execute(select(Audit.id, Audit.actor, Audit.action, Audit.target)).all()
    units = UNITS[user]
    with db.session() as session:  # the table's own rows (check_user_create) add users
        users = set(session.scalars(
            select(User.username).join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(OrgUnit.code.in_(units))
        ))  # fmt: skip
    sites = {site for site, _ in sees}
    clips = {clip for (site, _), clip in world.clips.items() if site in sites}

    def visible(actor: str, action: str, target: str | None) -> bool:
        kind, name = action.split(".")[0], target or ""
        return org == "national" or (
            actor in users
            or ((kind in ("user", "grant") or action in AUTH_ACTIONS) and name in users)
            or (kind == "org" and name in units)
            or (kind == "site" and name in sites)
            or (kind in ("camera", "zone") and name.split("/")[0] in sites)
            or (kind == "clip" and name in clips)
        )

    expected = {row.id for row in rows if visible(row.actor, row.action, row.target)}
    assert _audit_ids(world, user) & {row.id for row in rows} == expected
    added = {row.target for row in rows if row.action == "site.add" and row.id in expected}
    made_by_the_table = {f"s-{name}" for name in USERS}  # check_site_create, deleted since
    assert added - made_by_the_table == sites - {"loose"}


def check_clip_hold(world: World, user: str, sees: set[Pair]) -> None:
    for pair, clip_id in world.clips.items():
        url, body = f"/api/v1/clips/{clip_id}/hold", {"reason": "authz table"}
        code = _send(world, user, "PUT", url, body)
        assert code == _admin_only(user, pair, sees), (user, pair)
        if code == 200:
            assert _send(world, "nat-admin", "DELETE", url, body) == 200


def check_clip_release(world: World, user: str, sees: set[Pair]) -> None:
    for pair, clip_id in world.clips.items():
        url, body = f"/api/v1/clips/{clip_id}/hold", {"reason": "authz table"}
        assert _send(world, "nat-admin", "PUT", url, body) == 200
        code = _send(world, user, "DELETE", url, body)
        assert code == _admin_only(user, pair, sees), (user, pair)
        if code != 200:
            assert _send(world, "nat-admin", "DELETE", url, body) == 200


def check_clip_retention(world: World, user: str, sees: set[Pair]) -> None:
    for pair, clip_id in world.clips.items():
        url = f"/api/v1/clips/{clip_id}/retention"
        code = _send(world, user, "PUT", url, {"retention_class": "evidence", "reason": "authz"})
        assert code == _admin_only(user, pair, sees), (user, pair)
        if code == 200:
            back = {"retention_class": "standard", "reason": "authz"}
            assert _send(world, "nat-admin", "PUT", url, back) == 200


def check_upload_requests(world: World, user: str, sees: set[Pair]) -> None:
    body = world.get(user, "/api/v1/upload-requests?limit=200").json()  # type: ignore[attr-defined]
    cameras = {p for p in sees if p[1] is not None}
    assert {(r["site"], r["camera"]) for r in body["items"]} == cameras


def check_upload_request_detail(world: World, user: str, sees: set[Pair]) -> None:
    for pair in world.clips:
        response = world.get(user, f"/api/v1/upload-requests/req-{pair[0]}-{pair[1]}")
        assert response.status_code == (200 if pair in sees else 404), (user, pair)  # type: ignore[attr-defined]


def check_upload_request_create(world: World, user: str, sees: set[Pair]) -> None:
    """Anyone who may see a camera may ask for its recording; nobody else learns it exists."""
    start = utcnow() - timedelta(hours=1)
    for (site, camera), _ in world.clips.items():
        body = {"camera": camera, "start": start.isoformat(),
                "end": (start + timedelta(minutes=1)).isoformat()}  # fmt: skip
        code = _send(world, user, "POST", f"/api/v1/sites/{site}/upload-requests", body)
        assert code == (202 if (site, camera) in sees else 404), (user, site, camera)


def check_site_zones(world: World, user: str, sees: set[Pair]) -> None:
    """Every zone of a visible site, with the cameras of each the user may see."""
    for site in ("sd-1", "fj-1", "loose"):
        response = world.get(user, f"/api/v1/sites/{site}/zones")
        if site == "loose" or not any(p[0] == site for p in sees):
            assert response.status_code == 404, (user, site)  # type: ignore[attr-defined]
            continue
        zones = {z["code"]: z for z in response.json()}  # type: ignore[attr-defined]
        assert zones["dock"]["id"] == world.docks[site]
        visible = sorted(str(c) for s, c in sees if s == site and c is not None)
        assert zones["dock"]["cameras"] == visible, (user, site)
        assert all(not z["cameras"] for code, z in zones.items() if code != "dock")


def check_zone_create(world: World, user: str, sees: set[Pair]) -> None:
    """Admins add zones to the sites of their scope (404 beyond it, 409 for a code the site
    has); monitors are refused."""
    for site in ("sd-1", "fj-1", "loose", "nowhere"):
        url, body = f"/api/v1/sites/{site}/zones", {"code": f"z-{user}", "name": "冷库"}
        visible = site in CAMERAS and site != "loose" and any(p[0] == site for p in sees)
        expected = 403 if USERS[user][0] != "admin" else 201 if visible else 404
        assert _send(world, user, "POST", url, body) == expected, (user, site)
        if expected == 201:
            assert _send(world, user, "POST", url, body) == 409, (user, site)


def check_camera_zone(world: World, user: str, sees: set[Pair]) -> None:
    """Admins move the cameras of their scope between zones of the camera's own site (422 for
    another site's zone); monitors are refused; nobody else learns a camera exists."""
    for site, camera in world.clips:
        url = f"/api/v1/sites/{site}/cameras/{camera}/zone"
        visible = site != "loose" and (site, camera) in sees
        expected = 403 if USERS[user][0] != "admin" else 200 if visible else 404
        assert _send(world, user, "PUT", url, {"zone_id": None}) == expected, (user, site, camera)
        if expected != 200:
            continue
        other = world.docks["fj-1" if site == "sd-1" else "sd-1"]
        assert _send(world, user, "PUT", url, {"zone_id": other}) == 422
        assert _send(world, user, "PUT", url, {"zone_id": world.docks[site]}) == 200


# route (method, path) -> the check that proves its scoping
TABLE = {
    ("GET", "/api/v1/events"): check_events,
    ("GET", "/api/v1/clips"): check_clips,
    ("GET", "/api/v1/clips/{clip_id}"): lambda w, u, s: check_clip_detail(w, u, s, ""),
    ("GET", "/api/v1/clips/{clip_id}/video-url"): lambda w, u, s: check_clip_detail(
        w, u, s, "/video-url"
    ),
    ("GET", "/api/v1/clips/{clip_id}/video"): lambda w, u, s: check_clip_detail(w, u, s, "/video"),
    ("GET", "/api/v1/devices"): check_devices,
    ("GET", "/api/v1/sites"): check_sites,
    ("GET", "/api/v1/sites/{site_id}"): check_site_detail,
    ("GET", "/api/v1/sites/{site_id}/cameras"): check_site_cameras,
    ("GET", "/api/v1/sites/{site_id}/zones"): check_site_zones,
    ("POST", "/api/v1/sites/{site_id}/zones"): check_zone_create,
    ("PUT", "/api/v1/sites/{site_id}/cameras/{camera_id}/zone"): check_camera_zone,
    ("GET", "/api/v1/orgs"): check_orgs,
    ("GET", "/api/v1/loading-sessions"): check_loading_sessions,
    ("GET", "/api/v1/loading-sessions/{session_id}"): check_loading_session_detail,
    ("GET", "/api/v1/audit"): check_audit,
    ("PUT", "/api/v1/clips/{clip_id}/hold"): check_clip_hold,
    ("DELETE", "/api/v1/clips/{clip_id}/hold"): check_clip_release,
    ("PUT", "/api/v1/clips/{clip_id}/retention"): check_clip_retention,
    ("GET", "/api/v1/upload-requests"): check_upload_requests,
    ("GET", "/api/v1/upload-requests/{request_id}"): check_upload_request_detail,
    ("POST", "/api/v1/sites/{site_id}/upload-requests"): check_upload_request_create,
    **USER_ROUTES,
    **TREE_ROUTES,
}
# Routes about the caller's own account: authenticated, nothing of anyone else to scope.
OWN_ACCOUNT_PREFIX = "/api/v1/auth/"


def test_every_api_route_is_in_the_table(world: World) -> None:
    # From the OpenAPI document, not ``app.routes``: how routers are held changes between
    # FastAPI versions, and every route of the API is in the schema.
    paths = world.client.get("/openapi.json").json()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1/")
        for method in operations
    }
    assert ("GET", "/api/v1/clips") in routes and len(routes) > len(TABLE) // 2
    unknown = {r for r in routes if r not in TABLE and not r[1].startswith(OWN_ACCOUNT_PREFIX)}
    assert not unknown, f"routes without an authorisation row: {sorted(unknown)}"


@pytest.mark.parametrize("route", sorted(TABLE), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("user", sorted(USERS))
def test_route_shows_exactly_the_users_scope(world: World, route: tuple[str, str],
                                             user: str) -> None:  # fmt: skip
    TABLE[route](world, user, USERS[user][3])


@pytest.mark.parametrize("route", sorted(TABLE), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_refuses_anonymous(world: World, route: tuple[str, str]) -> None:
    path = route[1].replace("{clip_id}", "clip-sd-1-c1").replace("{site_id}", "sd-1")
    path = path.replace("{session_id}", "ls-sd-1").replace("{request_id}", "req-sd-1-c1")
    path = path.replace("{camera_id}", "c1").replace("{username}", "qd-mon")
    assert world.client.request(route[0], path).status_code == 401
