"""The users tab and the change-password card in a real browser (Debian's Chromium driven by
Playwright): an admin adds a monitor, grants them a camera, takes a grant away, changes a
role and disables the monitor (who then cannot sign in); the API's refusals show in the
screen; a monitor never sees the tab; anyone changes their own password. Chinese is the
default."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Dialog, Page
from sqlalchemy import select

from central import orgs
from central.db import Database
from central.db.models import Grant, OrgUnit, User
from central.settings import Settings
from central.users import add_user
from tests.central_messages import SITE
from tests.e2e.browser import serve_central
from tests.helpers import wait_for

pytest_plugins = ["tests.central_fixtures", "tests.e2e.browser"]
pytestmark = pytest.mark.slow

PASSWORD = "an inspector's long password"
NEW_PASSWORD = "a brand new passphrase"
ADMIN, MONITOR = "qd-admin", "qd-mon"  # of branch b-qd, where SITE is
PROVINCE_ADMIN, ELSEWHERE = "sd-admin", "xm-mon"  # of p-sd (above b-qd); of b-xm
NEWCOMER = "qd-new"


@dataclass
class World:
    url: str
    db: Database

    def user(self, name: str) -> User:
        with self.db.session() as session:
            user = session.scalars(select(User).where(User.username == name)).one()
            session.expunge(user)
            return user

    def grants(self, name: str) -> list[tuple[str, str, str]]:
        with self.db.session() as session:
            rows = session.execute(
                select(Grant.site_id, Grant.camera_id, Grant.granted_by)
                .join(User, User.id == Grant.user_id)
                .where(User.username == name)
                .order_by(Grant.site_id, Grant.camera_id)
            )
            return [tuple(r) for r in rows]

    def signs_in(self, name: str, password: str) -> int:
        """The status of POST /auth/token for ``name`` and ``password``."""
        form = {"username": name, "password": password}
        return httpx.post(f"{self.url}/api/v1/auth/token", data=form, timeout=10).status_code


@pytest.fixture
def world(central_settings: Settings, central_db: Database) -> Iterator[World]:
    """SITE (two cameras) under branch b-qd of province p-sd, a site under b-xm of p-fj; the
    admin and a monitor (granted cam-1) of b-qd, the admin of p-sd and a monitor of b-xm."""
    with central_db.session() as session:
        for code, name, parent in (
            ("p-sd", "山东局", "national"),
            ("b-qd", "青岛分支局", "p-sd"),
            ("p-fj", "福建局", "national"),
            ("b-xm", "厦门分支局", "p-fj"),
        ):
            orgs.add_unit(session, code, name, parent, "test")
        orgs.add_site(session, SITE, "b-qd", "青岛海鲜冷藏有限公司", "test")
        orgs.add_site(session, "xm-site", "b-xm", "厦门水产", "test")
        orgs.add_camera(session, SITE, "cam-1", "装货口枪机", "test")
        orgs.add_camera(session, SITE, "cam-2", "冷库球机", "test", ptz=True)
        orgs.add_camera(session, "xm-site", "cam-x", "厦门枪机", "test")
        add_user(session, ADMIN, PASSWORD, "admin", "test", org="b-qd")
        add_user(session, MONITOR, PASSWORD, "monitor", "test", org="b-qd")
        add_user(session, PROVINCE_ADMIN, PASSWORD, "admin", "test", org="p-sd")
        add_user(session, ELSEWHERE, PASSWORD, "monitor", "test", org="b-xm")
        orgs.grant_camera(session, MONITOR, SITE, "cam-1", "test")
        session.commit()
    with serve_central(central_settings) as url:
        yield World(url, central_db)


def sign_in(page: Page, url: str, user: str) -> Page:
    page.goto(url)
    return log_in(page, user)


def log_in(page: Page, user: str, password: str = PASSWORD) -> Page:
    """Sign in from the sign-in form shown (after signing out, the page is not reloaded)."""
    page.fill("#login input[name=username]", user)
    page.fill("#login input[name=password]", password)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#nav:not([hidden])")
    return page


def open_users(page: Page) -> None:
    page.click("#tab-users")
    page.wait_for_selector("#user-table tbody tr")


def user_rows(page: Page) -> list[str]:
    return page.locator("#user-table tbody tr").all_inner_texts()


def choose(page: Page, name: str) -> None:
    page.locator("#user-table tbody tr", has_text=name).first.click()
    page.wait_for_function(
        "name => document.querySelector('#user-title').textContent === name"
        " && !document.querySelector('#user-detail').hidden",
        arg=name,
    )


def facts(page: Page) -> dict[str, str]:
    terms = page.locator("#user-facts dt").all_inner_texts()
    return dict(zip(terms, page.locator("#user-facts dd").all_inner_texts(), strict=True))


def wait_text(page: Page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
        arg=[selector, text],
    )


def test_an_admin_adds_a_monitor_grants_a_camera_and_disables_them(
    world: World, page: Page
) -> None:
    pg = sign_in(page, world.url, ADMIN)
    assert pg.locator("#tab-users").inner_text() == "用户"
    open_users(pg)
    assert pg.locator("#user-table thead").inner_text().strip().split("\t") == [
        "用户名", "角色", "所属机构", "状态", "授权摄像机",
    ]  # fmt: skip
    # the admin of b-qd sees the users of b-qd only
    assert user_rows(pg) == [
        f"{ADMIN}\t管理员\t青岛分支局 (b-qd)\t正常\t0",
        f"{MONITOR}\t监控员\t青岛分支局 (b-qd)\t正常\t1",
    ]
    assert pg.locator("#lists").is_hidden() and pg.locator("#filters").is_hidden()
    form = pg.locator("#user-add")
    assert form.locator("select[name=org] option").all_inner_texts() == ["青岛分支局 (b-qd)"]

    # refusals of the API show their detail: a short password (422), a name in use (409)
    form.locator("input[name=username]").fill(NEWCOMER)
    form.locator("input[name=password]").fill("too short")
    form.locator("button[type=submit]").click()
    wait_text(pg, "#user-add-error", "12")
    assert pg.locator("#user-add [role=alert]").inner_text().startswith("操作被拒绝: ")
    form.locator("input[name=username]").fill(MONITOR)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    wait_text(pg, "#user-add-error", "already exists")

    form.locator("input[name=username]").fill(NEWCOMER)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("select[name=role]").select_option("monitor")
    form.locator("button[type=submit]").click()
    pg.wait_for_function(
        "name => document.querySelector('#user-title').textContent === name", arg=NEWCOMER
    )
    assert pg.locator("#user-add-error").inner_text() == ""
    assert form.locator("input[name=password]").input_value() == ""
    assert f"{NEWCOMER}\t监控员\t青岛分支局 (b-qd)\t正常\t0" in user_rows(pg)
    assert facts(pg)["状态"] == "正常" and facts(pg)["授权摄像机"] == "0"
    assert pg.locator("#user-no-grants").is_visible()
    created = world.user(NEWCOMER)
    assert (created.role, created.disabled) == ("monitor", False)
    assert world.signs_in(NEWCOMER, PASSWORD) == 200

    # grant cam-2: the site list holds the sites of the user's unit, then its cameras
    grant = pg.locator("#grant-add")
    assert grant.locator("select[name=site] option").evaluate_all(
        "options => options.map(o => o.value)"
    ) == ["", SITE]
    grant.locator("select[name=site]").select_option(SITE)
    pg.wait_for_function("document.querySelectorAll('#grant-add option[value^=cam]').length === 2")
    assert grant.locator("select[name=camera] option").all_inner_texts()[1:] == [
        "cam-1 · 装货口枪机",
        "cam-2 · 冷库球机",
    ]
    grant.locator("select[name=camera]").select_option("cam-2")
    grant.locator("button[type=submit]").click()
    pg.wait_for_selector("#user-grants tbody tr")
    [shown] = pg.locator("#user-grants tbody tr").all_inner_texts()
    assert shown.startswith(f"{SITE} / cam-2\t冷库球机\t{ADMIN}\t") and shown.endswith("移除")
    assert world.grants(NEWCOMER) == [(SITE, "cam-2", ADMIN)]
    wait_text(pg, "#user-table tbody", f"{NEWCOMER}\t监控员\t青岛分支局 (b-qd)\t正常\t1")

    # disabling asks first: dismissed, nothing changes; accepted, the user is disabled
    asked: list[str] = []

    def answer(accept: bool) -> None:
        def handle(dialog: Dialog) -> None:
            asked.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        pg.once("dialog", handle)

    assert pg.locator("#user-toggle").inner_text() == "禁用账号"
    answer(False)
    pg.click("#user-toggle")
    wait_for(lambda: asked, 10, "the question before disabling")
    assert asked == [f"确定禁用用户 {NEWCOMER}？其所有登录会话将立即结束。"]
    assert not world.user(NEWCOMER).disabled
    answer(True)
    pg.click("#user-toggle")
    wait_text(pg, "#user-facts", "已禁用")
    assert len(asked) == 2
    assert pg.locator("#user-toggle").inner_text() == "启用账号"
    wait_text(pg, "#user-table tbody", f"{NEWCOMER}\t监控员\t青岛分支局 (b-qd)\t已禁用\t1")
    assert world.user(NEWCOMER).disabled
    assert world.signs_in(NEWCOMER, PASSWORD) == 401

    # the other monitor: their grant is taken away and they are made an admin
    choose(pg, MONITOR)
    assert pg.locator("#user-grants tbody tr").all_inner_texts()[0].startswith(f"{SITE} / cam-1\t")
    pg.locator("#user-grants tbody tr button").click()
    pg.wait_for_selector("#user-no-grants:not([hidden])")
    assert world.grants(MONITOR) == []
    pg.select_option("#user-role select[name=role]", "admin")
    pg.click("#user-role button[type=submit]")
    wait_text(pg, "#user-facts", "管理员")
    assert world.user(MONITOR).role == "admin"
    wait_text(pg, "#user-table tbody", f"{MONITOR}\t管理员\t青岛分支局 (b-qd)\t正常\t0")

    # nobody disables their own account: the API's 409 shows in the pane
    choose(pg, ADMIN)
    answer(True)
    pg.click("#user-toggle")
    wait_text(pg, "#user-error", "your own account")
    alert = pg.locator("#user-detail [role=alert]")
    assert alert.is_visible() and alert.inner_text().startswith("操作被拒绝: ")
    assert not world.user(ADMIN).disabled

    pg.select_option("#lang", "en")
    wait_text(pg, "#user-table thead", "User name")
    wait_text(pg, "#user-facts", "administrator")
    assert pg.locator("#tab-users").inner_text() == "Users"


def test_the_users_tab_pages_and_filters_by_unit(world: World, page: Page) -> None:
    with world.db.session() as session:
        some_hash = session.scalars(select(User.password_hash)).first()
        assert some_hash is not None
        branch = session.scalars(select(OrgUnit.id).where(OrgUnit.code == "b-qd")).one()
        for n in range(55):
            session.add(User(username=f"qd-{n:02d}", password_hash=some_hash, role="monitor",
                             org_unit_id=branch))  # fmt: skip
        session.commit()
    pg = sign_in(page, world.url, PROVINCE_ADMIN)
    open_users(pg)
    # the admin of p-sd: its own unit and b-qd below it, indented
    units = pg.locator("#user-filter select[name=org] option").all_inner_texts()
    assert units == ["全部机构", "山东局 (p-sd)", "\u3000青岛分支局 (b-qd)"]
    assert pg.locator("#user-table tbody tr").count() == 50
    assert pg.locator("#user-more").is_visible()
    pg.click("#user-more")
    pg.wait_for_function("document.querySelectorAll('#user-table tbody tr').length === 58")
    assert pg.locator("#user-more").is_hidden()
    names = [row.split("\t")[0] for row in user_rows(pg)]
    assert names == sorted(names) and ELSEWHERE not in names
    assert names.count(PROVINCE_ADMIN) == 1

    pg.select_option("#user-filter select[name=org]", "p-sd")
    pg.wait_for_function("document.querySelectorAll('#user-table tbody tr').length === 1")
    assert user_rows(pg) == [f"{PROVINCE_ADMIN}\t管理员\t山东局 (p-sd)\t正常\t0"]
    assert pg.locator("#user-more").is_hidden()


def test_a_monitor_never_sees_the_users_tab(world: World, page: Page) -> None:
    pg = sign_in(page, world.url, ADMIN)
    open_users(pg)
    pg.click("#logout")
    pg.wait_for_selector("#login:not([hidden])")
    assert pg.locator("#tab-users").is_hidden() and pg.locator("#password-open").is_hidden()

    log_in(pg, MONITOR)
    pg.wait_for_selector("#table tbody tr, #empty:not([hidden])")
    assert pg.locator("#tab-users").is_hidden()
    assert pg.locator("#users").is_hidden() and pg.locator("#lists").is_visible()
    assert pg.locator("nav button.tab.active").inner_text() == "视频片段"
    assert pg.locator("#password-open").is_visible()  # but may change their password


def test_a_user_changes_their_password_in_the_card(world: World, page: Page) -> None:
    pg = sign_in(page, world.url, MONITOR)
    assert pg.locator("#password-open").inner_text() == "修改密码"
    pg.click("#password-open")
    card = pg.locator("#password-form")
    assert card.is_visible()

    def submit(current: str, new: str, repeat: str) -> None:
        card.locator("input[name=current_password]").fill(current)
        card.locator("input[name=new_password]").fill(new)
        card.locator("input[name=repeat]").fill(repeat)
        card.locator("button[type=submit]").click()

    alert = pg.locator("#password-form [role=alert]")
    submit(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")  # checked in the browser
    wait_text(pg, "#password-error", "两次输入的新密码不一致")
    submit("not my password", NEW_PASSWORD, NEW_PASSWORD)  # 403
    wait_text(pg, "#password-error", "current password is wrong")
    assert alert.inner_text().startswith("密码未修改: ")
    submit(PASSWORD, "short", "short")  # 422
    wait_text(pg, "#password-error", "12")
    assert world.signs_in(MONITOR, PASSWORD) == 200  # nothing changed so far

    submit(PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    wait_text(pg, "#password-done", "密码已修改")
    assert alert.inner_text() == ""
    assert card.locator("input[name=new_password]").input_value() == ""
    assert world.signs_in(MONITOR, PASSWORD) == 401
    assert world.signs_in(MONITOR, NEW_PASSWORD) == 200

    pg.click("#password-close")
    assert card.is_hidden()
    pg.click("#logout")  # this session stayed: sign out, then in with the new password
    pg.wait_for_selector("#login:not([hidden])")
    log_in(pg, MONITOR, NEW_PASSWORD)
    assert pg.locator("#who").inner_text() == MONITOR


def test_an_admin_gives_a_user_a_new_password(world: World, page: Page) -> None:
    pg = sign_in(page, world.url, ADMIN)
    open_users(pg)
    choose(pg, MONITOR)
    pg.fill("#user-password [name=new_password]", "short")
    pg.click("#user-password button")  # the browser's own check (minlength) keeps it
    assert world.signs_in(MONITOR, PASSWORD) == 200
    pg.fill("#user-password [name=new_password]", NEW_PASSWORD)
    pg.click("#user-password button")
    wait_text(pg, "#user-done", f"已为 {MONITOR} 设置新密码")
    assert pg.locator("#user-password [name=new_password]").input_value() == ""
    assert world.signs_in(MONITOR, PASSWORD) == 401
    assert world.signs_in(MONITOR, NEW_PASSWORD) == 200
    choose(pg, ADMIN)  # the message belongs to the user it was about
    assert pg.locator("#user-done").inner_text() == ""
    pg.fill("#user-password [name=new_password]", NEW_PASSWORD)
    pg.click("#user-password button")
    wait_text(pg, "#user-error", "PUT /auth/password")  # one's own: the change-password card


def test_a_provincial_admin_moves_a_monitor_up_to_the_province(world: World, page: Page) -> None:
    pg = sign_in(page, world.url, PROVINCE_ADMIN)
    open_users(pg)
    choose(pg, MONITOR)
    assert pg.locator("#user-role [name=org]").input_value() == "b-qd"
    pg.select_option("#user-role [name=org]", "p-sd")
    pg.click("#user-role button")
    wait_text(pg, "#user-facts", "山东局 (p-sd)")
    assert world.user(MONITOR).org_unit_id == unit_id(world, "p-sd")
    assert world.grants(MONITOR) == [(SITE, "cam-1", "test")]  # SITE lies under p-sd too
    choose(pg, PROVINCE_ADMIN)
    pg.select_option("#user-role [name=org]", "b-qd")
    pg.click("#user-role button")
    wait_text(pg, "#user-error", "move your own account")


def unit_id(world: World, code: str) -> int:
    with world.db.session() as session:
        return session.scalars(select(OrgUnit.id).where(OrgUnit.code == code)).one()
