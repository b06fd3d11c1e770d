"""The inspectors' standard queries of ``bench.central``: through central's API (uvicorn,
signed in, the user's ``Scope`` filter applied) vs the same question as one raw SQL statement
on the driver's own connection, alternated in the same run.

- ``site_day_events`` (a): a branch monitor (grants on half the cameras of each site of the
  branch) lists a site's events of one local day: ``GET /events?site=&start=&end=&limit=500``,
  every page. Raw: the same rows with the same scope clauses (unit subtree, granted sites,
  granted camera or no camera).
- ``subtree_anomaly_clips`` (b): a provincial admin wants the clips of the anomaly events
  (``ANOMALY_KINDS``) that occurred in their subtree in the last 7 days. The API has no
  event-kind filter on ``/clips``, so the flow is what a client must do today:
  ``GET /events?kind=K&start=&end=`` for each anomaly kind, then every page of
  ``GET /clips?start=&end=`` for the week, keeping the clips that back one of those events.
  Raw: one join of clips, clip_events and events with the subtree clause.
- ``container_lookup`` (c): a national admin looks up a container number, which lives only
  in the ``data`` JSON of ``loading_*`` events. No route takes it, so the measured path is
  central's own query code in process: ``Scope.of`` → ``select(Event).where(scope…)`` with
  ``Event.data["container_no"].as_string() == …`` → ``event_out`` → ``EventPage`` JSON.
  Raw: ``json_extract(data, '$.container_no') = ?`` (SQLite), ``data->>'container_no' = %s``
  (PostgreSQL). Then again with a bench-only expression index on that expression
  (``BENCH_INDEX``; the ORM query then uses the same expression; PostgreSQL gets ``ANALYZE
  events`` so the planner has statistics of the expression), dropped afterwards.

Each query runs on its own sample of parameters (seeded), a warm-up round first; the value is
the wall time of the whole flow per sample, p50 and p99. Slow queries stop after a time budget
(at least 3 samples), reported as ``samples``.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import ColumnElement, String, func, literal_column, select, text

from bench.centralbulk import Users
from bench.centraldata import ANOMALY_KINDS
from bench.centraldb import raw_connect
from bench.recording import emit
from central.api.events import event_out
from central.api.schemas import EventPage
from central.authz import Scope
from central.db.engine import Database
from central.db.models import Event, OrgUnit, User

LOCAL = timezone(timedelta(hours=8))
GOAL_MS = 50.0
ANOMALY_FLOW = "GET /events?kind= per anomaly kind + every page of GET /clips?start=&end="
BENCH_INDEX = "bench_ix_events_container_no"
EVENT_FIELDS = (
    "e.id, e.site, e.device, e.seq, e.kind, e.occurred_at, e.occurred_offset_min, "
    "e.camera, e.source, e.data, e.clock_synced, e.received_at"
)
CLIP_FIELDS = (
    "c.id, c.site, c.device, c.camera, c.kind, c.name, c.size, c.sha256, c.start, "
    'c."end", c.event_ids, c.verified, c.received_at'
)
SUBTREE = (
    "{col} IN (SELECT id FROM sites WHERE org_unit_id IN "
    "(SELECT id FROM org_units WHERE path LIKE {p}))"
)

SITE_DAY_SQL = f"""SELECT {EVENT_FIELDS} FROM events e
WHERE e.site = {{p}} AND e.occurred_at >= {{p}} AND e.occurred_at < {{p}}
  AND {SUBTREE.format(col="e.site", p="{p}")}
  AND e.site IN (SELECT site_id FROM grants WHERE user_id = {{p}})
  AND (e.camera IS NULL OR EXISTS (SELECT 1 FROM grants g WHERE g.user_id = {{p}}
       AND g.site_id = e.site AND g.camera_id = e.camera))
ORDER BY e.occurred_at DESC, e.id DESC"""
ANOMALY_CLIPS_SQL = f"""SELECT {CLIP_FIELDS} FROM clips c
JOIN clip_events ce ON ce.clip_id = c.id JOIN events e ON e.id = ce.event_id
WHERE e.kind IN ({{p}}, {{p}}) AND e.occurred_at >= {{p}} AND e.occurred_at < {{p}}
  AND {SUBTREE.format(col="e.site", p="{p}")}
