"""Central benchmark (national scale): ingest throughput, inspector query latency and clip-list
throughput on a synthetic national dataset, on SQLite and PostgreSQL.

Per database: a scratch database (``bench.centraldb``) is migrated and loaded with the
dataset (``bench.centraldata``: 1 national, 31 provincial, 300 branch units, 5,000 sites,
20,000 cameras, 10 M events over 90 days, 1 M clips as rows; ``bench.centralbulk``), then:

- ``query_p99_ms`` per inspector query through central's API under uvicorn vs the same
  question as raw SQL (``bench.centralquery``; goal ≤ 50 ms);
- ``clip_list_req_per_s``: ``GET /api/v1/clips`` as the national admin under a local
  keep-alive load generator (``bench.centralhttp.hammer``) vs ``GET /healthz`` under the same
  load (goal ≥ 1,000); medians of ``--repeat`` alternating pairs, with the API processes' CPU
  per response of each (``cpu_ms_per_req``, from /proc), which bounds the rate on free cores;
- ``ingest_events_per_s_{1,2}w`` and ``ingest_ratio`` (``bench.centralingest``; goal ≥ 0.8).

Also ``dataset_generate_s``: the load time of the dataset (baseline 0: nothing to compare).
``--quick`` loads 1/20 of the events and clips (500 k, 50 k; the tree, sites and cameras stay
at full size) and takes fewer samples: ~2.5 min for both databases on the 2-core development
machine, the full run 9.5–14 min. Scratch databases, brokers, API servers and ingest workers
are removed on exit. Figures and findings: docs/performance.md, "Central".

``python -m bench.central [--quick] [--db sqlite|postgres|both] [--only queries,load,ingest]
[--pg URL] [--events N] [--clips N] [--api-workers N] [--uvicorn-plain] [--connections N]
[--seconds S]
[--repeat N] [--rounds N] [--budget S] [--ingest-events N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import centralingest, centralquery
from bench.centralbulk import PASSWORD, Users, add_users, load_rows, load_tree
from bench.centraldata import Generator, Scale
from bench.centraldb import DEFAULT_PG, scratch
from bench.centralhttp import ApiServer, LoadRun, api_server, hammer, sign_in
from bench.recording import emit
from central.db.engine import Database

PARTS = ("queries", "load", "ingest")
CLIP_GOAL = 1000.0


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def generate(db: Database, gen: Generator, dialect: str) -> Users:
    t0 = time.monotonic()
    load_tree(db, gen.tree)
    users = add_users(db, gen.tree)
    tree_s = time.monotonic() - t0
    timing = load_rows(db, gen)
    total = time.monotonic() - t0
    scale = gen.scale
    emit(
        "dataset_generate_s",
        total,
        "s",
        0.0,
        db=dialect,
        events=scale.events,
        clips=scale.clips,
        sites=scale.sites,
        cameras=scale.cameras,
        units=len(gen.tree.units),
        tree_s=round(tree_s, 1),
        **{k: round(v, 1) for k, v in timing.items()},
        events_per_s=round(scale.events / total),
        load_1m=load_1m(),
    )
    return users


def clip_load(server: ApiServer, token: str, dialect: str, args: argparse.Namespace) -> None:
    health: list[LoadRun] = []
    clips: list[LoadRun] = []
    for _ in range(args.repeat):
        health.append(hammer(server, "/healthz", None, args.connections, args.seconds))
        run = hammer(server, "/api/v1/clips", token, args.connections, args.seconds)
        if set(run.counts) != {200}:
            raise SystemExit(f"bench: GET /api/v1/clips answered {dict(run.counts)}")
        clips.append(run)
    emit(
        "clip_list_req_per_s",
        statistics.median(r.rate for r in clips),
        "req/s",
        statistics.median(r.rate for r in health),
        db=dialect,
        user="national admin",
        page="default (50 clips)",
        api_workers=args.api_workers,
        uvicorn_plain=args.uvicorn_plain,
        connections=args.connections,
        seconds=args.seconds,
        runs=[round(r.rate) for r in clips],
        baseline_runs=[round(r.rate) for r in health],
        cpu_ms_per_req=round(statistics.median(r.cpu_ms for r in clips), 2),
        baseline_cpu_ms_per_req=round(statistics.median(r.cpu_ms for r in health), 2),
        goal=f">= {CLIP_GOAL:g}",
        load_1m=load_1m(),
    )


def run_db(dialect: str, workdir: Path, args: argparse.Namespace, parts: set[str]) -> None:
    scale = Scale().scaled(1 / 20 if args.quick else 1.0)
    if args.events is not None or args.clips is not None:
        scale = Scale(
            events=args.events or scale.events,
            clips=args.clips or scale.clips,
            containers=scale.containers,
        )
    now = datetime.now(timezone.utc)
    gen = Generator(scale, now)
    with scratch(dialect, workdir, args.pg) as url, Database(url) as db:
        db.migrate()
        users = generate(db, gen, dialect)
        if parts & {"queries", "load"}:
            with api_server(
                url, workdir / "central", args.api_workers, args.uvicorn_plain
            ) as server:
                tokens = {
                    u: sign_in(server.base, u, PASSWORD)
                    for u in (users.national, users.provincial, users.monitor)
                }
                if "queries" in parts:
                    ctx = centralquery.Context(
                        db=db,
                        url=url,
                        base=server.base,
                        tokens=tokens,
                        users=users,
                        now=now,
                        days=scale.days,
                        containers=gen.used_containers,
                        budget_s=args.budget,
                        rounds=args.rounds,
                    )
                    centralquery.run(ctx, set(centralquery.QUERIES))
                if "load" in parts:
                    clip_load(server, tokens[users.national], dialect, args)
        if "ingest" in parts:
            centralingest.measure(url, dialect, workdir, users.monitor_sites, args.ingest_events)
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1/20 of the events and clips")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server for scratch databases")
    parser.add_argument("--events", type=int, help="events in the dataset (10 M; quick 500 k)")
    parser.add_argument("--clips", type=int, help="clips in the dataset (1 M; quick 50 k)")
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--uvicorn-plain",
        action="store_true",
        help="stock `uvicorn --workers` (Nagle left on; bench.centralhttp)",
    )
    parser.add_argument("--connections", type=int, default=16, help="load generator connections")
    parser.add_argument("--seconds", type=float, help="per load run (10; quick 5)")
    parser.add_argument(
        "--repeat", type=int, help="alternating healthz/clips load runs (3; quick 2)"
    )
    parser.add_argument("--rounds", type=int, help="samples of the site-day query (200; quick 100)")
    parser.add_argument(
        "--budget", type=float, help="seconds per query before stopping (30; quick 15)"
    )
    parser.add_argument(
        "--ingest-events", type=int, help="events per ingest phase (5000; quick 2000)"
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"--only: unknown {', '.join(sorted(parts - set(PARTS)))}")
    quick = args.quick
    args.seconds = args.seconds or (5.0 if quick else 10.0)
    args.repeat = args.repeat or (2 if quick else 3)
    args.rounds = args.rounds or (100 if quick else 200)
    args.budget = args.budget or (15.0 if quick else 30.0)
    args.ingest_events = args.ingest_events or (2000 if quick else 5000)
    dialects = (
        ["sqlite", "postgresql"]
        if args.db == "both"
        else ["postgresql" if args.db == "postgres" else "sqlite"]
    )
    with tempfile.TemporaryDirectory(prefix="bench-central-") as name:
        for dialect in dialects:
            run_db(dialect, Path(name), args, parts)


if __name__ == "__main__":
    main()
