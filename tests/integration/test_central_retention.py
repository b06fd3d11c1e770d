"""Clip retention (regulation Art. 18–19): legal hold and retention class through the API,
the retention sweep, the ``retention`` commands, migration 0008 and the timer units — on
SQLite, and on PostgreSQL when ``REEFERWATCH_TEST_PG`` names a server."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from central import orgs
from central.api import create_app
from central.audit import verify_chain
from central.blobs import FileBlobStore
from central.cli import main as cli_main
from central.db import Audit, Clip, ClipEvent, Database
from central.db.engine import alembic_config
from central.db.types import utcnow
from central.ingest import IngestService
from central.retention import Periods, classify
from central.retention_sweep import Sweeper, recompute
from central.settings import Settings
from central.users import add_user
from tests.central_messages import DEVICE, SITE, T0, event_msg, file_init, send_event, send_file

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
PERIODS = Periods(standard_days=180, anomaly_days=1096, evidence_days=0)
NOW = datetime.fromisoformat("2027-06-01T00:00:00+00:00")
DAY = timedelta(days=1)


# -- the API ---------------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]
    anomaly_clip: str  # backs a metal_detector_reject
    mark_clip: str  # backs a mark
    db: Database

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        if "json" in kwargs:  # as ASCII JSON: a lone surrogate travels as \ud800
            kwargs["content"] = json.dumps(kwargs.pop("json"))
            headers["Content-Type"] = "application/json"
        return self.client.request(method, path, headers=headers, **kwargs)

    def clip(self, clip_id: str) -> Clip:
        with self.db.session() as session:
            row = session.get(Clip, clip_id)
            assert row is not None
            return row

    def audit_lines(self, action: str, target: str) -> list[Audit]:
        with self.db.session() as session:
            query = select(Audit).where(Audit.action == action, Audit.target == target)
            return list(session.scalars(query.order_by(Audit.id)))


USERS = {  # name: (role, org unit)
    "nat-admin": ("admin", "national"),
    "qd-admin": ("admin", "b-qd"),  # SITE is under b-qd
    "xm-admin": ("admin", "b-xm"),  # another branch: SITE is out of scope
    "qd-mon": ("monitor", "b-qd"),  # granted SITE/cam-1
}


@pytest.fixture
def world(
    central_settings: Settings, central_db: Database, ingest: IngestService
) -> Iterator[World]:
    with central_db.session() as session:
        for code, name, parent in (
            ("p-sd", "山东局", "national"),
            ("b-qd", "青岛分支局", "p-sd"),
            ("p-fj", "福建局", "national"),
            ("b-xm", "厦门分支局", "p-fj"),
        ):
            orgs.add_unit(session, code, name, parent, "test")
        orgs.add_site(session, SITE, "b-qd", "青岛水产有限公司", "test")
        orgs.add_camera(session, SITE, "cam-1", "装货口", "test")
        for name, (role, org) in USERS.items():
            add_user(session, name, PASSWORD, role, "test", org=org)
        orgs.grant_camera(session, "qd-mon", SITE, "cam-1", "test")
        session.commit()
    reject, mark = event_msg(seq=1), event_msg(seq=2, kind="mark")
    send_event(ingest, reject)
    send_event(ingest, mark)
    anomaly_data, mark_data = os.urandom(3000), os.urandom(3000)
    anomaly_init = file_init(anomaly_data, seq=3, event_ids=[reject.id])
    mark_init = file_init(mark_data, seq=4, event_ids=[mark.id])
    send_file(ingest, anomaly_init, anomaly_data)
    send_file(ingest, mark_init, mark_data)
    with TestClient(create_app(central_settings, central_db)) as client:
        tokens = {}
        for name in USERS:
            response = client.post(
                "/api/v1/auth/token", data={"username": name, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            tokens[name] = response.json()["access_token"]
        yield World(client, tokens, anomaly_init.file_id, mark_init.file_id, central_db)


def test_admin_places_replaces_and_releases_a_hold(world: World) -> None:
    url = f"/api/v1/clips/{world.mark_clip}/hold"
    placed = world.call("qd-admin", "PUT", url, json={"reason": "标签不全 / labels incomplete"})
    assert placed.status_code == 200, placed.text
    body = placed.json()
    assert body["hold"] is True and body["hold_reason"] == "标签不全 / labels incomplete"
    assert body["id"] == world.mark_clip and body["retention_class"] == "standard"
    row = world.clip(world.mark_clip)
    assert row.hold and row.held_by == "qd-admin" and row.held_at is not None
    [line] = world.audit_lines("clip.hold", world.mark_clip)
    assert line.actor == "qd-admin" and line.detail == {"reason": "标签不全 / labels incomplete"}

    again = world.call("nat-admin", "PUT", url, json={"reason": "case 2026-17"})
    assert again.status_code == 200
    assert world.clip(world.mark_clip).hold_reason == "case 2026-17"
    second = world.audit_lines("clip.hold", world.mark_clip)[1]
    assert second.detail["previous"]["reason"] == "标签不全 / labels incomplete"
    assert second.detail["previous"]["by"] == "qd-admin"

    released = world.call("qd-admin", "DELETE", url, json={"reason": "case closed"})
    assert released.status_code == 200, released.text
    assert released.json()["hold"] is False and released.json()["hold_reason"] is None
    row = world.clip(world.mark_clip)
    assert not row.hold and row.hold_reason is None and row.held_by is None
    [release] = world.audit_lines("clip.release", world.mark_clip)
    assert release.detail["reason"] == "case closed"
    assert release.detail["hold"]["reason"] == "case 2026-17"

    not_held = world.call("qd-admin", "DELETE", url, json={"reason": "again"})
    assert not_held.status_code == 409
    world.call("qd-admin", "PUT", url, json={"reason": "by query next"})
    by_query = world.call("qd-admin", "DELETE", url, params={"reason": "released by query"})
    assert by_query.status_code == 200
    assert world.audit_lines("clip.release", world.mark_clip)[1].detail["reason"] == (
        "released by query"
    )
    assert world.call("qd-admin", "DELETE", url).status_code == 400
    with world.db.session() as session:
        assert verify_chain(session).ok


def test_monitors_and_admins_out_of_scope_change_nothing(world: World) -> None:
    with world.db.session() as session:
        lines_before = session.execute(select(func.count()).select_from(Audit)).scalar_one()
    classes = {c: world.clip(c).retention_class for c in (world.mark_clip, world.anomaly_clip)}
    for clip_id in (world.mark_clip, world.anomaly_clip):
        for method, suffix, body in (
            ("PUT", "hold", {"reason": "r"}),
            ("DELETE", "hold", {"reason": "r"}),
            ("PUT", "retention", {"retention_class": "evidence", "reason": "r"}),
        ):
            url = f"/api/v1/clips/{clip_id}/{suffix}"
            # a monitor may see the clip (granted camera) but not administer it
            assert world.call("qd-mon", method, url, json=body).status_code == 403
            # an admin of another branch is told what GET /clips/{id} tells them: no such clip
            assert world.call("xm-admin", method, url, json=body).status_code == 404
            assert world.call(None, method, url, json=body).status_code == 401
            unknown = f"/api/v1/clips/no-such-clip/{suffix}"
            assert world.call("nat-admin", method, unknown, json=body).status_code == 404
        row = world.clip(clip_id)
        assert not row.hold and row.retention_class == classes[clip_id]
    with world.db.session() as session:
        lines_after = session.execute(select(func.count()).select_from(Audit)).scalar_one()
    assert lines_after == lines_before  # refused requests leave no line


def test_retention_class_is_raised_and_never_below_what_events_give(world: World) -> None:
    url = f"/api/v1/clips/{world.anomaly_clip}/retention"
    stored = world.clip(world.anomaly_clip).retention_class
    below = world.call("qd-admin", "PUT", url, json={"retention_class": "standard", "reason": "x"})
    assert below.status_code == 409 and "anomaly" in below.json()["detail"]

    evidence = world.call(
        "qd-admin", "PUT", url, json={"retention_class": "evidence", "reason": "立案 case 17"}
    )
    assert evidence.status_code == 200, evidence.text
    assert evidence.json()["retention_class"] == "evidence"
    assert evidence.json()["retain_until"] is None
    [line] = world.audit_lines("clip.retention", world.anomaly_clip)
    assert line.actor == "qd-admin"
    assert line.detail == {
        "from": stored,
        "to": "evidence",
        "reason": "立案 case 17",
        "retain_until": None,
    }

    back = world.call("nat-admin", "PUT", url, json={"retention_class": "anomaly", "reason": "y"})
    assert back.status_code == 200
    row = world.clip(world.anomaly_clip)
    assert row.retention_class == "anomaly"
    assert row.retain_until == row.received_at + timedelta(days=1096)
    same = world.call("nat-admin", "PUT", url, json={"retention_class": "anomaly", "reason": "z"})
    assert same.status_code == 200
    assert len(world.audit_lines("clip.retention", world.anomaly_clip)) == 2  # no-op: no line

    mark = f"/api/v1/clips/{world.mark_clip}/retention"
    raised = world.call("qd-admin", "PUT", mark, json={"retention_class": "anomaly", "reason": "r"})
    assert raised.status_code == 200
    lowered = world.call(
        "qd-admin", "PUT", mark, json={"retention_class": "standard", "reason": "r"}
    )
    assert lowered.status_code == 200
    row = world.clip(world.mark_clip)
    assert row.retention_class == "standard"
    assert row.retain_until == row.received_at + timedelta(days=180)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": "a\u0000b"},
        {"reason": "a\ud800b"},
        {"reason": "ok", "retention_class": "forever"},
    ],
)
def test_bad_bodies_are_refused_before_anything_changes(world: World, body: dict[str, str]) -> None:
    base = f"/api/v1/clips/{world.mark_clip}"
    for method, url in (("PUT", f"{base}/hold"), ("PUT", f"{base}/retention")):
        response = world.call("nat-admin", method, url, json=body)
        assert response.status_code == 422, (url, body, response.text)
    if "reason" in body and "\ud800" not in body["reason"]:  # (no URL carries a lone surrogate)
        response = world.call(
            "nat-admin", "DELETE", f"{base}/hold", params={"reason": body["reason"]}
        )
        assert response.status_code in (400, 409, 422), response.text
    row = world.clip(world.mark_clip)
    assert not row.hold and row.retention_class == "standard"
    assert world.audit_lines("clip.hold", world.mark_clip) == []


def test_clip_detail_and_openapi_show_the_retention_fields(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"put", "delete"} <= set(paths["/api/v1/clips/{clip_id}/hold"])
    assert "put" in paths["/api/v1/clips/{clip_id}/retention"]
    fields = schema["components"]["schemas"]["ClipOut"]["properties"]
    assert {"retention_class", "retain_until", "hold", "hold_reason"} <= set(fields)


# -- classification --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("metal_detector_reject", "anomaly"),
        ("seal_broken", "anomaly"),
        ("camera_fault", "anomaly"),
        ("device_fault", "anomaly"),
        ("fault_cleared", "anomaly"),
        ("metal_detector_pass", "standard"),
        ("loading_start", "standard"),
        ("mark", "standard"),
    ],
)
def test_classify_by_the_events_a_clip_backs(
    central_db: Database, ingest: IngestService, kind: str, expected: str
) -> None:
    event = event_msg(seq=1, kind=kind)
    plain = event_msg(seq=2, kind="door_open")
    send_event(ingest, event)
    send_event(ingest, plain)
    with central_db.session() as session:
        assert classify(session, "clip", [plain.id, event.id]) == expected
        assert classify(session, "window", [event.id]) == expected
        assert classify(session, "clip", [plain.id]) == "standard"
        assert classify(session, "clip", []) == "standard"
        assert classify(session, "clip", ["not-arrived-yet"]) == "standard"


# -- the sweep -------------------------------------------------------------------------


def _blob(blobs: FileBlobStore, data: bytes) -> str:
    """A stored blob, last used long ago (as one whose clip expires is)."""
    digest = hashlib.sha256(data).hexdigest()
    path = blobs.path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    long_ago = path.stat().st_mtime - 200 * DAY.total_seconds()
    os.utime(path, (long_ago, long_ago))
    return digest


def _clip(
    db: Database,
    clip_id: str,
    sha: str,
    *,
    received: datetime,
    klass: str = "standard",
    until: datetime | None = None,
    hold: bool = False,
    events: list[str] | None = None,
) -> None:
    with db.session() as session:
        session.add(
            Clip(
                id=clip_id,
                site=SITE,
                device=DEVICE,
                camera="cam-1",
                kind="clip",
                name=f"{clip_id}.mp4",
                size=1000,
                sha256=sha,
                start=T0,
                end=T0 + timedelta(seconds=30),
                event_ids=events or [],
                seq=1,
                clock_synced=True,
                received_at=received,
                verified=True,
                retention_class=klass,
                retain_until=until,
                hold=hold,
                hold_reason="case" if hold else None,
            )
        )
        session.flush()
        for event_id in events or []:
            session.add(ClipEvent(clip_id=clip_id, event_id=event_id))
        session.commit()


def _ids(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(Clip.id)))


def _actions(db: Database, action: str) -> list[Audit]:
    with db.session() as session:
        return list(session.scalars(select(Audit).where(Audit.action == action).order_by(Audit.id)))


@pytest.fixture
def shelf(central_db: Database, blobs: FileBlobStore) -> dict[str, str]:
    """Clips at ``NOW``: which are due, held, shared, kept for good; returns their blobs."""
    sha = {
        name: _blob(blobs, name.encode() * 100)
        for name in ("gone", "held", "young", "shared", "evidence")
    }
    old = NOW - 200 * DAY
    _clip(central_db, "gone", sha["gone"], received=old, until=old + 180 * DAY, events=["ev-mark"])
    _clip(central_db, "held", sha["held"], received=old, until=old + 180 * DAY, hold=True)
    _clip(central_db, "young", sha["young"], received=NOW - DAY, until=NOW + 179 * DAY)
    _clip(central_db, "shared-old", sha["shared"], received=old, until=old + 180 * DAY)
    _clip(central_db, "shared-new", sha["shared"], received=NOW - DAY, until=NOW + 179 * DAY)
    _clip(central_db, "evidence", sha["evidence"], received=old - 3000 * DAY, klass="evidence")
    return sha


def test_sweep_deletes_only_expired_unheld_clips_and_unused_blobs(
    central_db: Database, blobs: FileBlobStore, shelf: dict[str, str]
) -> None:
    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert (report.deleted, report.blobs_removed, report.blobs_shared) == (2, 1, 1)
    assert report.held_due == 1 and report.deleted_bytes == 2000
    assert _ids(central_db) == {"held", "young", "shared-new", "evidence"}
    assert not blobs.exists(shelf["gone"])
    for kept in ("held", "young", "shared", "evidence"):
        assert blobs.exists(shelf[kept]), kept
    with central_db.session() as session:
        assert session.scalars(select(ClipEvent).where(ClipEvent.clip_id == "gone")).all() == []
        assert verify_chain(session).ok
    lines = _actions(central_db, "clip.delete")
    assert {(line.actor, line.target) for line in lines} == {
        ("retention", "gone"),
        ("retention", "shared-old"),
    }
    assert lines[0].detail["sha256"] in {shelf["gone"], shelf["shared"]}
    assert lines[0].detail["retention_class"] == "standard"
    [summary] = _actions(central_db, "retention.sweep")
    assert summary.detail["deleted"] == 2

    again = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert (again.deleted, again.blobs_removed, again.orphans_removed) == (0, 0, 0)
    assert _ids(central_db) == {"held", "young", "shared-new", "evidence"}


def test_dry_run_reports_and_changes_nothing(
    central_db: Database, blobs: FileBlobStore, shelf: dict[str, str]
) -> None:
    with central_db.session() as session:
        lines = session.execute(select(func.count()).select_from(Audit)).scalar_one()
    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run(dry_run=True)
    assert (report.deleted, report.blobs_removed, report.blobs_shared) == (2, 1, 1)
    assert "would delete 2 clips" in report.summary()
    assert _ids(central_db) == {"gone", "held", "young", "shared-old", "shared-new", "evidence"}
    assert all(blobs.exists(digest) for digest in shelf.values())
    with central_db.session() as session:
        assert session.execute(select(func.count()).select_from(Audit)).scalar_one() == lines


def test_a_released_hold_lets_the_next_sweep_delete(
    central_db: Database, blobs: FileBlobStore, shelf: dict[str, str]
) -> None:
    Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    with central_db.session() as session:
        row = session.get(Clip, "held")
        assert row is not None
        row.hold = False
        session.commit()
    assert Sweeper(central_db, blobs, PERIODS, now=NOW).run().deleted == 1
    assert "held" not in _ids(central_db) and not blobs.exists(shelf["held"])


def test_late_anomaly_event_promotes_instead_of_deleting(
    central_db: Database, blobs: FileBlobStore, ingest: IngestService
) -> None:
    old = NOW - 200 * DAY
    reject = event_msg(seq=1, kind="metal_detector_reject")
    _clip(
        central_db,
        "due-late",
        _blob(blobs, b"a" * 500),
        received=old,
        until=old + 180 * DAY,
        events=[reject.id],
    )
    _clip(
        central_db,
        "young-late",
        _blob(blobs, b"b" * 500),
        received=NOW - DAY,
        until=NOW + 179 * DAY,
        events=[reject.id],
    )
    _clip(
        central_db,
        "due-plain",
        _blob(blobs, b"c" * 500),
        received=old,
        until=old + 180 * DAY,
        events=["never-arrives"],
    )
    send_event(ingest, reject)  # after its clips

    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert report.promoted == 2 and report.deleted == 1
    assert _ids(central_db) == {"due-late", "young-late"}
    with central_db.session() as session:
        for clip_id in ("due-late", "young-late"):
            row = session.get(Clip, clip_id)
            assert row is not None and row.retention_class == "anomaly"
            assert row.retain_until == row.received_at + timedelta(days=1096)
    promoted = _actions(central_db, "clip.retention")
    assert {line.target for line in promoted} == {"due-late", "young-late"}
    assert all(line.detail["to"] == "anomaly" for line in promoted)


def test_settle_and_longer_periods(central_db: Database, blobs: FileBlobStore) -> None:
    """Clips without retain_until get arrival + period; a period made longer keeps a clip
    whose stored retain_until has passed."""
    _clip(central_db, "unset-old", _blob(blobs, b"d" * 500), received=NOW - 200 * DAY)
    _clip(central_db, "unset-new", _blob(blobs, b"e" * 500), received=NOW - 10 * DAY)
    _clip(
        central_db,
        "unset-anomaly",
        _blob(blobs, b"f" * 500),
        received=NOW - 200 * DAY,
        klass="anomaly",
    )
    _clip(
        central_db,
        "stored-short",
        _blob(blobs, b"g" * 500),
        received=NOW - 200 * DAY,
        until=NOW - 20 * DAY,
    )
    longer = Periods(standard_days=365, anomaly_days=1096, evidence_days=0)

    report = Sweeper(central_db, blobs, longer, now=NOW).run()
    assert report.settled == 3 and report.extended == 1 and report.deleted == 0
    with central_db.session() as session:
        rows = {row.id: row for row in session.scalars(select(Clip))}
    assert rows["unset-old"].retain_until == NOW - 200 * DAY + 365 * DAY
    assert rows["unset-new"].retain_until == NOW - 10 * DAY + 365 * DAY
    assert rows["unset-anomaly"].retain_until == NOW - 200 * DAY + 1096 * DAY
    assert rows["stored-short"].retain_until == NOW - 200 * DAY + 365 * DAY
    [moved] = _actions(central_db, "clip.retention")
    assert moved.target == "stored-short"

    assert Sweeper(central_db, blobs, PERIODS, now=NOW).run().deleted == 0  # stored dates rule
    assert recompute(central_db, PERIODS, dry_run=True) == 3
    assert _ids(central_db) == set(rows)
    assert recompute(central_db, PERIODS) == 3
    assert recompute(central_db, PERIODS) == 0
    assert Sweeper(central_db, blobs, PERIODS, now=NOW).run().deleted == 2
    assert _ids(central_db) == {"unset-new", "unset-anomaly"}


def test_an_interrupted_sweep_loses_nothing_and_the_next_one_finishes(
    central_db: Database,
    blobs: FileBlobStore,
    shelf: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def crash(*_args: object) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(Sweeper, "_unlink_unused", crash)
    with pytest.raises(KeyboardInterrupt):
        Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    monkeypatch.undo()
    # the rows went in one committed batch; their blobs stay until a run unlinks them
    assert _ids(central_db) == {"held", "young", "shared-new", "evidence"}
    assert blobs.exists(shelf["gone"]) and blobs.exists(shelf["shared"])
    assert _actions(central_db, "retention.sweep") == []

    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert report.orphans_removed == 1 and report.deleted == 0
    assert not blobs.exists(shelf["gone"]) and blobs.exists(shelf["shared"])
    assert Sweeper(central_db, blobs, PERIODS, now=NOW).run().orphans_removed == 0


def test_a_hold_placed_through_the_api_survives_the_sweep(
    world: World, central_settings: Settings, central_db: Database, blobs: FileBlobStore
) -> None:
    url = f"/api/v1/clips/{world.mark_clip}/hold"
    assert world.call("qd-admin", "PUT", url, json={"reason": "keep"}).status_code == 200
    far = utcnow() + 10_000 * DAY  # every clip is past its retain_until by then
    report = Sweeper(central_db, blobs, PERIODS, now=far).run()
    assert report.deleted == 1 and report.held_due == 1
    assert _ids(central_db) == {world.mark_clip}
    assert world.call("nat-admin", "GET", f"/api/v1/clips/{world.anomaly_clip}").status_code == 404
    video = world.call("qd-admin", "GET", f"/api/v1/clips/{world.mark_clip}/video")
    assert video.status_code == 200


# -- the commands ----------------------------------------------------------------------


def test_retention_commands(
    central_settings: Settings,
    central_db: Database,
    blobs: FileBlobStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(central_settings.data_dir))
    monkeypatch.setenv("REEFERWATCH_DATABASE_URL", central_settings.database_url)
    monkeypatch.setenv("REEFERWATCH_SECRET_KEY", central_settings.secret())
    monkeypatch.setenv("REEFERWATCH_RETENTION_STANDARD_DAYS", "30")
    now = utcnow()
    sha = _blob(blobs, b"h" * 500)
    _clip(central_db, "month-old", sha, received=now - 40 * DAY)
    _clip(central_db, "week-old", _blob(blobs, b"i" * 500), received=now - 7 * DAY)

    assert cli_main(["retention", "sweep", "--dry-run"]) == 0
    assert "retention sweep (dry run): would delete 1 clips" in capsys.readouterr().out
    assert _ids(central_db) == {"month-old", "week-old"}
    assert cli_main(["retention", "sweep"]) == 0
    assert "retention sweep: deleted 1 clips (1000 bytes), 1 blobs" in capsys.readouterr().out
    assert _ids(central_db) == {"week-old"} and not blobs.exists(sha)

    monkeypatch.setenv("REEFERWATCH_RETENTION_STANDARD_DAYS", "60")
    assert cli_main(["retention", "recompute"]) == 0
    assert "changed the retain_until of 1 clips" in capsys.readouterr().out
    with central_db.session() as session:
        row = session.get(Clip, "week-old")
        assert row is not None and row.retain_until == row.received_at + 60 * DAY

    monkeypatch.setenv("REEFERWATCH_RETENTION_ANOMALY_DAYS", "10")
    assert cli_main(["retention", "sweep"]) == 2  # anomaly shorter than standard: refused
    assert "retention_anomaly_days (10) is shorter than retention_standard_days" in (
        capsys.readouterr().err
    )


# -- migration 0008 --------------------------------------------------------------------


def test_migration_0008_classifies_existing_clips(
    central_db: Database, blobs: FileBlobStore
) -> None:
    config = alembic_config()
    with central_db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    received = NOW - 200 * DAY
    with central_db.engine.begin() as connection:
        for n, kind in enumerate(("seal_broken", "seal_applied")):
            connection.execute(
                text(
                    "INSERT INTO events (id, site, device, seq, kind, occurred_at,"
                    " occurred_offset_min, data, clock_synced, received_at) VALUES"
                    " (:id, 's', 'd', 1, :kind, :at, 480, '{}', true, :at)"
                ),
                {
                    "id": f"E{n}",
                    "kind": kind,
                    "at": received.replace(tzinfo=None)
                    if central_db.dialect == "sqlite"
                    else received,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO clips (id, site, device, camera, kind, name, size, sha256,"
                    ' start, "end", event_ids, seq, clock_synced, received_at, verified)'
                    " VALUES (:id, 's', 'd', 'c', 'clip', 'n.mp4', 1000, :sha, :at, :at,"
                    " '[]', 1, true, :at, true)"
                ),
                {
                    "id": f"C{n}",
                    "sha": _blob(blobs, f"clip {n}".encode()),
                    "at": received.replace(tzinfo=None)
                    if central_db.dialect == "sqlite"
                    else received,
                },
            )
            connection.execute(
                text("INSERT INTO clip_events (clip_id, event_id) VALUES (:c, :e)"),
                {"c": f"C{n}", "e": f"E{n}"},
            )
    central_db.migrate()
    with central_db.session() as session:
        rows = {row.id: row for row in session.scalars(select(Clip))}
    assert rows["C0"].retention_class == "anomaly" and rows["C1"].retention_class == "standard"
    assert all(row.retain_until is None and not row.hold for row in rows.values())
    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert report.settled == 2 and report.deleted == 1 and _ids(central_db) == {"C0"}


# -- the timer -------------------------------------------------------------------------

UNITS = Path(__file__).resolve().parents[2] / "systemd"


@pytest.mark.slow
def test_retention_units_verify_and_are_hardened(tmp_path: Path) -> None:
    from tests.integration.test_image_units import (
        MAX_EDGE_EXPOSURE,
        add_stubs,
        exposure,
        make_verify_root,
        unit_keys,
        verify,
    )

    names = ["reeferwatch-retention.service", "reeferwatch-retention.timer"]
    root = make_verify_root(tmp_path / "root", [UNITS / n for n in names])
    add_stubs(root)
    for name in names:
        result = verify(root, name)
        assert (result.returncode, result.stderr, result.stdout) == (0, "", ""), name
    level, line = exposure(UNITS / "reeferwatch-retention.service")
    assert level <= MAX_EDGE_EXPOSURE, line
    service = unit_keys(UNITS / "reeferwatch-retention.service")
    assert service["ExecStart"] == ["/opt/reeferwatch/bin/reeferwatch-central retention sweep"]
    assert service["User"] == ["reeferwatch-central"] and service["Type"] == ["oneshot"]
    timer = unit_keys(UNITS / "reeferwatch-retention.timer")
    assert timer["OnCalendar"] == ["daily"] and timer["Persistent"] == ["true"]
