"""The HTTP API against a real database and blob store, through FastAPI's TestClient."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from central import audit
from central.api import create_app
from central.ca import CertificateAuthority
from central.cli import main as cli_main
from central.db import Audit, Database, User
from central.ingest import IngestService
from central.security import issue_media_token
from central.settings import Settings
from central.users import add_user
from tests.central_messages import T0, event_msg, file_init, send_event, send_file

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
VIDEO = os.urandom(10_000)
ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@pytest.fixture
def client(central_settings: Settings, central_db: Database) -> Iterator[TestClient]:
    with central_db.session() as session:
        add_user(session, "alice", PASSWORD, "admin", actor="test")
        add_user(session, "mona", PASSWORD, "monitor", actor="test")
        session.commit()
    with TestClient(create_app(central_settings, central_db)) as test_client:
        yield test_client


def _token(client: TestClient, username: str = "alice", password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(client)}"}


@pytest.fixture
def seeded(ingest: IngestService) -> dict[str, list[str]]:
    """7 events over two sites' cameras, and 3 clips (one per minute) backing some of them."""
    events = []
    for i in range(7):
        msg = event_msg(
            seq=i + 1,
            at=T0 + timedelta(minutes=i),
            kind="seal_applied" if i % 2 else "metal_detector_reject",
            camera="cam-1" if i < 4 else "cam-2",
        )
        send_event(ingest, msg)
        events.append(msg.id)
    clips = []
    for i in range(3):
        data = VIDEO if i == 0 else os.urandom(3000)
        init = file_init(data, seq=10 + i, start=T0 + timedelta(minutes=i), event_ids=[events[i]])
        send_file(ingest, init, data)
        clips.append(init.file_id)
    return {"events": events, "clips": clips}


def test_token_has_claims_and_protects_routes(
    client: TestClient, central_settings: Settings
) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "mona", "password": PASSWORD})
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    claims = jwt.decode(body["access_token"], central_settings.secret(), algorithms=["HS256"])
    assert claims["sub"] == "mona" and claims["role"] == "monitor"
    assert claims["jti"] and claims["exp"] > claims["iat"]
    for path in ("/api/v1/events", "/api/v1/clips", "/api/v1/clips/x", "/api/v1/clips/x/video"):
        missing = client.get(path)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert "not authenticated" in missing.json()["detail"]
        forged = jwt.encode({"sub": "alice", "exp": 4e9, "jti": "1"}, "y" * 40, "HS256")
        assert client.get(path, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    good = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/events", headers=good).status_code == 200


def test_wrong_password_and_disabled_user_get_401_and_audit(
    client: TestClient, central_db: Database
) -> None:
    bad = client.post("/api/v1/auth/token", data={"username": "alice", "password": "nope" * 4})
    assert bad.status_code == 401 and bad.json()["detail"] == "incorrect username or password"
    token = _token(client, "mona")
    with central_db.session() as session:
        session.execute(update(User).where(User.username == "mona").values(disabled=True))
        session.commit()
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "mona", "password": PASSWORD}
        ).status_code
        == 401
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/events", headers=headers).status_code == 401
    with central_db.session() as session:
        fails = session.execute(select(Audit).where(Audit.action == "auth.fail")).scalars().all()
    assert [f.target for f in fails] == ["alice", "mona"]


def test_events_paginate_newest_first_with_cursor(
    client: TestClient, auth: dict[str, str], seeded: dict[str, list[str]]
) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/events", params=params, headers=auth).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == list(reversed(seeded["events"]))
    first = client.get("/api/v1/events", params={"limit": 1}, headers=auth).json()["items"][0]
    assert first["occurred_at"] == (T0 + timedelta(minutes=6)).isoformat()
    assert first["data"] == {"line": 2} and first["clock_synced"] is True


