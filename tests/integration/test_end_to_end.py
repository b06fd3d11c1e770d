"""The thinnest real path: test-pattern camera → segments → event → clip → MQTT → central → API.

Everything is real: Mosquitto on a free port, ffmpeg recording, the edge and central
processes as a user runs them, SQLite (or PostgreSQL when REEFERWATCH_TEST_PG is set).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Broker, free_port, wait_for, wait_port

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery-staple"


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class Central:
    """A central (API + ingest) run as processes, with its own data directory."""

    data_dir: Path
    broker: Broker
    http_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "REEFERWATCH_DATA_DIR": str(self.data_dir),
            "REEFERWATCH_MQTT_HOST": self.broker.host,
            "REEFERWATCH_MQTT_PORT": str(self.broker.port),
        }

    def setup(self) -> None:
        subprocess.run([tool("reeferwatch-central"), "migrate"], env=self.env, check=True)
        subprocess.run(
            [tool("reeferwatch-central"), "user", "add", "inspector", "--role", "admin",
             "--password-stdin"],  # national admin: every site
            input=PASSWORD.encode(), env=self.env, check=True,
        )  # fmt: skip

    def start(self, name: str) -> None:
        argv = {
            "ingest": [tool("reeferwatch-central"), "ingest"],
            "serve": [tool("reeferwatch-central"), "serve", "--port", str(self.http_port)],
        }[name]
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)
        if name == "serve":
            wait_port(self.http_port, 30)

    def trust_edge(self, config: Path) -> None:
        """What an operator does for a box not enrolled with a bundle: read its public key
        with ``reeferwatch-edge identity`` and trust it with ``device trust``."""
        shown = subprocess.run(
            [tool("reeferwatch-edge"), "identity", "--config", str(config)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        fields = dict(line.split(" ", 1) for line in shown.splitlines())
        subprocess.run(
            [tool("reeferwatch-central"), "device", "trust", "--site", fields["site"],
             "--device", fields["device"], "--public-key", fields["public-key"]],
            env=self.env, check=True, capture_output=True,
        )  # fmt: skip

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
            proc.wait(10)
        self.procs.clear()

    def client(self) -> httpx.Client:
        base = f"http://127.0.0.1:{self.http_port}"
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "inspector", "password": PASSWORD}
        ).json()["access_token"]
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def central(tmp_path: Path, broker: Broker) -> Iterator[Central]:
    data_dir = tmp_path / "central"
    data_dir.mkdir()
    running = Central(data_dir, broker)
    running.setup()
    try:
        yield running
    finally:
        running.close()


def write_edge_config(
    tmp_path: Path, broker: Broker, *, signing_key: str | None = None, **mqtt: object
) -> Path:
    mqtt_lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in mqtt.items())
    key_line = f"signing_key_file = {json.dumps(signing_key)}" if signing_key else ""
    config = tmp_path / "edge" / "edge.toml"
    config.parent.mkdir()
    config.write_text(
        f"""
[site]
id = "site01"
device = "edge01"
location_code = "370200-QD-01"
{key_line}

[storage]
data_dir = "data"

[mqtt]
host = "{broker.host}"
port = {broker.port}
{mqtt_lines}
[recording]
segment_seconds = 2

[[cameras]]
id = "dock1"
source = "testsrc"
width = 320
height = 240
fps = 10
bitrate_kbps = 1500

[clips]
pre_seconds = 2
post_seconds = 2

[gpio]
backend = "mock"
"""
    )
    return config


@pytest.fixture
def edge_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.wait(15)


def start_edge(config: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    log = open(config.parent / "edge.log", "ab")  # noqa: SIM115 - lives with the process
    procs.append(
        subprocess.Popen(
            [tool("reeferwatch-edge"), "run", "--config", str(config)], stdout=log, stderr=log
        )
    )


def edge_segments(config: Path) -> list[Path]:
    return sorted((config.parent / "data" / "segments").rglob("*.mp4"))


def trigger_mark(config: Path) -> None:
    result = subprocess.run(
        [tool("reeferwatch-edge"), "trigger", "--config", str(config), "mark", "--wait", "60"],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def edge_clip_hashes(config: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (config.parent / "data" / "clips").glob("*.mp4")
    }


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip())


def listed_clips(api: httpx.Client, **params: str) -> list[dict[str, object]]:
    response = api.get("/api/v1/clips", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def events_of_kind(api: httpx.Client, kind: str) -> list[dict[str, object]]:
    response = api.get("/api/v1/events", params={"kind": kind})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def mark_and_receive_clip(api: httpx.Client, config: Path) -> dict[str, Any]:
    """Once the edge has recorded, mark an event; return its one clip as central lists it,
    after checking it is the edge's file (same SHA-256) and is linked to that event."""
    wait_for(lambda: len(edge_segments(config)) >= 2, 30, "two closed segments on the edge")
    trigger_mark(config)
    marks = wait_for(lambda: events_of_kind(api, "mark"), 60, "the event at central")
    assert len(marks) == 1
    mark_id = marks[0]["id"]
    clips = wait_for(lambda: listed_clips(api, event=mark_id), 60, "the clip at central")
    assert len(clips) == 1
    clip = dict(clips[0])
    assert clip["sha256"] in edge_clip_hashes(config).values()
    assert clip["event_ids"] == [mark_id]
    assert clip["verified"] is True  # signed manifest and SHA-256 both checked
    return clip


