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
from tests.central_messages import SITE, event_msg, file_init, send_event, send_file
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


def sign_in(page: Page, url: str) -> Page:
    """Open the UI at ``url`` and sign in as the national inspector."""
    page.goto(url)
    page.fill("input[name=username]", "inspector")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    return page


def test_inspector_finds_a_loading_by_container_and_plays_its_video(
    central_settings: Settings,
    central_db: Database,
    ingest: IngestService,
    clip_video: bytes,
    page: Page,
) -> None:
    with central_db.session() as session:
        add_user(session, "inspector", PASSWORD, "admin", actor="test")
        session.commit()
    facts = {"session_id": "S1", "container_no": "MSCU1234565", "vehicle_plate": "鲁B12345"}
    start = event_msg(seq=1, kind="loading_start", camera=None)
    end = event_msg(seq=2, kind="loading_end", camera=None)
    for msg in (start, end):
        send_event(ingest, msg.model_copy(update={"data": facts}))
    other = event_msg(seq=3, kind="loading_start", camera=None)
    send_event(ingest, other.model_copy(update={"data": {"session_id": "S2"}}))
    piece = file_init(clip_video, seq=4, event_ids=[start.id, end.id])
    send_file(ingest, piece, clip_video)
    with serve_central(central_settings) as url:
        pg = sign_in(page, url)
        pg.wait_for_selector("#table tbody tr")
        pg.click("nav button[data-view=loading-sessions]")
        assert pg.locator("#filters input[name=camera]").is_hidden()
        pg.fill("input[name=container]", "mscu1234565")
        pg.click("#filters button[type=submit]")
        pg.wait_for_function(
            "document.querySelectorAll('#table tbody tr').length === 1"
            " && document.querySelector('#table tbody').innerText.includes('MSCU1234565')"
        )
        assert "鲁B12345" in pg.locator("#table tbody tr").first.inner_text()
        pg.locator("#table tbody tr").first.click()
        pg.wait_for_selector("#session-clip-list button")
        assert pg.locator("#session-clip-list button").count() == 1
        pg.locator("#session-clip-list button").first.click()
        pg.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=15000)
        assert 3.5 <= pg.evaluate("document.querySelector('#player').duration") <= 4.5
    with central_db.session() as session:
        seen = session.execute(
            select(Audit.actor).where(Audit.action == "loading_session.view")
        ).all()
    assert ("inspector",) in seen


def test_inspector_asks_a_site_for_recorded_video(
    central_settings: Settings, central_db: Database, ingest: IngestService, page: Page
) -> None:
    with central_db.session() as session:
        add_user(session, "inspector", PASSWORD, "admin", actor="test")
        session.commit()
    send_event(ingest, event_msg(seq=1, kind="mark"))  # the site's box has reported
    with serve_central(central_settings) as url:
        pg = sign_in(page, url)
        pg.wait_for_selector("#nav:not([hidden])")
        pg.click("nav button[data-view=upload-requests]")
        form = pg.locator("#request-form")
        assert form.is_visible() and pg.locator("#filters input[name=camera]").is_hidden()
        form.locator("input[name=site]").fill(SITE)
        form.locator("input[name=camera]").fill("cam-1")
        form.locator("input[name=start]").fill("2026-11-27T08:00:00")
        form.locator("input[name=end]").fill("2026-11-27T08:05:00")
        form.locator("input[name=reason]").fill("复查")
        form.locator("button[type=submit]").click()
        pg.wait_for_function(
            "document.querySelector('#table tbody').innerText.includes('排队中')"
        )  # no ingest runs here to publish it: it stays queued
        assert "cam-1" in pg.locator("#table tbody tr").first.inner_text()
        form.locator("input[name=site]").fill("no-such-site")
        form.locator("button[type=submit]").click()
        pg.wait_for_function("document.querySelector('#request-error').textContent.length > 0")
        assert pg.locator("#request-error").inner_text().startswith("调阅请求被拒绝")
    with central_db.session() as session:
        asked = session.execute(
            select(Audit.actor).where(Audit.action == "upload_request.create")
        ).all()
    assert asked == [("inspector",)]
