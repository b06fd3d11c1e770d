"""The inspectors' standard queries of ``bench.central``: through central's API (uvicorn,
signed in, the user's ``Scope`` filter applied) vs the same question as one raw SQL statement
on the driver's own connection, alternated in the same run.

- ``site_day_events`` (a): a branch monitor (grants on half the cameras of each site of the
  branch) lists a site's events of one local day: ``GET /events?site=&start=&end=&limit=500``,
  every page. Raw: the same rows with the same scope clauses (unit subtree, granted sites,
  granted camera or no camera).
- ``subtree_anomaly_clips`` (b): a provincial admin wants the clips of the anomaly events
  (``ANOMALY_KINDS``) in their subtree over the last 7 days: ``GET /clips?event_kind=K1&
  event_kind=K2&start=&end=&limit=500``, every page (the user's scope limits it to the
  subtree). Raw: one statement over clips with the subtree clause, the same window bounds as
  the route (``end > start``, ``start`` within the longest clip before ``start``, ``start <
  end``) and the clip's link to an event of one of the kinds through ``clip_events``.
- ``container_lookup`` (c): a national admin looks up a container number: ``GET
  /events?container=N&limit=500``, every page (the indexed ``events.container_no`` that ingest
  fills from the loading events' data). Raw: ``WHERE container_no = ?``, newest first.

Each query runs on its own sample of parameters (seeded), a warm-up round first; the value is
the wall time of the whole flow per sample, p50 and p99. API and raw take turns at going first
on a sample, so the page reads of a sample whose rows are not in the OS cache (at full scale
the two databases outgrow it) fall on each alike. Slow queries stop after a time budget (at
least 3 samples), reported as ``samples``.
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

from bench.centralbulk import Users
from bench.centraldata import ANOMALY_KINDS
from bench.centraldb import raw_connect
from bench.recording import emit
from central.db.engine import Database
from central.db.models import OrgUnit
from wire.models import MAX_CLIP_SECONDS

LOCAL = timezone(timedelta(hours=8))
GOAL_MS = 50.0
ANOMALY_FLOW = "every page of GET /clips?event_kind=K1&event_kind=K2&start=&end="
CONTAINER_FLOW = "every page of GET /events?container="
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
WHERE c."end" > {{p}} AND c.start > {{p}} AND c.start < {{p}}
  AND {SUBTREE.format(col="c.site", p="{p}")}
  AND EXISTS (SELECT 1 FROM clip_events ce JOIN events e ON e.id = ce.event_id
              WHERE ce.clip_id = c.id AND e.kind IN ({{p}}, {{p}}))
ORDER BY c.start DESC, c.id DESC"""
CONTAINER_SQL = f"""SELECT {EVENT_FIELDS} FROM events e WHERE e.container_no = {{p}}
ORDER BY e.occurred_at DESC, e.id DESC"""


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


def timed(run: Callable[[Any], int], sample: Any) -> tuple[int, float]:
    """``run(sample)``'s row count and wall time (ms)."""
    t0 = time.perf_counter()
    n = run(sample)
    return n, (time.perf_counter() - t0) * 1000


def measure(
    name: str,
    ctx: Context,
    samples: list[Any],
    api: Callable[[Any], int],
    raw: Callable[[Any], int],
    dialect: str,
    **extra: object,
) -> None:
    """Run ``api(sample)`` and ``raw(sample)`` on each sample, taking turns at going first (the
    first one reads the sample's pages from disk when they are not cached); emit one
    ``query_p99_ms`` line."""
    api(samples[0])  # warm-up
    raw(samples[0])
    api_ms: list[float] = []
    raw_ms: list[float] = []
    rows: list[int] = []
    mismatches = 0
    started = time.monotonic()
    for i, sample in enumerate(samples):
        if i % 2:
            n_raw, ms_raw = timed(raw, sample)
            n_api, ms_api = timed(api, sample)
        else:
            n_api, ms_api = timed(api, sample)
            n_raw, ms_raw = timed(raw, sample)
        api_ms.append(ms_api)
        raw_ms.append(ms_raw)
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
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "event_kind": list(ANOMALY_KINDS),
        "limit": 500,
    }

    def api(_: object) -> int:
        return len(pages(client, token, "/api/v1/clips", params))

    def run_raw(_: object) -> int:
        longest = start - timedelta(seconds=MAX_CLIP_SECONDS)
        return len(raw.rows(ANOMALY_CLIPS_SQL, start, longest, end, f"{path}%", *ANOMALY_KINDS))

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


def container_lookup(ctx: Context, raw: Raw, client: httpx.Client, rng: random.Random) -> None:
    samples = [rng.choice(ctx.containers) for _ in range(ctx.rounds)]
    token = ctx.tokens[ctx.users.national]

    def api(container: str) -> int:
        params = {"container": container, "limit": 500}
        return len(pages(client, token, "/api/v1/events", params))

    def run_raw(container: str) -> int:
        return len(raw.rows(CONTAINER_SQL, container))

    measure(
        "container_lookup",
        ctx,
        samples,
        api,
        run_raw,
        raw.dialect,
        user="national admin",
        api_flow=CONTAINER_FLOW,
    )


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
                container_lookup(ctx, raw, client, rng)
    finally:
        raw.close()


QUERIES = ("site_day_events", "subtree_anomaly_clips", "container_lookup")
