"""Signing in through the API: sessions with rotating refresh tokens, revocation, lockout,
the per-address rate limit, terminal binding (regulation Art. 7) and their audit lines."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, update

from central.api import create_app
from central.cli import main as cli_main
from central.db import Audit, Database
from central.db.engine import alembic_config
from central.db.models import AuthSession, LoginAttempt, LoginLock
from central.db.types import utcnow
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import file_init, send_file

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
SESSIONS = "/api/v1/auth/sessions"


def _app(settings: Settings, db: Database, **overrides: object) -> FastAPI:
    return create_app(settings.model_copy(update=overrides), db)


@pytest.fixture
def app(central_settings: Settings, central_db: Database) -> FastAPI:
    with central_db.session() as session:
        add_user(session, "alice", PASSWORD, "admin", actor="test")
        add_user(session, "mona", PASSWORD, "monitor", actor="test")
        session.commit()
    return _app(central_settings, central_db, login_rate_limit=1000)  # 5 failures lock


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def cli_env(central_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(central_settings.data_dir))
    monkeypatch.setenv("REEFERWATCH_DATABASE_URL", central_settings.database_url)
    monkeypatch.setenv("REEFERWATCH_SECRET_KEY", central_settings.secret())


def login(
    client: TestClient,
    username: str = "alice",
    password: str = PASSWORD,
    terminal: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    data = {"username": username, "password": password}
    if terminal is not None:
        data["terminal"] = terminal
    return client.post(TOKEN, data=data, headers=headers or {})


def tokens(
    client: TestClient,
    username: str = "alice",
    terminal: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    response = login(client, username, terminal=terminal, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def bearer(body: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


def refresh(client: TestClient, token: str, terminal: str | None = None) -> httpx.Response:
    headers = {"X-ReeferWatch-Terminal": terminal} if terminal else {}
    return client.post(
        REFRESH, data={"grant_type": "refresh_token", "refresh_token": token}, headers=headers
    )


def actions(db: Database) -> list[tuple[str, str, str | None]]:
    with db.session() as session:
        rows = session.execute(select(Audit.action, Audit.actor, Audit.target).order_by(Audit.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_sign_in_opens_a_session_with_access_and_refresh_tokens(
    client: TestClient, central_settings: Settings, central_db: Database
) -> None:
    body = tokens(client)
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    assert body["refresh_expires_in"] == 12 * 3600 and body["terminal"] is None
    claims = jwt.decode(body["access_token"], central_settings.secret(), algorithms=["HS256"])
    assert claims["sid"] == body["session_id"] and claims["sub"] == "alice"
    listed = client.get(SESSIONS, headers=bearer(body)).json()
    assert [(s["id"], s["current"], s["state"], s["client"]) for s in listed] == [
        (body["session_id"], True, "live", "testclient")
    ]
    with central_db.session() as session:
        row = session.get(AuthSession, body["session_id"])
        assert row is not None
        stored = " ".join(str(value) for value in vars(row).values())
    assert row.refresh_hash == hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    assert body["refresh_token"] not in stored  # only its digest is kept
    assert ("auth.login", "alice", "alice") in actions(central_db)


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(
    client: TestClient, central_db: Database
) -> None:
    first = tokens(client)
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    renewed = second.json()
    assert renewed["session_id"] == first["session_id"]
    assert renewed["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/events", headers=bearer(renewed)).status_code == 200

    reused = refresh(client, first["refresh_token"])  # e.g. stolen before the rotation
    assert reused.status_code == 401
    assert "already used" in reused.json()["detail"]
    for body in (first, renewed):
        refused = client.get("/api/v1/events", headers=bearer(body))
        assert refused.status_code == 401
        assert refused.json()["detail"] == "session revoked (refresh_reuse): sign in again"
    assert refresh(client, renewed["refresh_token"]).status_code == 401
    assert ("auth.refresh_reuse", "alice", first["session_id"]) in actions(central_db)


def test_access_refresh_and_media_tokens_are_not_interchangeable(
    client: TestClient, central_settings: Settings
) -> None:
    body = tokens(client)
    as_bearer = client.get(
        "/api/v1/events", headers={"Authorization": "Bearer " + body["refresh_token"]}
    )
    assert as_bearer.status_code == 401
    assert refresh(client, body["access_token"]).status_code == 401
    no_session = jwt.encode(
        {"sub": "alice", "role": "admin", "exp": 4e9, "jti": "1"},
        central_settings.secret(),
        "HS256",
    )
    refused = client.get("/api/v1/events", headers={"Authorization": f"Bearer {no_session}"})
    assert refused.status_code == 401 and "sid" in refused.json()["detail"]
    forged = jwt.encode(
        {"sub": "alice", "role": "admin", "sid": "0" * 32, "exp": 4e9, "jti": "1"},
        central_settings.secret(),
        "HS256",
    )
    unknown = client.get("/api/v1/events", headers={"Authorization": f"Bearer {forged}"})
    assert unknown.status_code == 401 and "unknown session" in unknown.json()["detail"]


def test_session_of_another_user_is_refused(client: TestClient, central_settings: Settings) -> None:
    mona = tokens(client, "mona")
    swapped = jwt.encode(
        {"sub": "alice", "role": "admin", "sid": mona["session_id"], "exp": 4e9, "jti": "1"},
        central_settings.secret(),
        "HS256",
    )
    refused = client.get("/api/v1/events", headers={"Authorization": f"Bearer {swapped}"})
    assert refused.status_code == 401 and "does not belong" in refused.json()["detail"]


@pytest.fixture
def clip_id(ingest: IngestService) -> str:
    data = os.urandom(4000)
    init = file_init(data, seq=5)
    send_file(ingest, init, data)
    return init.file_id


def test_logout_revokes_the_session_its_refresh_token_and_its_media_links(
    client: TestClient, clip_id: str, central_db: Database
) -> None:
    body = tokens(client)
    link = client.get(f"/api/v1/clips/{clip_id}/video-url", headers=bearer(body)).json()["url"]
    assert client.get(link, headers={"Range": "bytes=0-9"}).status_code == 206

    assert client.post("/api/v1/auth/logout", headers=bearer(body)).status_code == 204
    after = client.get("/api/v1/events", headers=bearer(body))
    assert after.status_code == 401 and "session revoked (logout)" in after.json()["detail"]
    assert refresh(client, body["refresh_token"]).status_code == 401
    tokens(client)  # a new session, opened after the link was issued, does not revive it
    dead = client.get(link, headers={"Range": "bytes=0-9"})
    assert dead.status_code == 401 and "revoked (logout)" in dead.json()["detail"]
    sig = parse_qs(urlparse(link).query)["sig"][0]
    assert client.get(f"/api/v1/clips/{clip_id}/video", params={"sig": sig}).status_code == 401
    assert ("auth.logout", "alice", "alice") in actions(central_db)


def test_delete_session_ends_only_that_one_of_ones_own(
    client: TestClient, central_db: Database
) -> None:
    here, there = tokens(client), tokens(client)
    mona = tokens(client, "mona")
    gone = client.delete(f"{SESSIONS}/{there['session_id']}", headers=bearer(here))
    assert gone.status_code == 204
    assert client.get("/api/v1/events", headers=bearer(there)).status_code == 401
    assert client.get("/api/v1/events", headers=bearer(here)).status_code == 200
    assert (
        client.delete(f"{SESSIONS}/{there['session_id']}", headers=bearer(here)).status_code == 204
    )
    others = client.delete(f"{SESSIONS}/{mona['session_id']}", headers=bearer(here))
    assert others.status_code == 404  # not one's own: as if it did not exist
    assert client.get("/api/v1/events", headers=bearer(mona)).status_code == 200
    assert client.delete(f"{SESSIONS}/nope", headers=bearer(here)).status_code == 404

    live = client.get(SESSIONS, headers=bearer(here)).json()
    assert [s["id"] for s in live] == [here["session_id"]]
    every = client.get(SESSIONS, params={"include_ended": "true"}, headers=bearer(here)).json()
    ended = {s["id"]: (s["state"], s["revoked_reason"]) for s in every}
    assert ended[there["session_id"]] == ("revoked", "revoked")
    revokes = [a for a in actions(central_db) if a[0] == "session.revoke"]
    assert revokes == [("session.revoke", "alice", "alice")]  # the second DELETE changed nothing


def test_expired_session_and_disabled_user_are_refused(
    client: TestClient, central_db: Database, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tokens(client)
    with central_db.session() as session:
        session.execute(
            update(AuthSession)
            .where(AuthSession.id == body["session_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    expired = client.get("/api/v1/events", headers=bearer(body))
    assert expired.status_code == 401 and "session expired" in expired.json()["detail"]
    assert refresh(client, body["refresh_token"]).status_code == 401

    mona = tokens(client, "mona")
    cli(capsys, "user", "disable", "mona")
    assert client.get("/api/v1/events", headers=bearer(mona)).status_code == 401
    refused = refresh(client, mona["refresh_token"])
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]


def test_cli_lists_and_revokes_a_users_sessions(
    client: TestClient, cli_env: None, capsys: pytest.CaptureFixture[str], central_db: Database
) -> None:
    one, two = tokens(client, "mona"), tokens(client, "mona")
    listed = cli(capsys, "user", "sessions", "mona")
    assert one["session_id"] in listed and two["session_id"] in listed
    assert "ended 2 session(s) of mona" in cli(capsys, "user", "revoke-sessions", "mona")
    for body in (one, two):
        assert client.get("/api/v1/events", headers=bearer(body)).status_code == 401
    assert cli(capsys, "user", "sessions", "mona") == ""
    assert ("session.revoke", "cli", "mona") in actions(central_db)


def test_failed_sign_ins_lock_a_user_name_until_unlocked(
    client: TestClient, central_db: Database, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(4):
        wrong = login(client, "mona", "wrong password!")
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "incorrect username or password"
    fifth = login(client, "mona", "wrong password!")
    assert fifth.status_code == 429 and int(fifth.headers["Retry-After"]) == 15 * 60
    assert "locked" in fifth.json()["detail"]
    locked = login(client, "mona")  # the right password does not get through a lock
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert login(client, "alice").status_code == 200  # other names are not affected

    trail = [a for a in actions(central_db) if a[2] == "mona"]
    assert [a[0] for a in trail] == ["user.add", *["auth.fail"] * 5, "auth.lockout", "auth.fail"]

    assert "unlocked mona" in cli(capsys, "user", "unlock", "mona")
    assert login(client, "mona").status_code == 200
    assert ("auth.unlock", "cli", "mona") in actions(central_db)
    assert "was not locked" in cli(capsys, "user", "unlock", "mona")


def test_a_lock_ends_by_itself_and_its_failures_are_forgotten(
    client: TestClient, central_db: Database
) -> None:
    for _ in range(5):
        login(client, "mona", "wrong password!")
    assert login(client, "mona").status_code == 429
    with central_db.session() as session:  # fifteen minutes pass
        session.execute(update(LoginLock).values(locked_until=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert login(client, "mona", "wrong password!").status_code == 401  # a new count begins
    assert login(client, "mona").status_code == 200


def test_a_lock_does_not_tell_whether_the_user_exists(client: TestClient) -> None:
    answers = {}
    for name in ("mona", "nobody"):
        seen = [login(client, name, "wrong password!") for _ in range(6)]
        answers[name] = [(r.status_code, r.json()["detail"].split(" retry")[0]) for r in seen]
    assert answers["mona"] == answers["nobody"]
    assert [code for code, _ in answers["nobody"]] == [401] * 4 + [429] * 2


def test_odd_user_names_are_refused_not_crashed(client: TestClient) -> None:
    for name in ("a\x00b", "x" * 500, "名字", " alice"):
        response = login(client, name, "whatever password")
        assert response.status_code == 401, (name, response.text)


def test_rate_limit_per_client_address(
    central_settings: Settings, central_db: Database, app: FastAPI
) -> None:
    limited = _app(central_settings, central_db, login_rate_limit=3, login_rate_window_s=60)
    with TestClient(limited, client=("192.0.2.7", 4000)) as client:
        assert [login(client, "alice").status_code for _ in range(2)] == [200, 200]
        assert login(client, "mona", "wrong password!").status_code == 401
        for _ in range(3):
            refused = login(client, "alice")
            assert refused.status_code == 429
            assert "192.0.2.7" in refused.json()["detail"]
            assert 0 < int(refused.headers["Retry-After"]) <= 60
        with TestClient(limited, client=("192.0.2.8", 4000)) as other:
            assert login(other, "alice").status_code == 200
        with central_db.session() as session:  # a minute passes
            session.execute(
                update(LoginAttempt)
                .where(LoginAttempt.client == "192.0.2.7")
                .values(at=utcnow() - timedelta(seconds=61))
            )
            session.commit()
        assert login(client, "alice").status_code == 200
    limits = [a for a in actions(central_db) if a[0] == "auth.rate_limited"]
    assert limits == [("auth.rate_limited", "alice", "192.0.2.7")]  # once per window


def _terminal(capsys: pytest.CaptureFixture[str], name: str) -> str:
    out = cli(capsys, "terminal", "add", name, "--org", "Qingdao branch, room 3")
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("rwt_") and len(secret) > 40
    return secret


def test_a_user_bound_to_terminals_signs_in_only_from_one_of_them(
    client: TestClient, central_db: Database, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    t1, t2 = _terminal(capsys, "qd-room3"), _terminal(capsys, "qd-room4")
    elsewhere = tokens(client, "mona")  # no binding: as before
    bound = cli(capsys, "user", "bind-terminal", "mona", "qd-room3")
    assert "ended 1 session(s) opened elsewhere" in bound
    assert client.get("/api/v1/events", headers=bearer(elsewhere)).status_code == 401

    missing = login(client, "mona")
    assert missing.status_code == 401 and "no terminal secret" in missing.json()["detail"]
    other = login(client, "mona", terminal=t2)
    assert other.status_code == 401 and "not from 'qd-room4'" in other.json()["detail"]
    assert "not valid" in login(client, "mona", terminal="rwt_guess").json()["detail"]
    wrong_password = login(client, "mona", "wrong password!", terminal=t1)
    assert wrong_password.json()["detail"] == "incorrect username or password"

    body = tokens(client, "mona", terminal=t1)
    assert body["terminal"] == "qd-room3"
    by_header = tokens(client, "mona", headers={"X-ReeferWatch-Terminal": t1})
    assert by_header["terminal"] == "qd-room3"
    assert tokens(client, "alice", terminal=t2)["terminal"] == "qd-room4"  # recorded, unbound

    assert refresh(client, body["refresh_token"]).status_code == 401  # from elsewhere
    renewed = refresh(client, body["refresh_token"], terminal=t1)
    assert renewed.status_code == 200, renewed.text
    listed = client.get(SESSIONS, headers=bearer(renewed.json())).json()
    assert {s["terminal"] for s in listed} == {"qd-room3"}

    table = cli(capsys, "terminal", "list")
    assert "qd-room3\tactive\t" in table and table.splitlines()[0].endswith("\tmona")
    assert "Qingdao branch, room 3" in table

    assert "ended 2 session(s)" in cli(capsys, "terminal", "revoke", "qd-room3")
    assert client.get("/api/v1/events", headers=bearer(renewed.json())).status_code == 401
    revoked = login(client, "mona", terminal=t1)
    assert revoked.status_code == 401 and "not valid" in revoked.json()["detail"]
    assert "qd-room3\trevoked" in cli(capsys, "terminal", "list")
    assert cli_main(["terminal", "revoke", "qd-room3"]) == 1

    trail = [a[:2] for a in actions(central_db) if a[0].startswith("terminal.")]
    assert trail == [("terminal.add", "cli"), ("terminal.add", "cli"),
                     ("terminal.bind", "cli"), ("terminal.revoke", "cli")]  # fmt: skip
    with central_db.session() as session:
        fails = session.execute(
            select(Audit.detail).where(Audit.action == "auth.fail", Audit.target == "mona")
        ).scalars()
        reasons = [detail["reason"] for detail in fails]
    assert reasons == ["terminal", "terminal", "terminal", "credentials", "terminal"]


def test_a_replayed_refresh_token_revokes_a_terminal_session_even_from_elsewhere(
    client: TestClient, cli_env: None, capsys: pytest.CaptureFixture[str], central_db: Database
) -> None:
    secret = _terminal(capsys, "qd-room6")
    cli(capsys, "user", "bind-terminal", "mona", "qd-room6")
    body = tokens(client, "mona", terminal=secret)
    assert refresh(client, body["refresh_token"], terminal=secret).status_code == 200
    stolen = refresh(client, body["refresh_token"])  # an old copy, replayed elsewhere
    assert stolen.status_code == 401 and "already used" in stolen.json()["detail"]
    assert client.get("/api/v1/events", headers=bearer(body)).status_code == 401
    assert [a[0] for a in actions(central_db)][-1] == "auth.refresh_reuse"


def test_unbinding_ends_the_sessions_from_that_terminal(
    client: TestClient, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = _terminal(capsys, "qd-room5")
    cli(capsys, "user", "bind-terminal", "mona", "qd-room5")
    assert cli_main(["user", "bind-terminal", "mona", "qd-room5"]) == 1  # already bound
    assert cli_main(["user", "bind-terminal", "nobody", "qd-room5"]) == 1
    body = tokens(client, "mona", terminal=secret)
    assert "ended 1 session(s)" in cli(capsys, "user", "unbind-terminal", "mona", "qd-room5")
    assert client.get("/api/v1/events", headers=bearer(body)).status_code == 401
    assert login(client, "mona").status_code == 200  # no binding left


def test_no_account_exists_until_an_administrator_creates_one(
    central_settings: Settings, central_db: Database
) -> None:
    with TestClient(create_app(central_settings, central_db)) as client:
        for name, password in (("admin", "admin"), ("admin", "reeferwatch"), ("root", "")):
            assert login(client, name, password).status_code in (401, 422)


def test_migration_0005_downgrades_and_upgrades(central_db: Database) -> None:
    auth_tables = {"sessions", "terminals", "user_terminals", "login_attempts", "login_locks"}
    config = alembic_config()
    with central_db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert not auth_tables & set(inspect(central_db.engine).get_table_names())
    central_db.migrate()
    assert auth_tables <= set(inspect(central_db.engine).get_table_names())


def test_a_media_link_dies_with_its_own_session_while_another_lives(
    client: TestClient, clip_id: str
) -> None:
    first, second = tokens(client), tokens(client)
    link = client.get(f"/api/v1/clips/{clip_id}/video-url", headers=bearer(first)).json()["url"]
    assert client.get(link, headers={"Range": "bytes=0-9"}).status_code == 206
    gone = client.delete(f"{SESSIONS}/{first['session_id']}", headers=bearer(second))
    assert gone.status_code == 204
    assert client.get("/api/v1/events", headers=bearer(second)).status_code == 200
    assert client.get(link, headers={"Range": "bytes=0-9"}).status_code == 401
