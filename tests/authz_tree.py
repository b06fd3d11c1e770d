"""The rows of the route × role × scope table for the routes that grow the tree
(``central.api.tree``): admins add units, sites and cameras within their subtree (404 beyond
it), monitors are refused (403). Each row added is deleted again at once, so the rest of the
table sees the tree it expects (the audit lines stay, and are scoped as for any gone row)."""

from __future__ import annotations

from sqlalchemy import delete

from central.db import Database
from central.db.models import Camera, OrgUnit, Site
from tests.authz_world import UNITS, USERS, Pair, World, _send

BRANCHES = {"b-qd", "b-xm"}


def _db(world: World) -> Database:
    db: Database = world.client.app.state.db  # type: ignore[attr-defined]
    return db


def _admin_units(user: str) -> set[str]:
    return UNITS.get(user, set()) if USERS[user][0] == "admin" else set()


def check_org_create(world: World, user: str, sees: set[Pair]) -> None:
    units = _admin_units(user)
    for parent in ("national", "p-sd", "b-qd", "p-fj", "b-xm", "nowhere"):
        code = f"u-{user}-{parent}"[:32]
        body = {"code": code, "name": "新机构", "parent": parent}
        expected = (403 if USERS[user][0] != "admin" else 404 if parent not in units
                    else 409 if parent in BRANCHES else 201)  # fmt: skip
        assert _send(world, user, "POST", "/api/v1/orgs", body) == expected, (user, parent)
        if expected == 201:
            with _db(world).session() as session:
                session.execute(delete(OrgUnit).where(OrgUnit.code == code))
                session.commit()


def check_site_create(world: World, user: str, sees: set[Pair]) -> None:
    """Below national level a site id with data (``loose``) is refused: a national admin
    registers it."""
    units = _admin_units(user)
    national = USERS[user][1] == "national"
    for site, unit in ((f"s-{user}", "b-qd"), (f"s-{user}", "b-xm"), (f"s-{user}", "p-sd"),
                       (f"s-{user}", "nowhere"), ("loose", "b-qd"), ("loose", "b-xm")):  # fmt: skip
        body = {"id": site, "org": unit, "enterprise_name": "水产"}
        if USERS[user][0] != "admin":
            expected = 403
        elif unit not in units:
            expected = 404
        elif unit not in BRANCHES or (site == "loose" and not national):
            expected = 409
        else:
            expected = 201
        assert _send(world, user, "POST", "/api/v1/sites", body) == expected, (user, site, unit)
        if expected == 201:
            with _db(world).session() as session:
                session.execute(delete(Site).where(Site.id == site))
                session.commit()


def check_camera_create(world: World, user: str, sees: set[Pair]) -> None:
    for site in ("sd-1", "fj-1", "loose", "nowhere"):
        body = {"camera": f"c-{user}", "name": "新摄像机"}
        visible = site in ("sd-1", "fj-1") and any(p[0] == site for p in sees)
        expected = 403 if USERS[user][0] != "admin" else 201 if visible else 404
        code = _send(world, user, "POST", f"/api/v1/sites/{site}/cameras", body)
        assert code == expected, (user, site)
        if expected == 201:
            assert _send(world, user, "POST", f"/api/v1/sites/{site}/cameras", body) == 409
            with _db(world).session() as session:
                session.execute(
                    delete(Camera).where(Camera.site_id == site, Camera.camera_id == f"c-{user}")
                )
                session.commit()


TREE_ROUTES = {
    ("POST", "/api/v1/orgs"): check_org_create,
    ("POST", "/api/v1/sites"): check_site_create,
    ("POST", "/api/v1/sites/{site_id}/cameras"): check_camera_create,
}
