"""``reeferwatch-central org | site | camera | grant | user move | import``: the supervision
tree from the command line, and CSV imports that check every row before writing any."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central import audit, orgimport
from central.cli import main as cli_main
from central.db import Audit, Database
from central.db.models import Camera, Grant, OrgUnit, Site
from central.progress import Progress
from central.settings import Settings
from central.users import add_user
from wire.errors import StoreError

pytest_plugins = ["tests.central_fixtures"]

Cli = Callable[..., tuple[int, str, str]]
ORGS = "code,name,parent\np-sd,山东局,national\nb-qd,青岛分支局,p-sd\nb-yt,烟台分支局,p-sd\n"
SITES = (
    "id,org,enterprise_name,registration_no,address,location_code\n"
    "sd-1,b-qd,青岛海鲜水产有限公司,3702-001,青岛市黄岛区前湾港路1号,QD01\n"
    'sd-2,b-yt,"烟台冷链, 有限公司",,,\n'
)
CAMERAS = "site,camera,name,ptz\nsd-1,c1,装货口,yes\nsd-1,c2,冷库门,\nsd-2,c1,装货口,0\n"


@pytest.fixture
def cli(
    central_settings: Settings,
    central_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """Run the command line against the test database: (exit code, stdout, stderr)."""
    monkeypatch.setenv("REEFERWATCH_DATABASE_URL", central_settings.database_url)
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(central_settings.data_dir))
    monkeypatch.setenv("REEFERWATCH_SECRET_KEY", central_settings.secret())

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli_main(["--log-level", "WARNING", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _write(tmp_path: Path, name: str, text: str, bom: bool = True) -> Path:
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def _count(db: Database, model: type[object]) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _actions(db: Database) -> list[tuple[str, str | None]]:
    with db.session() as session:
        return [(a.action, a.target) for a in session.scalars(select(Audit).order_by(Audit.id))]


def test_tree_commands(cli: Cli, central_db: Database) -> None:
    assert cli("org", "add", "p-sd", "山东局", "--parent", "national")[0] == 0
    assert cli("org", "add", "b-qd", "青岛分支局", "--parent", "p-sd")[0] == 0
    code, _, err = cli("org", "add", "b-x", "x", "--parent", "b-qd")
    assert code == 1 and "level 3: it cannot have units" in err
    code, _, err = cli("site", "add", "sd-1", "--org", "p-sd", "--enterprise", "x")
    assert code == 1 and "org p-sd is level 2, not a branch (3)" in err
    args = ["--enterprise", "青岛水产", "--address", "青岛市", "--registration-no", "R1"]
    assert cli("site", "add", "sd-1", "--org", "b-qd", *args)[0] == 0
    assert cli("camera", "add", "sd-1", "c1", "--name", "装货口", "--ptz")[0] == 0
    code, out, _ = cli("org", "list")
    assert out.splitlines() == [
        "national  国家级监控中心",
        "  p-sd  山东局",
        "    b-qd  青岛分支局  (1 sites)",
    ]
    assert cli("site", "list", "--org", "p-sd")[1] == "sd-1\tb-qd\t青岛水产\tR1\t青岛市\t\n"
    assert cli("site", "list", "--org", "national")[1].startswith("sd-1\t")
    assert cli("site", "list", "--org", "nope")[0] == 1
    with central_db.session() as session:
        add_user(session, "mona", "correct horse battery", "monitor", "test", org="b-qd")
        session.commit()
    assert cli("grant", "add", "mona", "sd-1", "c1")[1] == "mona may watch sd-1/c1\n"
    assert cli("grant", "list", "mona")[1].startswith("sd-1\tc1\tcli\t")
    assert cli("grant", "revoke", "mona", "sd-1", "c1")[0] == 0
    code, _, err = cli("grant", "revoke", "mona", "sd-1", "c1")
    assert code == 1 and "mona holds no grant of sd-1/c1" in err
    assert cli("grant", "add", "mona", "sd-1", "c2")[0] == 1  # no such camera
    assert cli("grant", "add", "mona", "sd-1", "c1")[0] == 0
    assert (
        cli("user", "move", "mona", "--org", "p-sd")[1] == "moved mona under p-sd (1 grants kept)\n"
    )
    assert cli("user", "move", "mona", "--org", "national")[0] == 0
    assert cli("org", "add", "p-fj", "福建局", "--parent", "national")[0] == 0
    assert cli("org", "add", "b-xm", "厦门分支局", "--parent", "p-fj")[0] == 0
    assert cli("user", "move", "mona", "--org", "b-xm")[1].endswith("(0 grants kept)\n")
    assert _count(central_db, Grant) == 0
    actions = [action for action, _ in _actions(central_db)]
    for action in ("org.add", "site.add", "camera.add", "grant.add", "grant.revoke", "user.move"):
        assert action in actions


@pytest.mark.parametrize("bom", [True, False], ids=["bom", "no-bom"])
def test_import_reads_utf8_with_or_without_bom(
    cli: Cli, central_db: Database, tmp_path: Path, bom: bool
) -> None:
    for kind, name, text in (
        ("org-tree", "orgs.csv", ORGS),
        ("sites", "sites.csv", SITES),
        ("cameras", "cameras.csv", CAMERAS),
    ):
        code, out, err = cli("import", kind, str(_write(tmp_path, name, text, bom)))
        assert code == 0, err
        rows = text.count("\n") - 1
        assert f"{rows} rows: {rows} created, 0 updated, 0 unchanged" in out
    with central_db.session() as session:
        unit = session.scalars(select(OrgUnit).where(OrgUnit.code == "b-qd")).one()
        assert (unit.name, unit.level) == ("青岛分支局", 3)
        site = session.get(Site, "sd-1")
        assert site is not None and site.enterprise_name == "青岛海鲜水产有限公司"
        assert site.address == "青岛市黄岛区前湾港路1号" and site.location_code == "QD01"
        other = session.get(Site, "sd-2")
        assert other is not None and other.enterprise_name == "烟台冷链, 有限公司"
        assert other.registration_no is None
        cams = {(c.site_id, c.camera_id): (c.name, c.ptz) for c in session.scalars(select(Camera))}
        assert cams == {
            ("sd-1", "c1"): ("装货口", True),
            ("sd-1", "c2"): ("冷库门", False),
            ("sd-2", "c1"): ("装货口", False),
        }
        assert audit.verify_chain(session).ok
    actions = _actions(central_db)
    assert ("site.add", "sd-1") in actions and ("camera.add", "sd-1/c2") in actions
    assert ("import.sites", "sites.csv") in actions


def test_bad_rows_are_all_reported_with_line_numbers_and_nothing_written(
    cli: Cli, central_db: Database, tmp_path: Path
) -> None:
    assert cli("import", "org-tree", str(_write(tmp_path, "o.csv", ORGS)))[0] == 0
    before = _actions(central_db)
    text = (
        "id,org,enterprise_name,address\n"  # 1
        "ok-1,b-qd,好公司,青岛\n"  # 2
        "bad id,b-qd,公司,\n"  # 3
        "ok-2,b-nope,公司,\n"  # 4
        "ok-3,p-sd,公司,\n"  # 5
        '"ok-4",b-qd,,"two\nlines"\n'  # 6-7
        "ok-1,b-qd,重复,\n"  # 8
        "\n"  # 9: blank, skipped
        f"ok-5,b-qd,公司,{'长' * 401}\n"  # 10
        "ok-6,b-qd,公司,,extra\n"  # 11
        "ok-7,b-qd,好公司\n"  # 12: a short row is fine
    )
    code, out, err = cli("import", "sites", str(_write(tmp_path, "s.csv", text)))
    assert code == 1 and out == ""
    assert "7 problems, nothing written" in err
    expected = [
        "line 3: site: 'bad id' is not an id",
        "line 4: org 'b-nope' is not in the database",
        "line 5: org p-sd is level 2: sites belong to branch units (level 3)",
        "line 6: enterprise_name is empty",
        "line 8: site 'ok-1' is also on line 2",
        "line 10: address is longer than 400 characters",
        "line 11: 5 cells, the header has 4",
    ]
    lines = err.splitlines()
    assert len(lines) == 1 + len(expected)
    for want in expected:
        assert any(line.strip().startswith(want) for line in lines), (want, err)
    assert _count(central_db, Site) == 0
    assert _actions(central_db) == before


def test_reimport_changes_nothing_and_differences_need_update(
    cli: Cli, central_db: Database, tmp_path: Path
) -> None:
    files = [
        ("org-tree", _write(tmp_path, "o.csv", ORGS)),
        ("sites", _write(tmp_path, "s.csv", SITES)),
        ("cameras", _write(tmp_path, "c.csv", CAMERAS)),
    ]
    for kind, path in files:
        assert cli("import", kind, str(path))[0] == 0
    before = _actions(central_db)
    for kind, path in files:
        code, out, _ = cli("import", kind, str(path))
        assert code == 0 and "0 created, 0 updated" in out and "differ" not in out
    assert _actions(central_db) == before
    changed = SITES.replace("青岛海鲜水产有限公司", "青岛新公司").replace(",QD01", ",")
    path = _write(tmp_path, "s2.csv", changed + "sd-3,b-qd,新厂,,,\n")
    code, out, _ = cli("import", "sites", "--dry-run", str(path))
    assert "1 would be created, 0 would be updated, 1 unchanged" in out
    assert _actions(central_db) == before
    code, out, _ = cli("import", "sites", str(path))
    assert code == 0 and "1 created, 0 updated, 1 unchanged" in out
    assert "line 2: sd-1: enterprise_name: '青岛海鲜水产有限公司' in the database, " in out
    assert "location_code: 'QD01' in the database, None in the file" in out
    with central_db.session() as session:
        site = session.get(Site, "sd-1")
        assert site is not None and site.enterprise_name == "青岛海鲜水产有限公司"
    code, out, _ = cli("import", "sites", "--update", str(path))
    assert code == 0 and "0 created, 1 updated, 2 unchanged" in out
    with central_db.session() as session:
        site = session.get(Site, "sd-1")
        assert site is not None and site.enterprise_name == "青岛新公司"
        assert site.location_code is None and site.address == "青岛市黄岛区前湾港路1号"
        line = session.scalars(select(Audit).where(Audit.action == "site.update")).one()
        assert line.target == "sd-1"
        assert line.detail["changed"]["enterprise_name"] == ["青岛海鲜水产有限公司", "青岛新公司"]
        assert audit.verify_chain(session).ok
    # a file without the optional columns leaves them alone; ptz left out keeps the stored one
    path = _write(tmp_path, "s3.csv", "id,org,enterprise_name\nsd-1,b-qd,青岛新公司\n")
    assert "0 created, 0 updated, 1 unchanged" in cli("import", "sites", str(path))[1]
    path = _write(tmp_path, "c2.csv", "site,camera,name\nsd-1,c1,装货口\n")
    assert "0 created, 0 updated, 1 unchanged" in cli("import", "cameras", str(path))[1]
    code, out, err = cli(
        "import",
        "sites",
        str(_write(tmp_path, "s4.csv", "id,org,enterprise_name\nsd-1,b-yt,青岛新公司\n")),
    )
    assert code == 1 and "line 2: site sd-1 is under another org in the database" in err


def test_org_tree_in_any_order_and_broken_trees(
    cli: Cli, central_db: Database, tmp_path: Path
) -> None:
    reverse = "code,name,parent\nb-qd,青岛,p-sd\np-sd,山东,national\n"
    assert cli("import", "org-tree", str(_write(tmp_path, "o.csv", reverse)))[0] == 0
    with central_db.session() as session:
        unit = session.scalars(select(OrgUnit).where(OrgUnit.code == "b-qd")).one()
        parent = session.scalars(select(OrgUnit).where(OrgUnit.code == "p-sd")).one()
        assert unit.level == 3 and unit.parent_id == parent.id
        assert unit.path == f"/1/{parent.id}/{unit.id}/"
    broken = (
        "code,name,parent\n"
        "b-deep,x,b-qd\n"  # 2: level 4
        "l1,x,l2\n"  # 3: a loop
        "l2,x,l1\n"  # 4
        "o1,x,nowhere\n"  # 5
        "p-sd,山东,p-fj\n"  # 6: a move
        "bad code!,x,national\n"  # 7
        "new,,national\n"  # 8
    )
    code, _, err = cli("import", "org-tree", str(_write(tmp_path, "b.csv", broken)))
    assert code == 1 and "7 problems" in err
    for want in (
        "line 2: org b-deep would be level 4",
        "line 3: org l1: its chain of parents loops",
        "line 4: org l2",
        "line 5: org o1: the parent 'nowhere' is in neither",
        "line 6: org p-sd is under national in the database, not p-fj",
        "line 7: org code 'bad code!'",
        "line 8: org new: the name",
    ):
        assert want in err
    assert _count(central_db, OrgUnit) == 3


def test_unreadable_files(cli: Cli, tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("code,name,parent\np-sd,山东局,national\n".encode("gbk"))
    code, _, err = cli("import", "org-tree", str(gbk))
    assert code == 1 and "line 2: not UTF-8" in err and "CSV UTF-8" in err
    header = _write(tmp_path, "h.csv", "code,nmae,parent\n")
    code, _, err = cli("import", "org-tree", str(header))
    assert "lacks column 'name'" in err and "unknown column 'nmae'" in err
    assert "is empty" in cli("import", "sites", str(_write(tmp_path, "e.csv", "")))[2]
    assert "cannot read it" in cli("import", "sites", str(tmp_path / "missing.csv"))[2]
    broken_quote = _write(tmp_path, "q.csv", 'code,name,parent\n"p-sd,x,national\n')
    assert "line 2:" in cli("import", "org-tree", str(broken_quote))[2]
    bad_ptz = "site,camera,name,ptz\nsd-1,c1,x,maybe\n"
    err = cli("import", "cameras", str(_write(tmp_path, "p.csv", bad_ptz)))[2]
    assert "line 2: ptz 'maybe'" in err and "line 2: site 'sd-1' is not in the database" in err


def test_a_failure_while_writing_keeps_nothing(
    cli: Cli, central_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("import", "org-tree", str(_write(tmp_path, "o.csv", ORGS)))[0] == 0
    before = _actions(central_db)
    rows = "".join(f"s-{i},b-qd,公司{i},,,\n" for i in range(25))
    path = _write(
        tmp_path, "s.csv", "id,org,enterprise_name,registration_no,address,location_code\n" + rows
    )
    calls = []
    real = audit.append_many

    def failing(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("disk full")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(orgimport, "CHUNK", 10)
    monkeypatch.setattr(orgimport.audit, "append_many", failing)
    code, _, err = cli("import", "sites", str(path))
    assert code == 1 and "disk full" in err and len(calls) == 2
    assert _count(central_db, Site) == 0 and _actions(central_db) == before
    monkeypatch.setattr(orgimport.audit, "append_many", real)
    assert "25 created" in cli("import", "sites", str(path))[1]


def test_append_many_chains_like_append(central_db: Database) -> None:
    with central_db.session() as session:
        audit.append(session, "a", "x.one", "t")
        assert audit.append_many(session, "b", [("x.two", f"t{i}", {"i": i}) for i in range(5)])
        audit.append(session, "c", "x.three", None)
        assert audit.append_many(session, "d", []) == 0
        session.commit()
        report = audit.verify_chain(session)
        assert report.ok and report.rows == 7
        targets = [a.target for a in session.scalars(select(Audit).order_by(Audit.id))]
        assert targets == ["t", "t0", "t1", "t2", "t3", "t4", None]


def test_progress_bar_draws_only_when_asked() -> None:
    stream = io.StringIO()
    with Progress(3, "sites.csv", stream, enabled=True) as bar:
        bar.advance(2)
        bar.advance(5)
    assert "sites.csv [" in stream.getvalue() and "3/3 100%" in stream.getvalue()
    quiet = io.StringIO()
    with Progress(3, "x", quiet) as bar:
        bar.advance(3)
    assert quiet.getvalue() == ""


def test_large_import_timing(
    cli: Cli, central_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """5,000 sites and 20,000 cameras; the time is printed, not asserted."""
    units = "".join(
        f"p{p},省局{p},national\n" + "".join(f"b{p}-{b},分支局{p}-{b},p{p}\n" for b in range(10))
        for p in range(30)
    )
    sites = "".join(
        f"s{i:05d},b{i % 30}-{i % 10},水产有限公司{i},R{i},某市某路{i}号,L{i}\n"
        for i in range(5000)
    )
    cams = "".join(
        f"s{i:05d},c{c},摄像机{c},{int(c == 0)}\n" for i in range(5000) for c in range(4)
    )
    files = [
        ("org-tree", _write(tmp_path, "o.csv", "code,name,parent\n" + units)),
        (
            "sites",
            _write(
                tmp_path,
                "s.csv",
                "id,org,enterprise_name,registration_no,address,location_code\n" + sites,
            ),
        ),
        ("cameras", _write(tmp_path, "c.csv", "site,camera,name,ptz\n" + cams)),
    ]
    took = {}
    for kind, path in files:
        started = time.perf_counter()
        code, _, err = cli("import", kind, str(path))
        took[kind] = time.perf_counter() - started
        assert code == 0, err
    started = time.perf_counter()
    for kind, path in files:
        assert "0 created, 0 updated" in cli("import", kind, str(path))[1]
    again = time.perf_counter() - started
    assert _count(central_db, Site) == 5000 and _count(central_db, Camera) == 20000
    with capsys.disabled():
        print(
            f"\nimport on {central_db.engine.dialect.name}: "
            + ", ".join(f"{kind} {s:.2f} s" for kind, s in took.items())
            + f"; re-import of all three (nothing to do) {again:.2f} s"
        )
