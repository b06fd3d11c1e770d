"""The rig of the sync failure tests: a real edge process, central ingest as a process, a
spy on the edge's file chunks, an RSS sampler, and the exactly-once check of everything the
edge produced against central's database and blob store.

The edge records a 960x540 test pattern (~0.5 MB/s) so a 6 s clip is a few MB; its
``[uplink] kbps`` cap makes that transfer take seconds, long enough to kill a part in the
middle of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers import Broker, wait_for
from tests.integration.test_end_to_end import Central
from wire import topics
from wire.errors import WireError

SITE, DEVICE = "site01", "edge01"
MIB = 1024 * 1024
CHUNK = 256 * 1024
WINDOW = 2
RSS_LIMIT_MIB = 300.0  # no process of the rig may ever exceed this
RSS_GROWTH_MIB = 64.0  # nor grow by more than this between before and after the fault

Range = tuple[int, int]


def write_edge_config(
    workdir: Path, broker: Broker, *, kbps: float = 2000, pre: float = 3, post: float = 3
) -> Path:
    """An edge config in ``workdir`` (data in ``workdir/data``); kbps 0 = no uplink cap."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "edge.toml"
    config.write_text(
        f"""
[site]
id = "{SITE}"
device = "{DEVICE}"
location_code = "370200-QD-01"

[storage]
data_dir = "data"

[mqtt]
host = "{broker.host}"
port = {broker.port}
keepalive = 5
chunk_size = {CHUNK}
window = {WINDOW}
ack_timeout = 5.0

[uplink]
kbps = {kbps}

[recording]
segment_seconds = 2

[[cameras]]
id = "dock1"
source = "testsrc"
width = 960
height = 540
fps = 10
bitrate_kbps = 20000

[clips]
pre_seconds = {pre}
post_seconds = {post}

[gpio]
backend = "mock"

[health]
publish_seconds = 5
"""
    )
    return config


@dataclass
class Edge:
    """``python -m edge.cli run`` as a child process that a test may SIGKILL and restart."""

    config: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.config.parent / "data"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "edge.db"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        assert self.pid is None, "edge already running"
        log = (self.config.parent / "edge.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config)],
            stdout=log,
            stderr=log,
        )
        log.close()  # the child holds its own descriptor

    def kill(self) -> None:
        """SIGKILL: no offline status, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(15)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def cli(self, *args: str, timeout: float = 90) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "edge.cli", *args, "--config", str(self.config)],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert result.returncode == 0, f"edge {args}: {result.stderr}"
        return result.stdout

    def trigger(self, kind: str = "mark", wait: float | None = 60) -> tuple[str, list[str]]:
        """Record an event with the CLI; with ``wait``, until its clip is queued.
        Returns the event id and the file ids of its clips."""
        args = ("trigger", kind) if wait is None else ("trigger", kind, "--wait", str(wait))
        out = self.cli(*args, timeout=(wait or 0) + 60).split()
        event_id = out[out.index("event") + 1]
        clips = [out[i + 1] for i, word in enumerate(out) if word == "clip"]
        return event_id, clips

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as db:
            return list(db.execute(sql, params).fetchall())

    def segments(self) -> int:
        try:
            return int(self.query("SELECT count(*) FROM segments")[0][0])
        except sqlite3.OperationalError:  # the store is being created and migrated
            return 0

    def events(self) -> set[str]:
        return {row[0] for row in self.query("SELECT id FROM events")}

    def clips(self) -> dict[str, tuple[int, str]]:
        """file id → (size, sha256) of every clip the edge made."""
        return {
            r[0]: (int(r[1]), r[2]) for r in self.query("SELECT file_id, size, sha256 FROM clips")
        }

    def pending(self) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self.query("SELECT item_kind, item_id FROM outbox WHERE state = 'pending'")
        ]

    def delivered(self, kind: str, item_id: str) -> bool:
        rows = self.query(
            "SELECT state FROM outbox WHERE item_kind = ? AND item_id = ?", (kind, item_id)
        )
        return bool(rows) and rows[0][0] == "delivered"


def central_query(central: Central, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with contextlib.closing(sqlite3.connect(central.data_dir / "central.db", timeout=30)) as db:
        return list(db.execute(sql, params).fetchall())


def held_ranges(central: Central, file_id: str) -> tuple[str, list[Range]] | None:
    """(state, ranges) of central's transfer row of ``file_id``, or None before its init."""
    rows = central_query(
        central, "SELECT state, ranges FROM transfers WHERE file_id = ?", (file_id,)
    )
    if not rows:
        return None
    return rows[0][0], [(int(a), int(b)) for a, b in json.loads(rows[0][1])]


def wait_mid_transfer(central: Central, file_id: str, size: int, at_least: int) -> list[Range]:
    """Wait until central holds ``at_least`` bytes of the file but not all of it."""

    def partial() -> list[Range] | None:
        found = held_ranges(central, file_id)
        if found is None or found[0] != "receiving":
            return None
        held = sum(b - a for a, b in found[1])
        return found[1] if at_least <= held < size else None

    found = wait_for(partial, 90, f"central to hold {at_least}+ bytes of {file_id}", 0.05)
    assert found is not None
    return found


