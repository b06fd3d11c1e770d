"""``reeferwatch-central zone add | list``: the zones of a site from the command line."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from central import orgs
from central.cli import main as cli_main
from central.db import Audit, Database
from central.db.models import Zone
from central.settings import Settings

pytest_plugins = ["tests.central_fixtures"]

Cli = Callable[..., tuple[int, str, str]]


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


@pytest.fixture
def sites(central_db: Database) -> None:
    with central_db.session() as session:
        orgs.add_unit(session, "p-sd", "山东局", "national", "test")
        orgs.add_unit(session, "b-qd", "青岛分支局", "p-sd", "test")
        for site in ("sd-1", "sd-2"):
            orgs.add_site(session, site, "b-qd", "青岛水产", "test")
            for camera in ("c1", "c2"):
                orgs.add_camera(session, site, camera, "装货口", "test")
        session.commit()


def test_zone_add_and_list(cli: Cli, central_db: Database, sites: None) -> None:
    code, out, err = cli("zone", "add", "--site", "sd-1", "--code", "dock", "--name", "装货口")
    assert code == 0, err
    with central_db.session() as session:
        dock = session.scalars(select(Zone).where(Zone.code == "dock")).one()
        assert (dock.site_id, dock.name) == ("sd-1", "装货口")
        orgs.set_camera_zone(session, "sd-1", "c2", dock.id, "test")
        orgs.set_camera_zone(session, "sd-1", "c1", dock.id, "test")
        session.commit()
    assert out == f"added zone sd-1/dock (id {dock.id})\n"
    assert cli("zone", "add", "--site", "sd-1", "--code", "cold", "--name", "冷库")[0] == 0
    assert cli("zone", "add", "--site", "sd-2", "--code", "dock", "--name", "装货口")[0] == 0
    code, out, _ = cli("zone", "list", "--site", "sd-1")
    lines = [line.split("\t")[1:] for line in out.splitlines()]
    assert lines == [["cold", "冷库", ""], ["dock", "装货口", "c1,c2"]]
    assert out.splitlines()[1].split("\t")[0] == str(dock.id)
    other = cli("zone", "list", "--site", "sd-2")[1].splitlines()
    assert [line.split("\t")[1:] for line in other] == [["dock", "装货口", ""]]
    with central_db.session() as session:
        lines = session.scalars(select(Audit).where(Audit.action == "zone.add")).all()
        assert [(a.actor, a.target) for a in lines] == [
            ("cli", "sd-1/dock"),
            ("cli", "sd-1/cold"),
            ("cli", "sd-2/dock"),
        ]
        assert lines[0].detail == {"id": dock.id, "name": "装货口"}


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--site", "sd-1", "--code", "dock", "--name", "again"), "zone sd-1/dock exists already"),
        (("--site", "nope", "--code", "dock", "--name", "x"), "no site 'nope'"),
        (("--site", "sd-1", "--code", "a b", "--name", "x"), "zone: 'a b' is not an id"),
        (("--site", "sd-1", "--code", "gate", "--name", "  "), "the name must be 1-200"),
    ],
)
def test_zone_add_refusals(
    cli: Cli, central_db: Database, sites: None, args: tuple[str, ...], problem: str
) -> None:
    assert cli("zone", "add", "--site", "sd-1", "--code", "dock", "--name", "装货口")[0] == 0
    code, _, err = cli("zone", "add", *args)
    assert code == 1 and problem in err
    with central_db.session() as session:
        assert len(session.scalars(select(Zone)).all()) == 1


def test_zone_list_of_an_unknown_site(cli: Cli, sites: None) -> None:
    code, out, err = cli("zone", "list", "--site", "nope")
    assert code == 1 and out == "" and "no site 'nope'" in err
    assert cli("zone", "list", "--site", "sd-2") == (0, "", "")


def test_zone_assign_puts_a_camera_in_a_zone_and_out_again(
    cli: Cli, central_db: Database, sites: None
) -> None:
    assert cli("zone", "add", "--site", "sd-1", "--code", "dock", "--name", "装货口")[0] == 0
    assert cli("zone", "add", "--site", "sd-2", "--code", "cold", "--name", "冷库")[0] == 0
    code, out, err = cli("zone", "assign", "--site", "sd-1", "--camera", "c2", "--zone", "dock")
    assert (code, out) == (0, "camera sd-1/c2 is in zone sd-1/dock\n"), err
    assert cli("zone", "list", "--site", "sd-1")[1].split("\t")[1:] == ["dock", "装货口", "c2\n"]
    # another site's zone, an unknown zone or camera: refused, nothing changes
    for args, problem in (
        (("--camera", "c1", "--zone", "cold"), "no zone sd-1/cold"),
        (("--camera", "c9", "--zone", "dock"), "no camera sd-1/c9"),
    ):
        code, _, err = cli("zone", "assign", "--site", "sd-1", *args)
        assert code == 1 and problem in err
    code, out, _ = cli("zone", "assign", "--site", "sd-1", "--camera", "c2", "--zone", "-")
    assert (code, out) == (0, "camera sd-1/c2 is in no zone\n")
    with central_db.session() as session:
        lines = session.scalars(select(Audit).where(Audit.action == "camera.zone")).all()
        assert [(a.actor, a.target) for a in lines] == [("cli", "sd-1/c2"), ("cli", "sd-1/c2")]