ORDER BY c.start DESC, c.id DESC"""
CONTAINER_EXPR = {
    "sqlite": "json_extract(data, '$.container_no')",
    "postgresql": "(data ->> 'container_no')",
}
CONTAINER_SQL = (
    f"SELECT {EVENT_FIELDS} FROM events e WHERE {{expr}} = {{p}} ORDER BY "
    "e.occurred_at DESC, e.id DESC"
)


@dataclass
class Context:
    db: Database
    url: str
    base: str  # the API's base URL
    tokens: dict[str, str]
    users: Users
    now: datetime
    days: int
    containers: list[str]
    budget_s: float
    rounds: int


class Raw:
    """Raw SQL on the driver's connection; ``{p}`` marks a parameter."""

    def __init__(self, url: str, dialect: str) -> None:
        self.conn = raw_connect(url)
        self.dialect = dialect

    def rows(self, sql: str, *params: Any) -> list[Any]:
        mark = "?" if self.dialect == "sqlite" else "%s"
        values = [self._param(v) for v in params]
        return list(self.conn.execute(sql.replace("{p}", mark), values).fetchall())

    def _param(self, value: Any) -> Any:
        if isinstance(value, datetime) and self.dialect == "sqlite":
            utc = value.astimezone(timezone.utc).replace(tzinfo=None)
            return utc.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def close(self) -> None:
        self.conn.close()


