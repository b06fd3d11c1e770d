"""The small supervision tree many central tests start from: national → Shandong (p-sd) →
Qingdao (b-qd) → site ``sd-1``; national → Fujian (p-fj) → Xiamen (b-xm) → site ``fj-1``;
and the API world of their users (signed-in headers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from central import orgs
from central.db import Database
from central.users import add_user

SITES = {"sd-1": "b-qd", "fj-1": "b-xm"}  # site -> its branch unit


def add_units(session: Session, actor: str) -> None:
    """The two provinces and their branches."""
    orgs.add_unit(session, "p-sd", "山东局", "national", actor)
    orgs.add_unit(session, "b-qd", "青岛分支局", "p-sd", actor)
    orgs.add_unit(session, "p-fj", "福建局", "national", actor)
    orgs.add_unit(session, "b-xm", "厦门分支局", "p-fj", actor)


def add_tree(session: Session, actor: str, cameras: Sequence[str] = ("c1", "c2")) -> None:
    """The units, both sites and ``cameras`` on each (named ``"{site} {camera}"``)."""
    add_units(session, actor)
    for site, unit in SITES.items():
        orgs.add_site(session, site, unit, "水产", actor)
        for camera in cameras:
            orgs.add_camera(session, site, camera, f"{site} {camera}", actor)


@dataclass
class ApiWorld:
    """Central's API on a test client with signed-in users' headers (``users``, below)."""

    client: TestClient
    db: Database
    headers: dict[str, dict[str, str]]

    def call(self, user: str, method: str, url: str, body: Any = None) -> Any:
        return self.client.request(method, url, headers=self.headers[user], json=body)


def add_users(session: Session, users: Mapping[str, tuple[str, str]], password: str) -> None:
    """``users``: name → (role, org unit code), all with ``password``."""
    for name, (role, org) in users.items():
        add_user(session, name, password, role, "seed", org=org)


def bearer_headers(client: TestClient, users: Iterable[str], password: str) -> dict[str, Any]:
    """Each user signed in: their ``Authorization`` header."""
    headers = {}
    for user in users:
        form = {"username": user, "password": password}
        response = client.post("/api/v1/auth/token", data=form)
        assert response.status_code == 200, response.text
        headers[user] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers
