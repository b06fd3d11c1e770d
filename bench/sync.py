"""Sync benchmark: clip bytes through ``SyncClient`` vs raw paho, and the uplink cap's error.

Against a Mosquitto this bench starts on a free port (``bench.events.broker``). A minimal
receiver acks like central (held ranges per chunk, ``complete`` after a good fin) so the
edge's window keeps moving. Prints JSON lines (DESIGN §7):

- ``sync_throughput_mb_s``: one clip init → chunks → fin → complete ack through
  ``SyncClient`` (baseline: a raw paho QoS 1 publish of the same bytes in the same chunk
  size to the same subscriber, timed until the last byte arrived, same run);
- ``sync_throughput_ratio``: the two above divided (goal ≥ 0.9);
- ``cap_error_pct``: achieved chunk rate at the receiver vs a 20 Mbit/s ``[uplink]`` cap
  (goal |x| ≤ 5).

Not yet measured here: ``sync_tls_ratio``, ``backlog_drain_s``, ``backlog_priority_inversions``
and ``resume_resent_bytes_ratio``.

``python -m bench.sync [--mb N] [--chunk BYTES]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.events import broker, connect
from bench.recording import emit
from edge.config import EdgeConfig, parse_config
from edge.store import Store
from edge.sync import SyncClient
from edge.timeutil import now
from wire import codec, ranges, topics
from wire.models import AckMessage, FileAck, FileFin, FileInit

SITE, DEVICE = "bench", "edge01"
RAW_TOPIC = "bench/raw"
CAP_KBPS = 20_000


class Receiver:
    """Acks file traffic like central; counts raw bytes; records chunk arrival times."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.raw_bytes = 0
        self.raw_done = threading.Event()
        self.raw_expected = 0
        self.held: dict[str, list[tuple[int, int]]] = {}
        self.hash: dict[str, Any] = {}
        self.complete = threading.Event()
        self.arrivals: list[tuple[float, int]] = []
        self.client = connect(port, "bench-receiver")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.subscribe([(topics.up_filter(SITE, DEVICE), 1), (RAW_TOPIC, 1)])
        subscribed.wait(10)

    def _ack(self, fa: FileAck) -> None:
        ack = AckMessage(sent_at=now(), files=[fa])
        self.client.publish(topics.down(SITE, DEVICE, "ack"), codec.encode(ack), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == RAW_TOPIC:
            with self.lock:
                self.raw_bytes += len(msg.payload)
                if self.raw_bytes >= self.raw_expected:
                    self.raw_done.set()
            return
        topic = topics.parse(msg.topic)
        if topic.kind == "file-init":
            init = codec.decode(FileInit, msg.payload)
            self.held.setdefault(init.file_id, [])
            self._ack(FileAck(file_id=init.file_id, ranges=self.held[init.file_id]))
        elif topic.kind == "file-chunk":
            fid, offset = topic.file_id or "", topic.offset or 0
            self.arrivals.append((time.monotonic(), len(msg.payload)))
            self.held[fid] = ranges.add(self.held[fid], (offset, offset + len(msg.payload)))
            self._ack(FileAck(file_id=fid, ranges=self.held[fid]))
        elif topic.kind == "file-fin":
            fin = codec.decode(FileFin, msg.payload)
            if ranges.covered(self.held.get(fin.file_id, []), fin.size):
                self._ack(FileAck(file_id=fin.file_id, complete=True))
                self.complete.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw_seconds(port: int, receiver: Receiver, body: bytes, chunk: int) -> float:
    publisher = connect(port, "bench-raw")
    receiver.raw_bytes, receiver.raw_expected = 0, len(body)
    receiver.raw_done.clear()
    start = time.monotonic()
    for offset in range(0, len(body), chunk):
        publisher.publish(RAW_TOPIC, body[offset : offset + chunk], qos=1)
    if not receiver.raw_done.wait(120):
        raise SystemExit("bench: raw baseline did not arrive")
    elapsed = time.monotonic() - start
    publisher.disconnect()
    publisher.loop_stop()
    return elapsed


def edge_config(workdir: Path, port: int, chunk: int, kbps: int) -> EdgeConfig:
    data = {
        "site": {"id": SITE, "device": DEVICE, "location_code": "BENCH-01"},
        "storage": {"data_dir": str(workdir / "data")},
        "mqtt": {"port": port, "chunk_size": chunk, "window": 16},
        "uplink": {"kbps": kbps},
        "cameras": [{"id": "cam1"}],
    }
    return parse_config(data, "bench")


def sync_seconds(workdir: Path, port: int, receiver: Receiver, body: bytes, chunk: int,
                 kbps: int) -> float:  # fmt: skip
    """Seconds from ``start()`` to central's complete ack of one clip of ``body``."""
    workdir.mkdir(parents=True)
    config = edge_config(workdir, port, chunk, kbps)
    path = workdir / "clip.mp4"
    path.write_bytes(body)
    receiver.complete.clear()
    receiver.arrivals.clear()
    with Store(config.db_path) as store:
        t = now()
        store.add_clip("Fbench" + workdir.name, None, "cam1", path, t - timedelta(seconds=10), t,
                       len(body), hashlib.sha256(body).hexdigest(), [], 10)  # fmt: skip
        with SyncClient(config, store) as sync:
            start = time.monotonic()
            sync.start()
            if not receiver.complete.wait(300):
                raise SystemExit("bench: the clip was not delivered")
            return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=64, help="clip size (MB)")
    parser.add_argument("--chunk", type=int, default=262144, help="chunk size (bytes)")
    args = parser.parse_args()
    body = os.urandom(int(args.mb * 1_000_000))
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp, broker(Path(tmp)) as port:
        receiver = Receiver(port)
        try:
            raw = raw_seconds(port, receiver, body, args.chunk)
            synced = sync_seconds(Path(tmp) / "a", port, receiver, body, args.chunk, 0)
            raw_mb_s, sync_mb_s = len(body) / raw / 1e6, len(body) / synced / 1e6
            emit("sync_throughput_mb_s", sync_mb_s, "MB/s", raw_mb_s, chunk=args.chunk)
            emit("sync_throughput_ratio", sync_mb_s / raw_mb_s, "ratio", 1.0, goal=">= 0.9")
            cap_bytes = min(len(body), 10_000_000)  # 4 s at 20 Mbit/s
            sync_seconds(Path(tmp) / "b", port, receiver, body[:cap_bytes], args.chunk, CAP_KBPS)
            arrivals = receiver.arrivals
            rate = sum(n for _, n in arrivals[1:]) / (arrivals[-1][0] - arrivals[0][0])
            target = CAP_KBPS * 1000 / 8
            emit("cap_error_pct", 100 * (rate - target) / target, "%", 0.0,
                 cap_mbit_s=CAP_KBPS / 1000, measured_mbit_s=round(rate * 8 / 1e6, 3),
                 goal="|x| <= 5")  # fmt: skip
        finally:
            receiver.close()


if __name__ == "__main__":
    main()
