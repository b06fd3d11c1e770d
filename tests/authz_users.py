"""The rows of the route × role × scope table for ``/api/v1/users``: an admin sees and changes
exactly the users of their subtree (``UNITS``) and grants only cameras they see; monitors
are refused (403); a user beyond the subtree is not confirmed to exist (404)."""

from __future__ import annotations

from tests.authz_world import PASSWORD, UNITS, USERS, Pair, World, _send

GRANTEE = "qd-mon-none"  # a monitor of b-qd without grants: granted sd-1 cameras and back


def _is_admin(user: str) -> bool:
    return USERS[user][0] == "admin"


def _visible_users(user: str) -> set[str]:
    units = UNITS.get(user, set())
    return {name for name, (_, org, _, _) in USERS.items() if org in units}


def _expect(user: str, target: str, ok: int = 200) -> int:
    return 403 if not _is_admin(user) else ok if target in _visible_users(user) else 404


def check_users(world: World, user: str, sees: set[Pair]) -> None:
    response = world.client.get(
        "/api/v1/users?limit=500", headers={"Authorization": f"Bearer {world.tokens[user]}"}
    )
    if not _is_admin(user):
        assert response.status_code == 403
        return
    items = response.json()["items"]
    assert {u["username"] for u in items} & set(USERS) == _visible_users(user)
    assert {u["org"] for u in items} <= UNITS[user]


def check_user_detail(world: World, user: str, sees: set[Pair]) -> None:
    for target in USERS:
        code = _send(world, user, "GET", f"/api/v1/users/{target}", {})
        assert code == _expect(user, target), (user, target)


def check_user_create(world: World, user: str, sees: set[Pair]) -> None:
    for org in ("national", "p-sd", "b-qd", "p-fj", "b-xm", "nowhere"):
        body = {"username": f"new-{user}-{org}", "role": "monitor", "org": org,
                "password": PASSWORD}  # fmt: skip
        expected = 403 if not _is_admin(user) else 201 if org in UNITS[user] else 404
        assert _send(world, user, "POST", "/api/v1/users", body) == expected, (user, org)
        if expected == 201:
            assert _send(world, user, "POST", "/api/v1/users", body) == 409


def check_user_change(world: World, user: str, sees: set[Pair]) -> None:
    """A change that changes nothing (the user's own state and role) answers like a real one;
    an admin's own account cannot be disabled by themselves."""
    for target, (role, org, _, _) in USERS.items():
        body = {"disabled": False, "role": role, "org": org}
        code = _send(world, user, "PATCH", f"/api/v1/users/{target}", body)
        assert code == _expect(user, target), (user, target)
    if _is_admin(user):
        assert _send(world, user, "PATCH", f"/api/v1/users/{user}", {"disabled": True}) == 409


def check_password_reset(world: World, user: str, sees: set[Pair]) -> None:
    """On users made for it (a reset ends the sessions of the table's users): one per unit."""
    body = {"new_password": PASSWORD + " reset"}
    for org in ("national", "p-sd", "b-qd", "p-fj", "b-xm"):
        target = f"pw-{org}"
        made = {"username": target, "role": "monitor", "org": org, "password": PASSWORD}
        assert _send(world, "nat-admin", "POST", "/api/v1/users", made) in (201, 409)
        code = _send(world, user, "PUT", f"/api/v1/users/{target}/password", body)
        expected = 403 if not _is_admin(user) else 204 if org in UNITS[user] else 404
        assert code == expected, (user, org)
    if _is_admin(user):
        assert _send(world, user, "PUT", f"/api/v1/users/{user}/password", body) == 409


def check_user_grants(world: World, user: str, sees: set[Pair]) -> None:
    for target, (_, _, grants, _) in USERS.items():
        headers = {"Authorization": f"Bearer {world.tokens[user]}"}
        response = world.client.get(f"/api/v1/users/{target}/grants", headers=headers)
        assert response.status_code == _expect(user, target), (user, target)
        if response.status_code == 200:
            assert [(g["site"], g["camera"]) for g in response.json()] == grants


def check_grant_add(world: World, user: str, sees: set[Pair]) -> None:
    """Only cameras the admin sees, only to users of their subtree; 422 for a camera outside
    the grantee's own unit."""
    for site, camera in (("sd-1", "c1"), ("fj-1", "c1"), ("loose", "c1")):
        url = f"/api/v1/users/{GRANTEE}/grants/{site}/{camera}"
        code = _send(world, user, "PUT", url, {})
        if not _is_admin(user):
            expected = 403
        elif GRANTEE not in _visible_users(user) or (site, camera) not in sees or site == "loose":
            expected = 404
        else:
            expected = 200 if site == "sd-1" else 422
        assert code == expected, (user, site, camera)
        if code == 200:
            assert _send(world, "nat-admin", "DELETE", url, {}) == 204


def check_grant_revoke(world: World, user: str, sees: set[Pair]) -> None:
    url = f"/api/v1/users/{GRANTEE}/grants/sd-1/c2"
    assert _send(world, "nat-admin", "PUT", url, {}) == 200
    code = _send(world, user, "DELETE", url, {})
    visible = GRANTEE in _visible_users(user) and ("sd-1", "c2") in sees
    assert code == (403 if not _is_admin(user) else 204 if visible else 404), user
    if code != 204:
        assert _send(world, "nat-admin", "DELETE", url, {}) == 204


USER_ROUTES = {
    ("GET", "/api/v1/users"): check_users,
    ("POST", "/api/v1/users"): check_user_create,
    ("GET", "/api/v1/users/{username}"): check_user_detail,
    ("PATCH", "/api/v1/users/{username}"): check_user_change,
    ("PUT", "/api/v1/users/{username}/password"): check_password_reset,
    ("GET", "/api/v1/users/{username}/grants"): check_user_grants,
    ("PUT", "/api/v1/users/{username}/grants/{site_id}/{camera_id}"): check_grant_add,
    ("DELETE", "/api/v1/users/{username}/grants/{site_id}/{camera_id}"): check_grant_revoke,
}
