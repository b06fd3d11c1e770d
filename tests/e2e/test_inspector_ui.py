"""The inspectors' web UI in a real browser (Debian's Chromium driven by Playwright):
sign in, find a clip, play it, switch language. Chinese is the default (regulation forms)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from central.db import Audit, Database
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import event_msg, file_init, send_event, send_file
from tests.e2e.browser import serve_central

pytest_plugins = ["tests.central_fixtures", "tests.e2e.browser"]
pytestmark = pytest.mark.slow

PASSWORD = "an inspector's long password"


@pytest.fixture
def clip_video(tmp_path: Path, ffmpeg: str) -> bytes:
    out = tmp_path / "clip.mp4"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
         "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


@pytest.fixture
def served(
    central_settings: Settings, central_db: Database, ingest: IngestService, clip_video: bytes
) -> Iterator[str]:
    with central_db.session() as session:
        add_user(session, "inspector", PASSWORD, "admin", actor="test")  # national: all sites
        session.commit()
    event = event_msg(seq=1, kind="mark")
    send_event(ingest, event)
    send_file(ingest, file_init(clip_video, seq=2, event_ids=[event.id]), clip_video)
    with serve_central(central_settings) as url:
        yield url


def test_inspector_signs_in_finds_and_plays_a_clip(
    served: str, page: Page, central_db: Database
) -> None:
    pg = page
    pg.goto(served)
    assert pg.locator("#login h2").inner_text() == "监管人员登录"

    pg.fill("input[name=username]", "inspector")
    pg.fill("input[name=password]", "wrong password!!")
    pg.click("#login button[type=submit]")
    pg.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
    assert pg.locator("#login-error").inner_text() == "用户名或密码错误"

    pg.fill("input[name=password]", PASSWORD)
    pg.click("#login button[type=submit]")
    pg.wait_for_selector("#table tbody tr")
    assert pg.locator("#login").is_hidden()
    assert "cam-1" in pg.locator("#table tbody tr").first.inner_text()

    pg.locator("#table tbody tr").first.click()
    pg.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=15000)
    duration = pg.evaluate("document.querySelector('#player').duration")
    assert 3.5 <= duration <= 4.5
    with central_db.session() as session:
        streamed = session.execute(select(Audit.actor).where(Audit.action == "clip.video")).all()
    assert ("inspector",) in streamed, "playing the clip in the browser was not audited"

    pg.select_option("#lang", "en")
    pg.click("nav button[data-view=events]")
    pg.wait_for_selector("#table tbody tr")
    assert "Manual mark" in pg.locator("#table tbody").inner_text()
