"""The web UI's administration screens in a real browser (Debian's Chromium driven by
Playwright): legal hold and retention in the clip pane (admins change them, monitors only see
them), the device picker of the request form, and the read-only sites tab with zones and
cameras. Chinese is the default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from central import orgs, retention
from central.db import Audit, Database
from central.db.models import Clip, Command, Device
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import DEVICE, SITE, event_msg, file_init, send_event, send_file
from tests.e2e.browser import serve_central

pytest_plugins = ["tests.central_fixtures", "tests.e2e.browser"]
pytestmark = pytest.mark.slow

PASSWORD = "an inspector's long password"
ADMIN, MONITOR = "qd-admin", "qd-mon"  # of the branch SITE belongs to
ENTERPRISE = "青岛海鲜冷藏有限公司"


@dataclass
class World:
    url: str
    db: Database
    clip_id: str

    def clip(self) -> Clip:
        with self.db.session() as session:
            row = session.get(Clip, self.clip_id)
            assert row is not None
            return row

    def audit(self, action: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        with self.db.session() as session:
            rows = session.scalars(select(Audit).where(Audit.action == action).order_by(Audit.id))
            return [(r.actor, r.target, r.detail) for r in rows]


@pytest.fixture
def world(
    central_settings: Settings, central_db: Database, ingest: IngestService
) -> Iterator[World]:
    """SITE under branch b-qd with two cameras (cam-1 in zone "dock"), a second site under
    another branch, an admin and a monitor (granted cam-1) of b-qd, a clip of cam-1 and two
    boxes at SITE: edge-1, heard from last, and edge-2."""
    with central_db.session() as session:
        for code, name, parent in (
            ("p-sd", "山东局", "national"),
            ("b-qd", "青岛分支局", "p-sd"),
            ("p-fj", "福建局", "national"),
            ("b-xm", "厦门分支局", "p-fj"),
        ):
            orgs.add_unit(session, code, name, parent, "test")
        orgs.add_site(session, SITE, "b-qd", ENTERPRISE, "test", registration_no="3700/02017",
                      address="青岛市黄岛区", location_code="370211")  # fmt: skip
        orgs.add_site(session, "xm-site", "b-xm", "厦门水产", "test")
        orgs.add_camera(session, SITE, "cam-1", "装货口枪机", "test")
        orgs.add_camera(session, SITE, "cam-2", "冷库球机", "test", ptz=True)
        zone = orgs.add_zone(session, SITE, "dock", "装货口", "test")
        orgs.set_camera_zone(session, SITE, "cam-1", zone.id, "test")
        add_user(session, ADMIN, PASSWORD, "admin", "test", org="b-qd")
        add_user(session, MONITOR, PASSWORD, "monitor", "test", org="b-qd")
        orgs.grant_camera(session, MONITOR, SITE, "cam-1", "test")
        session.add(Device(site_id=SITE, device_id="edge-2",
                           last_seen=datetime(2020, 1, 1, tzinfo=timezone.utc)))  # fmt: skip
        session.commit()
    mark = event_msg(seq=1, kind="mark")
    send_event(ingest, mark)  # edge-1 reports: heard from last
    data = os.urandom(3000)  # the player need not play it: the pane is what is tested
    init = file_init(data, seq=2, event_ids=[mark.id])
    send_file(ingest, init, data)
    with serve_central(central_settings) as url:
        yield World(url, central_db, init.file_id)


def sign_in(page: Page, url: str, user: str) -> Page:
    page.goto(url)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#nav:not([hidden])")
    return page


def open_clip(page: Page) -> None:
    page.wait_for_selector("#table tbody tr")
    page.locator("#table tbody tr").first.click()
    page.wait_for_function("document.querySelector('#facts').innerText.includes('保全')")


def facts(page: Page) -> dict[str, str]:
    terms = page.locator("#facts dt").all_inner_texts()
    return dict(zip(terms, page.locator("#facts dd").all_inner_texts(), strict=True))


def wait_facts(page: Page, text: str) -> None:
    page.wait_for_function(
        "text => document.querySelector('#facts').innerText.includes(text)", arg=text
    )


def give_reason(page: Page, button: str, reason: str) -> None:
    page.click(button)
    form = page.locator("#hold-form")
    assert form.is_visible()
    form.locator("input[name=reason]").fill(reason)
    form.locator("button[type=submit]").click()


def test_an_admin_places_and_releases_a_hold_and_keeps_a_clip_as_evidence(
    world: World, page: Page
) -> None:
    pg = sign_in(page, world.url, ADMIN)
    open_clip(pg)
    shown = facts(pg)
    assert shown["保存类别"] == "标准" and shown["保全"] == "未保全"
    assert shown["保留至"] not in ("", "—", "永久保存")  # standard: a date
    assert pg.locator("#hold-place").is_visible() and pg.locator("#hold-release").is_hidden()

    give_reason(pg, "#hold-place", "标签不全，立案 2026-017")
    wait_facts(pg, "已保全：标签不全，立案 2026-017")
    assert pg.locator("#hold-release").is_visible() and pg.locator("#hold-place").is_hidden()
    row = world.clip()
    assert row.hold and row.hold_reason == "标签不全，立案 2026-017"
    assert [(a, t) for a, t, _ in world.audit("clip.hold")] == [(ADMIN, world.clip_id)]

    give_reason(pg, "#hold-release", "结案 2026-017")
    wait_facts(pg, "未保全")
    assert not world.clip().hold
    assert [(a, t) for a, t, _ in world.audit("clip.release")] == [(ADMIN, world.clip_id)]

    give_reason(pg, "#hold-evidence", "立案 2026-017")
    wait_facts(pg, "证据")
    assert facts(pg)["保留至"] == "永久保存"  # evidence: kept for good by default
    assert pg.locator("#hold-evidence").is_hidden()
    assert world.clip().retention_class == "evidence"

    # a refusal of the API is shown in the pane: the hold was released elsewhere meanwhile
    give_reason(pg, "#hold-place", "复查")
    wait_facts(pg, "已保全：复查")
    with world.db.session() as session:
        clip = retention.lock_clip(session, world.clip_id)
        assert clip is not None
        retention.release_hold(session, clip, "nat-admin", "elsewhere")
        session.commit()
    give_reason(pg, "#hold-release", "结案")
    pg.wait_for_function("document.querySelector('#detail-error').textContent.length > 0")
    alert = pg.locator("#detail [role=alert]")
    assert alert.inner_text().startswith("操作被拒绝") and alert.is_visible()


def test_a_monitor_sees_the_retention_but_no_hold_controls(world: World, page: Page) -> None:
    pg = sign_in(page, world.url, MONITOR)
    open_clip(pg)
    shown = facts(pg)
    assert (shown["保存类别"], shown["保全"]) == ("标准", "未保全")
    assert pg.locator("#hold-actions").is_hidden()
    for button in ("#hold-place", "#hold-release", "#hold-evidence"):
        assert not pg.locator(button).is_visible(), button
    # the sites tab shows a monitor only the cameras granted to them
    pg.click("nav button[data-view=sites]")
    pg.wait_for_selector("#table tbody tr")
    pg.locator("#table tbody tr").first.click()
    pg.wait_for_selector("#site-detail:not([hidden])")
    assert pg.locator("#site-cameras tbody tr").all_inner_texts() == [
        "cam-1\t装货口枪机\t装货口 (dock)\t否"
    ]


def test_the_request_form_offers_the_sites_devices_and_asks_the_chosen_one(
    world: World, page: Page
) -> None:
    pg = sign_in(page, world.url, ADMIN)
    pg.click("nav button[data-view=upload-requests]")
    form = pg.locator("#request-form")
    device = form.locator("select[name=device]")
    assert device.locator("option").all_inner_texts() == ["最近在线的设备"]
    form.locator("input[name=site]").fill(SITE)
    pg.wait_for_function(
        "document.querySelectorAll('#request-form select[name=device] option').length === 3"
    )
    values = device.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert values == ["", DEVICE, "edge-2"]
    assert device.input_value() == ""  # the box heard from last, unless chosen
    device.select_option("edge-2")
    form.locator("input[name=camera]").fill("cam-1")
    form.locator("input[name=start]").fill("2026-11-27T08:00:00")
    form.locator("input[name=end]").fill("2026-11-27T08:05:00")
    form.locator("input[name=reason]").fill("复查")
    form.locator("button[type=submit]").click()
    pg.wait_for_function("document.querySelector('#table tbody').innerText.includes('排队中')")
    assert "edge-2" in pg.locator("#table tbody tr").first.inner_text()

    device.select_option("")  # not chosen: no device is sent, central asks edge-1
    form.locator("button[type=submit]").click()
    pg.wait_for_function("document.querySelectorAll('#table tbody tr').length === 2")
    with world.db.session() as session:
        asked = session.scalars(select(Command.device)).all()
    assert sorted(asked) == sorted(["edge-2", DEVICE])
    lines = world.audit("upload_request.create")
    assert [(actor, detail["device"]) for actor, _, detail in lines] == [
        (ADMIN, "edge-2"),
        (ADMIN, DEVICE),
    ]

    form.locator("input[name=site]").fill("xm-site")  # no box has reported there
    pg.wait_for_function(
        "document.querySelectorAll('#request-form select[name=device] option').length === 1"
    )


def test_the_sites_tab_lists_the_sites_and_shows_zones_and_cameras(
    world: World, page: Page
) -> None:
    pg = sign_in(page, world.url, ADMIN)
    pg.click("nav button[data-view=sites]")
    pg.wait_for_selector("#table tbody tr")
    assert pg.locator("#table thead").inner_text().strip().split("\t") == [
        "场所编号", "企业名称", "注册登记号", "所在地代码", "所属机构",
    ]  # fmt: skip
    # the admin of b-qd sees the sites of b-qd only
    assert pg.locator("#table tbody tr").all_inner_texts() == [
        f"{SITE}\t{ENTERPRISE}\t3700/02017\t370211\t青岛分支局 (b-qd)"
    ]
    assert pg.locator("#filters input[name=camera]").is_hidden()

    pg.locator("#table tbody tr").first.click()
    pg.wait_for_selector("#site-detail:not([hidden])")
    assert facts(pg)["地址"] == "青岛市黄岛区"
    assert pg.locator("#player").is_hidden() and pg.locator("#download").is_hidden()
    assert pg.locator("#site-cameras tbody tr").all_inner_texts() == [
        "cam-1\t装货口枪机\t装货口 (dock)\t否",
        "cam-2\t冷库球机\t—\t是",
    ]
    assert pg.locator("#site-zones tbody tr").all_inner_texts() == ["dock\t装货口\tcam-1"]

    pg.fill("#filters input[name=site]", "厦门")  # a site the admin may not see
    pg.click("#filters button[type=submit]")
    pg.wait_for_selector("#empty:not([hidden])")
    assert pg.locator("#table tbody tr").count() == 0
    pg.fill("#filters input[name=site]", "海鲜")
    pg.click("#filters button[type=submit]")
    pg.wait_for_selector("#table tbody tr")
    assert pg.locator("#table tbody tr").count() == 1

    pg.select_option("#lang", "en")
    pg.wait_for_function("document.querySelector('#table thead').innerText.includes('Enterprise')")
    assert pg.locator("nav button[data-view=sites]").inner_text() == "Sites"
