"""Ingest throughput of ``bench.central``: events through a real Mosquitto into 1 and 2 real
``reeferwatch-central ingest --shared`` worker processes, vs a raw paho subscriber.

Per phase (a fresh broker each, ``bench.events.broker``): ``n`` ``EventMessage``s of
``DEVICES`` devices (contiguous seqs per device; device ids no site trusts, so no site
binding applies) on sites of the dataset, encoded before the clock starts. Baseline: a paho
client subscribed to ``rw/v1/+/+/up/#`` (QoS 1, auto-ack) receives them, timed from the first
publish to the last message. Then the workers start (``REEFERWATCH_*`` pointing at the bench
database and the broker; each signals readiness by logging its subscription), the same number
of fresh messages is published and the rate is ``n`` ÷ the time from the first publish until
``n`` new rows are in ``events`` (counted every 20 ms by primary-key range: the phase's
ULIDs sort after every older id). ``ingest_ratio`` is the rate per worker ÷ the raw rate.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.centraldb import raw_connect
from bench.centralhttp import REPO, central_env, stop_group
from bench.events import broker, connect
from bench.recording import emit
from wire import codec, topics
from wire.ids import new_ulid
from wire.models import EventMessage

DEVICES = 64
LOCAL = timezone(timedelta(hours=8))
KINDS = ("metal_detector_pass", "door_open", "seal_applied", "metal_detector_reject")
GOAL = 0.8
WAIT_S = 900.0


def messages(n: int, sites: list[str], tag: str) -> tuple[list[tuple[str, bytes]], str]:
    """(topic, payload) of ``n`` events, and the smallest event id among them."""
    out: list[tuple[str, bytes]] = []
    first = ""
    for i in range(n):
        dev, seq = i % DEVICES, i // DEVICES + 1
        at = datetime.now(LOCAL)
        msg = EventMessage(
            sent_at=at,
            clock_synced=True,
            seq=seq,
            id=new_ulid(),
            kind=KINDS[i % len(KINDS)],  # type: ignore[arg-type]
            occurred_at=at,
            camera="cam-1",
            source="gpio17",
            data={"line": 1 + i % 4},
        )
        first = min(first, msg.id) if first else msg.id
        out.append(
            (
                topics.up(sites[dev % len(sites)], f"bench-{tag}-{dev:02d}", "event"),
                codec.encode(msg),
            )
        )
    return out, first


def publish(port: int, batch: list[tuple[str, bytes]], name: str) -> mqtt.Client:
    client = connect(port, name)
    for topic, payload in batch:
        client.publish(topic, payload, qos=1)
    return client


def raw_rate(port: int, batch: list[tuple[str, bytes]]) -> float:
    """Messages per second a bare paho subscriber receives."""
    lock, done = threading.Lock(), threading.Event()
    got = [0]

    def on_message(*_: Any) -> None:
        with lock:
            got[0] += 1
            if got[0] == len(batch):
                done.set()

    sub = connect(port, "bench-raw-subscriber")
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.subscribe(topics.up_filter(), qos=1)
    if not subscribed.wait(10):
        raise SystemExit("bench: the raw subscriber could not subscribe")
    start = time.monotonic()
    pub = publish(port, batch, "bench-raw-publisher")
    try:
        if not done.wait(WAIT_S):
            raise SystemExit(f"bench: raw subscriber got {got[0]} of {len(batch)}")
        return len(batch) / (time.monotonic() - start)
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()


@contextlib.contextmanager
def workers(url: str, workdir: Path, port: int, count: int) -> Iterator[None]:
    """``count`` ingest processes on the shared subscription, subscribed when entered."""
    binary = str(Path(sys.executable).parent / "reeferwatch-central")
    env = central_env(url, workdir / "central", REEFERWATCH_MQTT_PORT=str(port))
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for k in range(1, count + 1):
            log = workdir / f"ingest-w{k}-{port}.log"
            with log.open("wb") as handle:
                proc = subprocess.Popen(
                    [binary, "ingest", "--shared", "--name", f"w{k}"],
                    env=env,
                    cwd=REPO,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs.append((proc, log))
        deadline = time.monotonic() + 120
        for proc, log in procs:
            while "subscribed to" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench: ingest worker failed:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield
    finally:
        for proc, _ in procs:
            stop_group(proc)


def ingest_rate(
    url: str, workdir: Path, port: int, count: int, batch: list[tuple[str, bytes]], first_id: str
) -> float:
    conn = raw_connect(url)
    mark = "?" if url.startswith("sqlite") else "%s"
    sql = f"SELECT count(*) FROM events WHERE id >= {mark}"
    try:
        with workers(url, workdir, port, count):
            start = time.monotonic()
            pub = publish(port, batch, "bench-ingest-publisher")
            try:
                while conn.execute(sql, (first_id,)).fetchone()[0] < len(batch):
                    if time.monotonic() - start > WAIT_S:
                        raise SystemExit("bench: ingest did not store every event")
                    time.sleep(0.02)
                return len(batch) / (time.monotonic() - start)
            finally:
                pub.disconnect()
                pub.loop_stop()
    finally:
        conn.close()


def measure(url: str, dialect: str, workdir: Path, sites: list[str], n: int) -> None:
    """``ingest_events_per_s_{1,2}w`` and ``ingest_ratio`` on the database at ``url``."""
    for count in (1, 2):
        with broker(workdir) as port:
            batch, _ = messages(n, sites, f"raw{count}")
            raw = raw_rate(port, batch)
            batch, first_id = messages(n, sites, f"w{count}")
            rate = ingest_rate(url, workdir, port, count, batch, first_id)
        common = {
            "db": dialect,
            "workers": count,
            "events": n,
            "devices": DEVICES,
            "load_1m": round(os.getloadavg()[0], 2),
        }
        emit(f"ingest_events_per_s_{count}w", rate, "events/s", raw, **common)
        emit(
            "ingest_ratio",
            rate / count / raw,
            "ratio",
            1.0,
            per_worker_events_per_s=round(rate / count, 1),
            raw_events_per_s=round(raw, 1),
            goal=f">= {GOAL:g}",
            **common,
        )
