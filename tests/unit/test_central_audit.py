"""The audit log is a hash chain: appends verify, and any edit or deletion breaks it."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import delete, update

from central import audit
from central.cli import main as cli_main
from central.db import Audit, Database
from central.settings import Settings

pytest_plugins = ["tests.central_fixtures"]


def _fill(db: Database, n: int) -> None:
    with db.session() as session:
        for i in range(n):
            audit.append(session, "alice", "clip.view", f"clip-{i}", {"n": i, "note": "ü"})
        session.commit()


def test_chain_verifies_and_links_rows(central_db: Database) -> None:
    _fill(central_db, 5)
    with central_db.session() as session:
        report = audit.verify_chain(session)
        rows = session.query(Audit).order_by(Audit.id).all()
    assert report.ok and report.rows == 5
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in pairwise(rows))


def test_editing_a_row_breaks_the_chain(central_db: Database) -> None:
    _fill(central_db, 4)
    with central_db.session() as session:
        third = session.query(Audit).order_by(Audit.id).all()[2]
        session.execute(update(Audit).where(Audit.id == third.id).values(actor="mallory"))
        session.commit()
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_id == third.id
    assert "content" in report.reason


def test_deleting_a_row_breaks_the_chain(central_db: Database) -> None:
    _fill(central_db, 4)
    with central_db.session() as session:
        second = session.query(Audit).order_by(Audit.id).all()[1]
        session.execute(delete(Audit).where(Audit.id == second.id))
        session.commit()
        report = audit.verify_chain(session)
    assert not report.ok and "prev_hash" in report.reason


def test_cli_audit_verify_reports_tampering(
    central_db: Database, central_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(central_settings.data_dir))
    monkeypatch.setenv("REEFERWATCH_DATABASE_URL", central_settings.database_url)
    monkeypatch.setenv("REEFERWATCH_SECRET_KEY", central_settings.secret())
    _fill(central_db, 3)
    assert cli_main(["audit", "verify"]) == 0
    with central_db.session() as session:
        session.execute(update(Audit).where(Audit.id == 1).values(detail={"n": 99}))
        session.commit()
    assert cli_main(["audit", "verify"]) == 3
