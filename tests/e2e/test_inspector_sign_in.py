"""Signing in from the web UI in a real browser: a user bound to a terminal needs the
terminal registered in the browser; the UI renews its access token with the refresh token
before it expires (on a browser clock the test moves) and signing out revokes the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from central.auth import terminals
from central.db import Audit, Database
from central.db.models import AuthSession
from central.db.types import utcnow
from central.settings import Settings
from central.users import add_user
from tests.e2e.browser import serve_central

pytest_plugins = ["tests.central_fixtures", "tests.e2e.browser"]
pytestmark = pytest.mark.slow

PASSWORD = "an inspector's long password"


@pytest.fixture
def terminal_secret(central_db: Database) -> str:
    with central_db.session() as session:
        add_user(session, "inspector", PASSWORD, "monitor", actor="test")
        _, secret = terminals.add_terminal(session, "qd-room3", "Qingdao room 3", "test")
        terminals.bind(session, "inspector", "qd-room3", "test", utcnow())
        session.commit()
    return secret


@pytest.fixture
def served(central_settings: Settings, central_db: Database) -> Iterator[str]:
    with serve_central(central_settings, REEFERWATCH_ACCESS_TOKEN_MINUTES="2") as url:
        yield url


def _session(db: Database) -> AuthSession:
    with db.session() as session:
        return session.execute(select(AuthSession)).scalar_one()


def test_bound_inspector_registers_the_terminal_renews_and_signs_out(
    served: str, page: Page, central_db: Database, terminal_secret: str
) -> None:
    pg = page
    pg.clock.install()
    pg.goto(served)
    assert pg.locator("#terminal-state").inner_text() == "本机未登记"
    pg.fill("input[name=username]", "inspector")
    pg.fill("input[name=password]", PASSWORD)
    pg.click("#login button[type=submit]")
    pg.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
    assert pg.locator("#login-error").inner_text() == "此账号只能在已登记的监控终端上登录"

    pg.fill("#terminal-secret", terminal_secret)
    pg.click("#terminal button[type=submit]")
    assert pg.locator("#terminal-state").inner_text() == "本机已登记为监控终端"
    assert pg.evaluate("localStorage.getItem('rw.terminal')") == terminal_secret
    pg.click("#login button[type=submit]")
    pg.wait_for_selector("#browser:not([hidden])")
    assert pg.locator("#who").inner_text() == "inspector · qd-room3"
    assert pg.locator("#terminal").is_hidden()
    opened = _session(central_db)
    assert opened.refresh_generation == 0 and opened.terminal_id is not None

    first = pg.evaluate("sessionStorage.getItem('rw.refresh')")
    pg.clock.fast_forward("01:05")  # a minute before the 2-minute access token expires
    pg.wait_for_function(f"sessionStorage.getItem('rw.refresh') !== {first!r}")
    assert _session(central_db).refresh_generation == 1
    with pg.expect_response(lambda r: "/api/v1/clips" in r.url) as listed:
        pg.click("#filters button[type=submit]")
    renewed = pg.evaluate("sessionStorage.getItem('rw.token')")
    assert listed.value.status == 200
    assert listed.value.request.headers["authorization"] == f"Bearer {renewed}"

    pg.click("#logout")
    pg.wait_for_selector("#login:not([hidden])")
    assert pg.evaluate("sessionStorage.getItem('rw.refresh')") is None
    ended = _session(central_db)
    assert ended.revoked_at is not None and ended.revoked_reason == "logout"
    with central_db.session() as session:
        trail = session.execute(
            select(Audit.action).where(Audit.actor == "inspector").order_by(Audit.id)
        ).scalars()
        assert list(trail) == ["auth.fail", "auth.login", "auth.logout"]
