"""Scratch databases of ``bench.central``: a SQLite file in the run's temporary directory or
a PostgreSQL database created on the server ``--pg`` names, dropped (``WITH (FORCE)``) on
exit; and the bare driver connection the raw-SQL baselines use."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+psycopg://root@127.0.0.1:5432/test"


@contextlib.contextmanager
def scratch(dialect: str, workdir: Path, pg_server: str) -> Iterator[str]:
    """A fresh, empty database URL; removed on exit."""
    if dialect == "sqlite":
        path = workdir / "central.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    url = make_url(pg_server)
    name = f"rw_bench_central_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def raw_connect(url: str) -> Any:
    """The driver's own connection to ``url`` (sqlite3 or psycopg), no SQLAlchemy."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(parsed.database), check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
        return conn
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(dsn, autocommit=True)
