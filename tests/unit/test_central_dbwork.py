"""``central.api.dbwork``: a request's database work runs on the calling (event loop) thread
for SQLite and in a worker thread for PostgreSQL."""

from __future__ import annotations

import threading

import anyio
import pytest

from central.api.dbwork import inline, run_db
from central.db import Database

pytest_plugins = ["tests.central_fixtures"]


def test_sqlite_work_runs_inline_and_other_databases_in_a_thread(central_db: Database) -> None:
    with central_db.session() as session:
        sqlite = central_db.dialect == "sqlite"
        assert inline(session) is sqlite

        async def where() -> tuple[int, int]:
            return threading.get_ident(), await run_db(session, threading.get_ident)

        caller, worker = anyio.run(where)
        assert (caller == worker) is sqlite


def test_work_errors_reach_the_caller(central_db: Database) -> None:
    with central_db.session() as session:

        def fail() -> None:
            raise LookupError("no such row")

        with pytest.raises(LookupError, match="no such row"):
            anyio.run(run_db, session, fail)
