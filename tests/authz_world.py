"""The world of the route × role × scope table (``tests/integration/test_central_authz.py``).

The tree: national → Shandong (p-sd) → Qingdao (b-qd) → site ``sd-1`` (cameras c1, c2);
national → Fujian (p-fj) → Xiamen (b-xm) → site ``fj-1`` (c1); and ``loose``, a site that
sends data but is registered under no unit. Each site has one event per camera, one
camera-less event, one clip per camera and one device; each registered site has one zone,
``dock``, holding all its cameras. ``USERS`` says which (site, camera) pairs each user sees.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central import commands, orgs
from central.api import create_app
from central.db import Clip, Database
from central.db.models import Zone
from central.db.types import utcnow
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import event_msg
from tests.central_tree import add_units
from wire import codec, topics

PASSWORD = "correct horse battery"
CAMERAS = {"sd-1": ["c1", "c2"], "fj-1": ["c1"], "loose": ["c1"]}
Pair = tuple[str, str | None]  # (site, camera); camera None = a camera-less event
ALL: set[Pair] = {(s, c) for s, cams in CAMERAS.items() for c in [*cams, None]}
SD: set[Pair] = {p for p in ALL if p[0] == "sd-1"}
FJ: set[Pair] = {p for p in ALL if p[0] == "fj-1"}
SD_C1: set[Pair] = {("sd-1", "c1"), ("sd-1", None)}

# user: (role, org, grants, the pairs they see)
USERS: dict[str, tuple[str, str, list[tuple[str, str]], set[Pair]]] = {
    "nat-admin": ("admin", "national", [], ALL),
    "nat-mon": ("monitor", "national", [("sd-1", "c1")], SD_C1),
    "sd-admin": ("admin", "p-sd", [], SD),
    "qd-admin": ("admin", "b-qd", [], SD),
    "qd-mon": ("monitor", "b-qd", [("sd-1", "c1")], SD_C1),
    "qd-mon-none": ("monitor", "b-qd", [], set()),
    "xm-admin": ("admin", "b-xm", [], FJ),
}
UNITS = {"nat-admin": {"national", "p-sd", "b-qd", "p-fj", "b-xm"}, "sd-admin": {"p-sd", "b-qd"},
         "qd-admin": {"b-qd"}, "xm-admin": {"b-xm"}}  # fmt: skip


@dataclass
class World:
    client: TestClient
    clips: dict[Pair, str]  # (site, camera) -> clip id
    tokens: dict[str, str]
    docks: dict[str, int]  # registered site -> the id of its zone "dock"

    def get(self, user: str, url: str) -> object:
        response = self.client.get(url, headers={"Authorization": f"Bearer {self.tokens[user]}"})
        assert response.status_code in (200, 206, 404), (user, url, response.text)
        return response


def _build_tree(db: Database) -> None:
    with db.session() as session:
        add_units(session, "test")
        for site, unit in (("sd-1", "b-qd"), ("fj-1", "b-xm")):
            orgs.add_site(session, site, unit, f"{site} 水产有限公司", "test")
            dock = orgs.add_zone(session, site, "dock", "装货口", "test")
            for camera in CAMERAS[site]:
                orgs.add_camera(session, site, camera, f"{site} {camera}", "test")
                orgs.set_camera_zone(session, site, camera, dock.id, "test")
        for name, (role, org, grants, _) in USERS.items():
            add_user(session, name, PASSWORD, role, "test", org=org)
            for site, camera in grants:
                orgs.grant_camera(session, name, site, camera, "test")
        session.commit()


def _add_data(ingest: IngestService, db: Database, data_dir: object) -> dict[Pair, str]:
    seq = 0
    for site, cams in CAMERAS.items():
        for camera in [*cams, None]:
            seq += 1
            msg = event_msg(seq=seq, camera=camera)
            ingest.handle(topics.up(site, f"edge-{site}", "event"), codec.encode(msg))
    for site in CAMERAS:  # one loading session per site (camera-less events)
        seq += 1
        start = event_msg(seq=seq, kind="loading_start", camera=None)
        data = {"session_id": f"ls-{site}", "container_no": "MSCU1234565"}
        payload = codec.encode(start.model_copy(update={"data": data}))
        ingest.handle(topics.up(site, f"edge-{site}", "event"), payload)
    body = os.urandom(2000)
    digest = hashlib.sha256(body).hexdigest()
    blob = ingest.blobs.path(digest)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(body)
    clips: dict[Pair, str] = {}
    start = utcnow()
    with db.session() as session:
        for site, cams in CAMERAS.items():
            for camera in cams:
                clip_id = f"clip-{site}-{camera}"
                end = start + timedelta(seconds=20)
                session.add(Clip(id=clip_id, site=site, device=f"edge-{site}", camera=camera,
                                 kind="clip", name=f"{clip_id}.mp4", size=len(body),
                                 sha256=digest, start=start, end=end, event_ids=[], seq=1,
                                 clock_synced=True, verified=True))  # fmt: skip
                clips[(site, camera)] = clip_id
                request = commands.issue(
                    session, site=site, device=f"edge-{site}", kind="upload_window",
                    args=commands.window_args(camera, start, end, None), issued_by="test",
                    camera=camera,
                )  # fmt: skip
                request.id = f"req-{site}-{camera}"
        session.commit()
    return clips


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One tree and data set for the whole table (logins cost an argon2 hash each)."""
    server = os.environ.get("REEFERWATCH_TEST_PG")
    tmp = tmp_path_factory.mktemp("authz")
    url_gen = None
    if server:
        from tests.central_fixtures import _pg_database

        url_gen = _pg_database(server)
        url = next(url_gen)
    else:
        url = f"sqlite:///{tmp / 'central.db'}"
    settings = Settings(data_dir=tmp / "central", database_url=url,
                        secret_key="x" * 16 + "test-secret-0123456789abcdef")  # fmt: skip
    from central.blobs import FileBlobStore

    with Database(url) as db:
        db.migrate()
        _build_tree(db)
        clips = _add_data(IngestService(db, FileBlobStore(settings.data_dir)), db, tmp)
        with TestClient(create_app(settings, db)) as client:
            tokens = {}
            for name in USERS:
                response = client.post(
                    "/api/v1/auth/token", data={"username": name, "password": PASSWORD}
                )
                assert response.status_code == 200, response.text
                tokens[name] = response.json()["access_token"]
            with db.session() as session:
                docks = {z.site_id: z.id for z in session.scalars(select(Zone))}
            yield World(client, clips, tokens, docks)
    if url_gen is not None:
        next(url_gen, None)


def _send(world: World, user: str, method: str, url: str, body: Mapping[str, object]) -> int:
    headers = {"Authorization": f"Bearer {world.tokens[user]}"}
    return world.client.request(method, url, headers=headers, json=body).status_code


def _admin_only(user: str, pair: Pair, sees: set[Pair]) -> int:
    """Holds and retention: 403 for monitors; for admins, 404 beyond their scope."""
    return 403 if USERS[user][0] != "admin" else 200 if pair in sees else 404