def test_marked_event_reaches_the_inspector_as_a_seekable_verified_clip(
    tmp_path: Path, broker: Broker, central: Central, ffmpeg: str, edge_process: list
) -> None:
    central.start("ingest")
    central.start("serve")
    config = write_edge_config(tmp_path, broker)
    central.trust_edge(config)
    start_edge(config, edge_process)
    with central.client() as api:
        clip = mark_and_receive_clip(api, config)

        ranged = api.get(f"/api/v1/clips/{clip['id']}/video", headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206
        assert ranged.headers["content-range"] == f"bytes 100-199/{clip['size']}"
        assert len(ranged.content) == 100

        whole = api.get(f"/api/v1/clips/{clip['id']}/video")
        assert whole.status_code == 200
        assert hashlib.sha256(whole.content).hexdigest() == clip["sha256"]
        downloaded = tmp_path / "downloaded.mp4"
        downloaded.write_bytes(whole.content)
        # pre + post = 4 s, within one 2 s segment
        assert abs(ffprobe_duration(downloaded) - 4.0) <= 2.0
        moov, mdat = whole.content.find(b"moov"), whole.content.find(b"mdat")
        assert 0 < moov < mdat, "clip is not faststart: browsers could not seek over HTTP"


def central_transfer_ranges(central: Central) -> list[list[int]] | None:
    with sqlite3.connect(central.data_dir / "central.db") as db:
        row = db.execute("select ranges, state from transfers").fetchone()
    if row is None:
        return None
    return list(json.loads(row[0])) if row[1] == "receiving" else None


def test_clip_arrives_exactly_once_when_ingest_dies_mid_transfer(
    tmp_path: Path, broker: Broker, central: Central, ffmpeg: str, edge_process: list
) -> None:
    # Tiny chunks, one in flight: the transfer takes seconds, so ingest dies in the middle.
    config = write_edge_config(tmp_path, broker, chunk_size=1024, window=1, ack_timeout=3.0)
    central.trust_edge(config)
    central.start("ingest")
    central.start("serve")
    start_edge(config, edge_process)
    wait_for(lambda: len(edge_segments(config)) >= 2, 30, "two closed segments on the edge")

    trigger_mark(config)
    partial = wait_for(lambda: central_transfer_ranges(central), 60, "a partial transfer")
    central.kill("ingest")
    assert partial and partial[0][1] < max(edge_clip_size(config), 1)
    central.start("ingest")

    with central.client() as api:
        mark_id = wait_for(lambda: events_of_kind(api, "mark"), 60, "the event")[0]["id"]
        clips = wait_for(
            lambda: listed_clips(api, event=mark_id), 120, "the clip after ingest restarted"
        )
        sha = clips[0]["sha256"]
        assert sha in edge_clip_hashes(config).values()
        whole = api.get(f"/api/v1/clips/{clips[0]['id']}/video")
        assert hashlib.sha256(whole.content).hexdigest() == sha
        # exactly once: the edge's retries after the restart did not create a second clip
        wait_for(lambda: edge_outbox_drained(config), 30, "the edge to see its delivery acked")
        assert len(listed_clips(api, event=mark_id)) == 1


def edge_clip_size(config: Path) -> int:
    return max(
        (p.stat().st_size for p in (config.parent / "data" / "clips").glob("*.mp4")), default=0
    )


def edge_outbox_drained(config: Path) -> bool:
    db_path = next((config.parent / "data").glob("*.db"))
    with sqlite3.connect(db_path) as db:
        return (
            db.execute("select count(*) from outbox where state != 'delivered'").fetchone()[0] == 0
        )


def test_inspector_asks_for_a_recorded_window_and_receives_it(
    tmp_path: Path, broker: Broker, central: Central, ffmpeg: str, edge_process: list
) -> None:
    """Historical playback on demand: API → command (published by ingest) → the box cuts the
    window from its recording → the clip arrives verified and the request says delivered."""
    central.start("ingest")
    central.start("serve")
    config = write_edge_config(tmp_path, broker)
    central.trust_edge(config)
    start_edge(config, edge_process)
    with central.client() as api:
        wait_for(lambda: len(edge_segments(config)) >= 4, 60, "four closed segments on the edge")
        wait_for(lambda: api.get("/api/v1/devices").json(), 30, "the box to report")
        end = datetime.now(timezone.utc) - timedelta(seconds=2)
        window = {"camera": "dock1", "start": (end - timedelta(seconds=4)).isoformat(),
                  "end": end.isoformat(), "reason": "复查装箱过程"}  # fmt: skip
        created = api.post("/api/v1/sites/site01/upload-requests", json=window)
        assert created.status_code == 202, created.text
        request_id = created.json()["id"]
        assert created.json()["status"] == "queued"

        def delivered() -> dict[str, Any] | None:
            body = api.get(f"/api/v1/upload-requests/{request_id}").json()
            return body if body["status"] == "delivered" else None

        body = wait_for(delivered, 90, "the requested window at central")
        clip = body["clip"]
        assert clip["kind"] == "window" and clip["camera"] == "dock1" and clip["verified"]
        assert clip["id"] == body["file_id"]
        assert clip["sha256"] in edge_clip_hashes(config).values()
        video = api.get(f"/api/v1/clips/{clip['id']}/video")
        downloaded = tmp_path / "window.mp4"
        downloaded.write_bytes(video.content)
        assert 3.0 <= ffprobe_duration(downloaded) <= 7.0  # keyframe-aligned stream copy
        mine = api.get("/api/v1/upload-requests", params={"mine": True}).json()["items"]
        assert [r["id"] for r in mine] == [request_id]
        too_long = {**window, "start": (end - timedelta(minutes=31)).isoformat()}
        refused = api.post("/api/v1/sites/site01/upload-requests", json=too_long)
        assert refused.status_code == 422 and "too long" in refused.text