def delivery_problems(central: Central, edge: Edge) -> list[str]:
    """Everything wrong between what the edge produced and what central holds (empty = ok):
    each edge event stored once under this device, each edge clip stored once with the
    edge's size and SHA-256, its blob's bytes hashing to it, its transfer complete, and no
    clip of this device that the edge never made."""
    problems: list[str] = []
    events = edge.events()
    stored = {
        row[0]: row[1:]
        for row in central_query(
            central,
            "SELECT id, count(*), min(site), min(device) FROM events GROUP BY id",
        )
    }
    for event_id in sorted(events):
        if event_id not in stored:
            problems.append(f"event {event_id} missing at central")
        elif tuple(stored[event_id]) != (1, SITE, DEVICE):
            problems.append(f"event {event_id} stored as {stored[event_id]}")
    clips = edge.clips()
    rows = central_query(
        central, "SELECT id, count(*), min(size), min(sha256), min(site), min(device) "
        "FROM clips GROUP BY id",
    )  # fmt: skip
    central_clips = {row[0]: row[1:] for row in rows}
    for file_id, (size, sha) in sorted(clips.items()):
        row = central_clips.get(file_id)
        if row is None:
            problems.append(f"clip {file_id} missing at central")
            continue
        if tuple(row) != (1, size, sha, SITE, DEVICE):
            problems.append(f"clip {file_id} stored as {row}, edge has ({size}, {sha})")
        blob = blob_path(central, sha)
        if not blob.is_file() or sha256_of(blob) != sha:
            problems.append(f"clip {file_id}: blob {blob} is missing or does not hash to {sha}")
        state = held_ranges(central, file_id)
        if state is None or state[0] != "complete":
            problems.append(f"clip {file_id}: transfer is {state}")
    for file_id, row in central_clips.items():
        if (row[3], row[4]) == (SITE, DEVICE) and file_id not in clips:
            problems.append(f"central has clip {file_id} that the edge never made")
    return problems


def wait_all_delivered(central: Central, edge: Edge, timeout: float = 120) -> None:
    """Until the edge's outbox is empty and central holds exactly what the edge produced."""
    last: list[str] = []

    def done() -> bool:
        nonlocal last
        pending = edge.pending()
        last = [f"pending on the edge: {pending}"] if pending else delivery_problems(central, edge)
        return not last

    try:
        wait_for(done, timeout, "every event and clip at central exactly once", 0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last}") from None


def rejections(central: Central) -> list[tuple[str, str]]:
    """(file id, error) of every rejected transfer, plus quarantined evidence files."""
    rows = central_query(central, "SELECT file_id, error FROM transfers WHERE state = 'rejected'")
    found = [(row[0], row[1]) for row in rows]
    found += [(p.name, "quarantined") for p in (central.data_dir / "quarantine").glob("*.part")]
    return found


def blob_path(central: Central, sha: str) -> Path:
    return central.data_dir / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def rss_mib(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


@dataclass
class RssSampler:
    """Samples VmRSS of the edge and ingest processes (whichever pid each has now) every
    ``interval`` seconds on a thread; ``mark(name)`` records a named reading of both."""

    edge: Edge
    central: Central
    interval: float = 0.25
    samples: dict[str, list[float]] = field(default_factory=lambda: {"edge": [], "ingest": []})
    marks: dict[str, dict[str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def pids(self) -> dict[str, int | None]:
        ingest = self.central.procs.get("ingest")
        return {
            "edge": self.edge.pid,
            "ingest": ingest.pid if ingest is not None and ingest.poll() is None else None,
        }

    def read(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for role, pid in self.pids().items():
            value = rss_mib(pid) if pid is not None else None
            if value is not None:
                found[role] = value
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for role, value in self.read().items():
                self.samples[role].append(value)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def mark(self, name: str) -> dict[str, float]:
        self.marks[name] = reading = self.read()
        for role, value in reading.items():
            self.samples[role].append(value)
        return reading

    def check(self, before: str = "before", after: str = "after") -> str:
        """Assert the bounds: peak < RSS_LIMIT_MIB, after - before < RSS_GROWTH_MIB, for both
        roles; return a one-line summary for the test log."""
        summary = []
        for role in ("edge", "ingest"):
            peak = max(self.samples[role], default=0.0)
            start, end = self.marks[before][role], self.marks[after][role]
            summary.append(f"{role} {start:.0f}->{end:.0f} MiB (peak {peak:.0f})")
            assert peak < RSS_LIMIT_MIB, f"{role} RSS peaked at {peak:.0f} MiB"
            assert end - start < RSS_GROWTH_MIB, f"{role} RSS grew {start:.0f}->{end:.0f} MiB"
        return ", ".join(summary)


class ChunkSpy:
    """A subscriber to the edge's ``up/file/#`` that records every chunk (file id, offset,
    length) it sees, to tell a resumed transfer from one that started over."""

    def __init__(self, broker: Broker) -> None:
        self.lock = threading.Lock()
        self.chunks: list[tuple[str, int, int]] = []
        self.inits: list[str] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="chunk-spy", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(self.subscribed.is_set, 15, "the chunk spy to subscribe")

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(f"{topics.ROOT}/{SITE}/{DEVICE}/up/file/#", qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = topics.parse(msg.topic)
        except WireError:
            return  # a test's hostile topic
        with self.lock:
            if topic.kind == "file-chunk":
                assert topic.file_id is not None and topic.offset is not None
                self.chunks.append((topic.file_id, topic.offset, len(msg.payload)))
            elif topic.kind == "file-init":
                self.inits.append(topic.file_id or "")

    def clear(self) -> None:
        with self.lock:
            self.chunks.clear()
            self.inits.clear()

    def resent(self, file_id: str, held: list[Range]) -> int:
        """Bytes of ``file_id`` seen since the last ``clear`` that lie inside ``held``."""
        with self.lock:
            seen = [(o, o + n) for f, o, n in self.chunks if f == file_id]
        total = 0
        for start, end in seen:
            for a, b in held:
                total += max(0, min(b, end) - max(a, start))
        return total

    def inits_of(self, file_id: str) -> int:
        with self.lock:
            return self.inits.count(file_id)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