def test_event_filters(
    client: TestClient, auth: dict[str, str], seeded: dict[str, list[str]]
) -> None:
    def ids(**params: str) -> list[str]:
        response = client.get("/api/v1/events", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    events = seeded["events"]
    assert ids(camera="cam-2") == events[4:][::-1]
    assert ids(kind="seal_applied") == [events[5], events[3], events[1]]
    assert ids(site="elsewhere") == []
    start = (T0 + timedelta(minutes=2)).isoformat()
    end = (T0 + timedelta(minutes=4)).astimezone().isoformat()  # a different offset
    assert ids(start=start, end=end) == [events[3], events[2]]
    naive = client.get(f"/api/v1/events?start={quote('2026-11-27T08:00:00')}", headers=auth)
    assert naive.status_code == 422
    bad_cursor = client.get("/api/v1/events?cursor=garbage", headers=auth)
    assert bad_cursor.status_code == 400 and bad_cursor.json()["detail"].startswith("cursor:")
    assert client.get("/api/v1/events?limit=0", headers=auth).status_code == 422


def test_clips_list_filter_and_detail(
    client: TestClient, auth: dict[str, str], seeded: dict[str, list[str]]
) -> None:
    clips = seeded["clips"]
    body = client.get("/api/v1/clips", params={"limit": 2}, headers=auth).json()
    assert [c["id"] for c in body["items"]] == [clips[2], clips[1]] and body["next_cursor"]
    rest = client.get("/api/v1/clips", params={"cursor": body["next_cursor"]}, headers=auth).json()
    assert [c["id"] for c in rest["items"]] == [clips[0]] and rest["next_cursor"] is None
    by_event = client.get(
        "/api/v1/clips", params={"event": seeded["events"][1]}, headers=auth
    ).json()
    assert [c["id"] for c in by_event["items"]] == [clips[1]]
    window = {"start": (T0 + timedelta(seconds=70)).isoformat()}
    overlapping = client.get("/api/v1/clips", params=window, headers=auth).json()["items"]
    assert {c["id"] for c in overlapping} == {clips[1], clips[2]}
    detail = client.get(f"/api/v1/clips/{clips[0]}", headers=auth).json()
    assert detail["sha256"] == hashlib.sha256(VIDEO).hexdigest() and detail["size"] == len(VIDEO)
    assert detail["video_url"] == f"/api/v1/clips/{clips[0]}/video" and detail["verified"]
    assert detail["event_ids"] == [seeded["events"][0]]
    missing = client.get("/api/v1/clips/NOPE", headers=auth)
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_video_range_etag_and_audit(
    client: TestClient, auth: dict[str, str], seeded: dict[str, list[str]], central_db: Database
) -> None:
    url = f"/api/v1/clips/{seeded['clips'][0]}/video"
    full = client.get(url, headers=auth)
    etag = f'"{hashlib.sha256(VIDEO).hexdigest()}"'
    assert full.status_code == 200 and full.content == VIDEO
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes" and full.headers["etag"] == etag
    part = client.get(url, headers={**auth, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == VIDEO[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(VIDEO)}"
    tail = client.get(url, headers={**auth, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == VIDEO[-10:]
    open_ended = client.get(url, headers={**auth, "Range": "bytes=9990-"})
    assert open_ended.content == VIDEO[9990:]
    bad = client.get(url, headers={**auth, "Range": f"bytes={len(VIDEO)}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(VIDEO)}"
    assert "beyond" in bad.json()["detail"]
    cached = client.get(url, headers={**auth, "If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    client.get(f"/api/v1/clips/{seeded['clips'][0]}", headers=auth)
    with central_db.session() as session:
        rows = session.execute(select(Audit).order_by(Audit.id)).scalars().all()
        assert audit.verify_chain(session).ok
    video_lines = [r for r in rows if r.action == "clip.video"]
    assert len(video_lines) == 4 and all(r.actor == "alice" for r in video_lines)
    assert video_lines[1].detail == {"range": [100, 199]}
    assert rows[-1].action == "clip.view" and rows[-1].target == seeded["clips"][0]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(range_header=ascii_text, cursor=ascii_text)
def test_bad_input_never_yields_5xx(
    client: TestClient,
    auth: dict[str, str],
    seeded: dict[str, list[str]],
    range_header: str,
    cursor: str,
) -> None:
    url = f"/api/v1/clips/{seeded['clips'][0]}/video"
    video = client.get(url, headers={**auth, "Range": range_header})
    assert video.status_code in (200, 206, 416)
    if video.status_code == 416:
        assert video.json()["detail"].startswith("Range")
    listing = client.get("/api/v1/events", params={"cursor": cursor}, headers=auth)
    assert listing.status_code in (200, 400, 422)
    when = client.get("/api/v1/clips", params={"start": cursor}, headers=auth)
    assert when.status_code in (200, 422)


def test_healthz_metrics_and_openapi(client: TestClient, seeded: dict[str, list[str]]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    text = client.get("/metrics").text
    assert "reeferwatch_clips_total 3" in text and "reeferwatch_events_total 7" in text
    assert 'reeferwatch_transfers{state="complete"} 3' in text
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/auth/token",
        "/api/v1/events",
        "/api/v1/clips",
        "/api/v1/clips/{clip_id}",
        "/api/v1/clips/{clip_id}/video",
        "/healthz",
    ):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert {"EventPage", "ClipPage", "ClipOut", "EventOut", "TokenOut"} <= set(schemas)
    video = spec["paths"]["/api/v1/clips/{clip_id}/video"]["get"]["responses"]
    assert {"206", "304", "416"} <= set(video)


def test_cli_user_add_and_disable(
    central_settings: Settings, central_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(central_settings.data_dir))
    monkeypatch.setenv("REEFERWATCH_DATABASE_URL", central_settings.database_url)
    monkeypatch.setenv("REEFERWATCH_SECRET_KEY", central_settings.secret())
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    assert cli_main(["user", "add", "carol", "--password-stdin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli_main(["user", "add", "carol", "--role", "admin", "--password-stdin"]) == 0
    with TestClient(create_app(central_settings, central_db)) as client:
        assert _token(client, "carol", PASSWORD)
        assert cli_main(["user", "disable", "carol"]) == 0
        denied = client.post("/api/v1/auth/token", data={"username": "carol", "password": PASSWORD})
        assert denied.status_code == 401
    with central_db.session() as session:
        carol = session.execute(select(User).where(User.username == "carol")).scalar_one()
        assert carol.role == "admin" and carol.disabled
        assert carol.password_hash.startswith("$argon2id$")


def test_media_link_streams_only_its_clip_and_is_audited(
    client: TestClient, auth: dict[str, str], seeded: dict[str, list[str]], central_db: Database
) -> None:
    first, second = seeded["clips"][0], seeded["clips"][1]
    link = client.get(f"/api/v1/clips/{first}/video-url", headers=auth)
    assert link.status_code == 200
    url = link.json()["url"]

    ranged = client.get(url, headers={"Range": "bytes=0-9"})  # no Authorization header
    assert ranged.status_code == 206 and ranged.content == VIDEO[:10]

    sig = parse_qs(urlparse(url).query)["sig"][0]
    other = client.get(f"/api/v1/clips/{second}/video", params={"sig": sig})
    assert other.status_code == 401 and "another clip" in other.json()["detail"]
    as_bearer = client.get("/api/v1/clips", headers={"Authorization": f"Bearer {sig}"})
    assert as_bearer.status_code == 401
    with central_db.session() as session:
        actions = session.execute(select(Audit.action, Audit.actor)).all()
    assert ("clip.video", "alice") in actions


def test_expired_or_forged_media_link_is_refused(
    client: TestClient, seeded: dict[str, list[str]], central_settings: Settings
) -> None:
    clip = seeded["clips"][0]
    expired, _ = issue_media_token(central_settings.secret(), "alice", clip, seconds=-1)
    response = client.get(f"/api/v1/clips/{clip}/video", params={"sig": expired})
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    forged, _ = issue_media_token("x" * 64, "alice", clip, seconds=60)
    assert client.get(f"/api/v1/clips/{clip}/video", params={"sig": forged}).status_code == 401
    assert client.get(f"/api/v1/clips/{clip}/video-url").status_code == 401


def test_inspector_ui_is_served_in_chinese_by_default(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    strings = client.get("/ui/i18n.js").text
    assert "监管人员登录" in strings and "Inspector sign-in" in strings


@pytest.mark.parametrize(
    "url", ["/api/v1/events?site=a%00b", "/api/v1/clips?camera=%00", "/api/v1/clips/x%00y"]
)
def test_nul_in_a_url_is_a_client_error(client: TestClient, auth: dict[str, str], url: str) -> None:
    response = client.get(url, headers=auth)
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_metrics_report_when_the_brokers_crl_expires(
    central_settings: Settings, central_db: Database, tmp_path: Path
) -> None:
    authority = CertificateAuthority.init(tmp_path / "ca")
    issued = authority.issue_crl(30)
    settings = central_settings.model_copy(update={"crl_file": authority.crl_file})
    with TestClient(create_app(settings, central_db)) as crl_client:
        text = crl_client.get("/metrics").text
        assert "reeferwatch_crl_readable 1" in text
        expected = f"reeferwatch_crl_next_update_seconds {issued.next_update_utc.timestamp():.0f}"
        assert expected in text
        authority.crl_file.write_text("not a CRL")
        assert "reeferwatch_crl_readable 0" in crl_client.get("/metrics").text
