"""The late-anomaly pass of the retention sweep reads its events through their partial index."""

from __future__ import annotations

import re

from sqlalchemy import text

from central.db import Database
from central.db.models import KEEP_KINDS_SQL
from central.retention import KEEP_KINDS
from central.retention_sweep import Sweeper

pytest_plugins = ["tests.central_fixtures"]


def test_the_index_predicate_names_exactly_the_kinds_kept_as_anomaly() -> None:
    assert set(re.findall(r"'([a-z_]+)'", KEEP_KINDS_SQL)) == set(KEEP_KINDS)


def test_the_late_anomaly_pass_uses_the_partial_index(central_db: Database) -> None:
    sweeper = Sweeper(central_db, None, None)  # type: ignore[arg-type]  # only builds a query
    query = sweeper._late_anomalies()
    with central_db.engine.connect() as conn:
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        if central_db.dialect == "sqlite":
            plan = " ".join(
                str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
            assert "ix_events_keep_kinds" in plan, plan
            assert "SCAN events" not in plan, plan
        else:  # PostgreSQL: the index exists with its predicate
            definition = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_keep_kinds'")
            ).scalar_one()
            assert "metal_detector_reject" in definition and "WHERE" in definition
