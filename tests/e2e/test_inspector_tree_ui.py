"""Admins grow the tree from the sites tab in a real browser: a branch unit, a site under it,
a camera of the site; the API's refusals show; a monitor sees no forms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from central.db import Database
from central.db.models import Camera, OrgUnit, Site
from central.settings import Settings
from central.users import add_user
from tests.central_tree import add_tree
from tests.e2e.browser import serve_central
from tests.e2e.test_inspector_users_ui import sign_in, wait_text

pytest_plugins = ["tests.central_fixtures", "tests.e2e.browser"]
pytestmark = pytest.mark.slow

PASSWORD = "an inspector's long password"


@pytest.fixture
def served(central_settings: Settings, central_db: Database) -> Iterator[tuple[str, Database]]:
    with central_db.session() as session:
        add_tree(session, "test")
        add_user(session, "sd-admin", PASSWORD, "admin", "test", org="p-sd")
        add_user(session, "qd-mon", PASSWORD, "monitor", "test", org="b-qd")
        session.commit()
    with serve_central(central_settings) as url:
        yield url, central_db


def test_a_provincial_admin_adds_a_branch_a_site_and_a_camera(
    served: tuple[str, Database], page: Page
) -> None:
    url, db = served
    pg = sign_in(page, url, "sd-admin")
    pg.click("nav [data-view=sites]")
    pg.wait_for_selector("#tree-forms:not([hidden])")
    parents = pg.locator("#org-add [name=parent] option").all_inner_texts()
    assert parents == ["山东局 (p-sd)"]  # a branch unit has sites, not units
    pg.fill("#org-add [name=code]", "b-qd")
    pg.fill("#org-add [name=name]", "重复")
    pg.click("#org-add button")
    wait_text(pg, "#tree-error", "exists already")
    pg.fill("#org-add [name=code]", "b-yt")
    pg.fill("#org-add [name=name]", "烟台分支局")
    pg.click("#org-add button")
    wait_text(pg, "#tree-done", "已新增 b-yt")
    pg.wait_for_function(
        "() => [...document.querySelectorAll('#site-add [name=org] option')]"
        ".some((o) => o.value === 'b-yt')"
    )
    pg.fill("#site-add [name=id]", "yt-1")
    pg.fill("#site-add [name=enterprise_name]", "烟台海洋食品有限公司")
    pg.select_option("#site-add [name=org]", "b-yt")
    pg.click("#site-add button")
    wait_text(pg, "#table tbody", "烟台海洋食品有限公司")
    pg.locator("#table tbody tr", has_text="yt-1").click()
    pg.wait_for_selector("#camera-add:not([hidden])")
    pg.fill("#camera-add [name=camera]", "cam-1")
    pg.fill("#camera-add [name=name]", "装货口")
    pg.check("#camera-add [name=ptz]")
    pg.click("#camera-add button")
    wait_text(pg, "#site-cameras tbody", "装货口")
    with db.session() as session:
        unit = session.scalars(select(OrgUnit).where(OrgUnit.code == "b-yt")).one()
        site = session.get(Site, "yt-1")
        camera = session.get(Camera, ("yt-1", "cam-1"))
        assert unit.level == 3 and site is not None and site.org_unit_id == unit.id
        assert camera is not None and camera.ptz


def test_a_monitor_sees_no_forms_to_grow_the_tree(served: tuple[str, Database], page: Page) -> None:
    url, _ = served
    pg = sign_in(page, url, "qd-mon")
    pg.click("nav [data-view=sites]")
    pg.wait_for_selector("#table thead tr")
    assert pg.locator("#tree-forms").is_hidden()