def pages(
    client: httpx.Client, token: str, path: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every item of a cursor-paged list route."""
    items: list[dict[str, Any]] = []
    cursor = None
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        reply = client.get(path, params=query, headers=headers)
        reply.raise_for_status()
        body = reply.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(
    name: str,
    ctx: Context,
    samples: list[Any],
    api: Callable[[Any], int],
    raw: Callable[[Any], int],
    dialect: str,
    **extra: object,
) -> None:
    """Alternate ``api(sample)`` and ``raw(sample)``; emit one ``query_p99_ms`` line."""
    api(samples[0])  # warm-up
    raw(samples[0])
    api_ms, raw_ms, rows, mismatches = [], [], [], 0
    started = time.monotonic()
    for i, sample in enumerate(samples):
        t0 = time.perf_counter()
        n_api = api(sample)
        t1 = time.perf_counter()
        n_raw = raw(sample)
        t2 = time.perf_counter()
        api_ms.append((t1 - t0) * 1000)
        raw_ms.append((t2 - t1) * 1000)
        rows.append(n_raw)
        mismatches += n_api != n_raw
        if i >= 2 and time.monotonic() - started > ctx.budget_s:
            break
    emit(
        "query_p99_ms",
        percentile(api_ms, 99),
        "ms",
        percentile(raw_ms, 99),
        db=dialect,
        query=name,
        p50_ms=round(percentile(api_ms, 50), 2),
        baseline_p50_ms=round(percentile(raw_ms, 50), 2),
        samples=len(api_ms),
        rows_median=statistics.median(rows),
        rows_max=max(rows),
        result_mismatches=mismatches,
        load_1m=round(os.getloadavg()[0], 2),
        goal=f"<= {GOAL_MS:g}",
        **extra,
    )


def site_day_events(ctx: Context, raw: Raw, client: httpx.Client, rng: random.Random) -> None:
    users = ctx.users
    with ctx.db.session() as s:
        path = s.get(OrgUnit, users.branch).path  # type: ignore[union-attr]
    today = ctx.now.astimezone(LOCAL).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=rng.randint(1, ctx.days - 1)) for _ in range(ctx.rounds)]
    samples = [(rng.choice(users.monitor_sites), day) for day in days]
    token = ctx.tokens[users.monitor]

    def api(sample: tuple[str, datetime]) -> int:
        site, day = sample
        params = {
            "site": site,
            "start": day.isoformat(),
            "end": (day + timedelta(days=1)).isoformat(),
            "limit": 500,
        }
        return len(pages(client, token, "/api/v1/events", params))

    def run_raw(sample: tuple[str, datetime]) -> int:
        site, day = sample
        return len(
            raw.rows(
                SITE_DAY_SQL,
                site,
                day,
                day + timedelta(days=1),
                f"{path}%",
                users.monitor_id,
                users.monitor_id,
            )
        )

    measure(
        "site_day_events",
        ctx,
        samples,
        api,
        run_raw,
        raw.dialect,
        user="branch monitor",
        sites=len(users.monitor_sites),
    )


def subtree_anomaly_clips(ctx: Context, raw: Raw, client: httpx.Client) -> None:
    users = ctx.users
    with ctx.db.session() as s:
        path = s.get(OrgUnit, users.province).path  # type: ignore[union-attr]
    end = ctx.now
    start = end - timedelta(days=7)
    token = ctx.tokens[users.provincial]
    window = {"start": start.isoformat(), "end": end.isoformat(), "limit": 500}

    def api(_: object) -> int:
        anomalies: set[str] = set()
        for kind in ANOMALY_KINDS:
            found = pages(client, token, "/api/v1/events", {**window, "kind": kind})
            anomalies.update(e["id"] for e in found)
        clips = pages(
            client,
            token,
            "/api/v1/clips",
            {**window, "start": (start - timedelta(minutes=1)).isoformat()},
        )
        return sum(1 for c in clips if anomalies.intersection(c["event_ids"]))

    def run_raw(_: object) -> int:
        return len(raw.rows(ANOMALY_CLIPS_SQL, *ANOMALY_KINDS, start, end, f"{path}%"))

    measure(
        "subtree_anomaly_clips",
        ctx,
        list(range(max(3, ctx.rounds // 10))),
        api,
        run_raw,
        raw.dialect,
        user="provincial admin",
        window_days=7,
        api_flow=ANOMALY_FLOW,
    )


def container_clause(dialect: str, indexed: bool, container: str) -> ColumnElement[bool]:
    """What central's code would filter by: today's JSON path expression, or the one the
    bench-only index covers."""
    if not indexed:
        return Event.data["container_no"].as_string() == container
    expr: ColumnElement[str]
    if dialect == "sqlite":
        expr = func.json_extract(Event.data, literal_column("'$.container_no'"), type_=String)
    else:
        expr = Event.data.op("->>", return_type=String)(literal_column("'container_no'"))
    return expr == container


def container_lookup(
    ctx: Context, raw: Raw, rng: random.Random, indexed: bool, build_s: float = 0.0
) -> None:
    dialect = raw.dialect
    samples = [rng.choice(ctx.containers) for _ in range(ctx.rounds)]

    def central_code(container: str) -> int:
        with ctx.db.session() as session:
            user = session.execute(
                select(User).where(User.username == ctx.users.national)
            ).scalar_one()
            scope = Scope.of(session, user)
            query = (
                select(Event)
                .where(scope.cameras_clause(Event.site, Event.camera))
                .where(container_clause(dialect, indexed, container))
                .order_by(Event.occurred_at.desc(), Event.id.desc())
                .limit(501)
            )
            rows = list(session.execute(query).scalars())
            EventPage(items=[event_out(r) for r in rows], next_cursor=None).model_dump_json()
            return len(rows)

    sql = CONTAINER_SQL.replace("{expr}", CONTAINER_EXPR[dialect])

    def run_raw(container: str) -> int:
        return len(raw.rows(sql, container))

    extra: dict[str, object] = {
        "user": "national admin",
        "path": "central query code in process (no route takes it)",
    }
    if indexed:
        extra["index"] = f"bench-only: {BENCH_INDEX} on {CONTAINER_EXPR[dialect]}"
        extra["index_build_s"] = round(build_s, 1)
    measure("container_lookup", ctx, samples, central_code, run_raw, dialect, **extra)


def run(ctx: Context, parts: set[str]) -> None:
    """The queries named in ``parts`` (a subset of ``QUERIES``)."""
    rng = random.Random(6)
    raw = Raw(ctx.url, ctx.db.dialect)
    try:
        with httpx.Client(base_url=ctx.base, timeout=600) as client:
            if "site_day_events" in parts:
                site_day_events(ctx, raw, client, rng)
            if "subtree_anomaly_clips" in parts:
                subtree_anomaly_clips(ctx, raw, client)
        if "container_lookup" in parts:
            container_lookup(ctx, raw, rng, indexed=False)
            expr = CONTAINER_EXPR[raw.dialect]
            t0 = time.monotonic()
            with ctx.db.engine.begin() as conn:
                conn.execute(text(f"CREATE INDEX {BENCH_INDEX} ON events ({expr})"))
                if raw.dialect == "postgresql":  # statistics of the new expression
                    conn.execute(text("ANALYZE events"))
            build_s = time.monotonic() - t0
            try:
                container_lookup(ctx, raw, rng, indexed=True, build_s=build_s)
            finally:
                with ctx.db.engine.begin() as conn:
                    conn.execute(text(f"DROP INDEX {BENCH_INDEX}"))
    finally:
        raw.close()


QUERIES = ("site_day_events", "subtree_anomaly_clips", "container_lookup")
