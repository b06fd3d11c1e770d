"""Bulk loading of ``bench.centraldata`` into a migrated central database, and the users the
queries sign in as.

Events, clips and clip links go in through the driver below SQLAlchemy: ``executemany`` in
one transaction per day on SQLite (journal off and ``synchronous=OFF`` while loading, WAL
again afterwards), ``COPY … FROM STDIN`` on PostgreSQL. The secondary indexes of those tables
are dropped first and re-created afterwards from the DDL the database reported, so the
schema ends as the migrations made it (building an index once is far faster than updating it
10 M times). PostgreSQL then gets ``VACUUM ANALYZE``, what autovacuum would do after such a
load; SQLite gets no ``ANALYZE`` because central never runs one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, text

from bench.centraldata import CLIP_COLUMNS, DEVICE, EVENT_COLUMNS, Generator, Tree
from central.db.engine import Database
from central.db.models import Camera, Device, Grant, OrgUnit, Site
from central.db.types import utcnow
from central.users import add_user

BULK_TABLES = ("events", "clips", "clip_events")
PASSWORD = "bench-password-0123456789"


@dataclass(frozen=True)
class Users:
    """Who the queries run as (all with ``PASSWORD``)."""

    national: str  # admin of the national unit
    provincial: str  # admin of ``province``
    monitor: str  # monitor of ``branch`` with grants on half the cameras of its sites
    province: int
    branch: int
    monitor_id: int
    monitor_sites: list[str]


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def load_tree(db: Database, tree: Tree) -> None:
    now = utcnow()
    with db.engine.begin() as conn:
        conn.execute(
            insert(OrgUnit),
            [
                {
                    "id": i,
                    "parent_id": parent,
                    "level": level,
                    "code": code,
                    "name": f"unit {code}",
                    "path": path,
                    "created_at": now,
                }
                for i, parent, level, code, path in tree.units
                if i != 1
            ],
        )
        if db.dialect == "postgresql":
            conn.execute(text("SELECT setval('org_units_id_seq', (SELECT max(id) FROM org_units))"))
        conn.execute(
            insert(Site),
            [
                {
                    "id": s,
                    "org_unit_id": int(u),
                    "enterprise_name": f"Seafood packer {s}",
                    "registration_no": f"R{k:07d}",
                    "location_code": f"L{k:05d}",
                    "created_at": now,
                }
                for k, (s, u) in enumerate(zip(tree.site_ids, tree.site_unit.tolist(), strict=True))
            ],
        )
        conn.execute(
            insert(Camera),
            [
                {
                    "site_id": s,
                    "camera_id": f"cam-{c}",
                    "name": f"camera {c}",
                    "ptz": c == 1,
                    "created_at": now,
                }
                for s, n in zip(tree.site_ids, tree.site_cameras.tolist(), strict=True)
                for c in range(1, n + 1)
            ],
        )
        conn.execute(
            insert(Device),
            [
                {
                    "site_id": s,
                    "device_id": DEVICE,
                    "last_seen": now,
                    "last_seq": 0,
                    "clock_synced": True,
                    "status": "online",
                    "version": "0.1.0",
                }
                for s in tree.site_ids
            ],
        )


def add_users(db: Database, tree: Tree) -> Users:
    """A national admin, an admin of the province with most sites, and a monitor of the
    branch of the busiest site, granted the odd-numbered cameras of each of its sites."""
    busiest = int(tree.site_weight.argmax())
    branch = int(tree.site_unit[busiest])
    province = tree.province_of_unit[branch]
    codes = {u[0]: u[3] for u in tree.units}
    sites = [s for s, u in zip(tree.site_ids, tree.site_unit.tolist(), strict=True) if u == branch]
    cameras = dict(zip(tree.site_ids, tree.site_cameras.tolist(), strict=True))
    with db.session() as session:
        add_user(session, "nat-admin", PASSWORD, "admin", "bench")
        add_user(session, "prov-admin", PASSWORD, "admin", "bench", org=codes[province])
        monitor = add_user(
            session, "branch-monitor", PASSWORD, "monitor", "bench", org=codes[branch]
        )
        session.add_all(
            Grant(user_id=monitor.id, site_id=s, camera_id=f"cam-{c}", granted_by="bench")
            for s in sites
            for c in range(1, cameras[s] + 1, 2)
        )
        session.commit()
        return Users(
            "nat-admin", "prov-admin", "branch-monitor", province, branch, monitor.id, sites
        )


def _index_ddl(conn: Any, dialect: str) -> list[tuple[str, str]]:
    names = ", ".join(f"'{t}'" for t in BULK_TABLES)
    if dialect == "sqlite":
        sql = (
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({names})"
        )
    else:
        sql = (
            f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({names}) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
    return [(str(r[0]), str(r[1])) for r in conn.execute(text(sql))]


def _sqlite_rows(raw: Any, rows: Any) -> None:
    cur = raw.cursor()
    marks = ", ".join("?" * len(EVENT_COLUMNS))
    cur.executemany(f"INSERT INTO events ({_names(EVENT_COLUMNS)}) VALUES ({marks})", rows.events)
    marks = ", ".join("?" * len(CLIP_COLUMNS))
    cur.executemany(f"INSERT INTO clips ({_names(CLIP_COLUMNS)}) VALUES ({marks})", rows.clips)
    cur.executemany("INSERT INTO clip_events (clip_id, event_id) VALUES (?, ?)", rows.clip_events)
    raw.commit()


def _pg_rows(raw: Any, rows: Any) -> None:
    with raw.cursor() as cur:
        for table, columns, data in (
            ("events", EVENT_COLUMNS, rows.events),
            ("clips", CLIP_COLUMNS, rows.clips),
            ("clip_events", ("clip_id", "event_id"), rows.clip_events),
        ):
            with cur.copy(f"COPY {table} ({_names(columns)}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
    raw.commit()


def load_rows(db: Database, gen: Generator) -> dict[str, float]:
    """Events, clips and links of every day; returns seconds per phase."""
    timing: dict[str, float] = {}
    dialect = db.dialect
    with db.engine.connect() as conn:
        ddl = _index_ddl(conn, dialect)
        for name, _ in ddl:
            conn.execute(text(f"DROP INDEX {name}"))
        conn.commit()
    pooled = db.engine.raw_connection()
    raw = pooled.driver_connection
    assert raw is not None
    try:
        if dialect == "sqlite":
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000"):
                raw.execute(f"PRAGMA {pragma}")
        else:
            raw.execute("SET TimeZone = 'UTC'")
            raw.execute("SET synchronous_commit = off")
            raw.execute("SET maintenance_work_mem = '512MB'")
            raw.commit()
        write = _sqlite_rows if dialect == "sqlite" else _pg_rows
        gen_s = write_s = 0.0
        for d in range(gen.scale.days):
            t0 = time.monotonic()
            rows = gen.day(d)
            t1 = time.monotonic()
            write(raw, rows)
            gen_s, write_s = gen_s + t1 - t0, write_s + time.monotonic() - t1
        timing["generate_s"], timing["write_s"] = gen_s, write_s
        t0 = time.monotonic()
        for _, sql in ddl:
            raw.execute(sql)
        raw.commit()
        timing["index_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        if dialect == "sqlite":
            raw.execute("PRAGMA journal_mode=WAL")
        else:
            raw.autocommit = True
            raw.execute("VACUUM ANALYZE")
            raw.autocommit = False
        timing["finish_s"] = time.monotonic() - t0
    finally:
        pooled.invalidate()  # its load-time settings must not be reused
    db.engine.dispose()
    return timing
