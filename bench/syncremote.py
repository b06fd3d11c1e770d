"""The throughput receiver in a process of its own, as central's ingest is in production.

In one process the receiver's acks, the edge and both paho network threads share one
interpreter lock, which charges the sync path (four MQTT messages per chunk) for the receiver's
work as well as its own. ``RemoteReceiver`` runs ``syncrig.Receiver`` in a child process; the
parent tells it what to expect over a pipe and waits on shared events. Both the raw baseline
and ``SyncClient`` are measured against it, so the ratio compares like with like.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

import paho.mqtt.client as mqtt

from bench.events import connect
from bench.syncrig import RAW_TOPIC, WAIT_S, Receiver, steady_allocator
from wire.closing import Closeable


def _serve(port: int, conn: Connection, raw_done: Event, complete: Event) -> None:
    steady_allocator()
    receiver = Receiver(connect(port, "bench-receiver-process"))
    receiver.raw_done = raw_done  # type: ignore[assignment]
    receiver.complete = complete  # type: ignore[assignment]
    conn.send("ready")
    try:
        while True:
            command, value = conn.recv()
            if command == "stop":
                return
            with receiver.lock:  # "raw": expect ``value`` bytes on the raw topic
                receiver.raw_bytes, receiver.raw_expected = 0, int(value)
            conn.send("ok")
    finally:
        receiver.close()


class RemoteReceiver(Closeable):
    """A ``Receiver`` in a child process; ``complete`` and ``raw_done`` are shared events."""

    def __init__(self, port: int) -> None:
        self._closed = False
        context = mp.get_context("spawn")
        self.raw_done = context.Event()
        self.complete = context.Event()
        self.arrivals: list[tuple[float, int]] = []  # chunk times stay in the child
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(port, child, self.raw_done, self.complete), daemon=True
        )
        self._process.start()
        if not self._conn.poll(30) or self._conn.recv() != "ready":
            self.close()
            raise SystemExit("bench: the receiver process did not start")

    def expect_raw(self, nbytes: int) -> None:
        self.raw_done.clear()
        self._conn.send(("raw", nbytes))
        if not self._conn.poll(30) or self._conn.recv() != "ok":
            raise SystemExit("bench: the receiver process did not answer")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):  # the child may have gone already
            self._conn.send(("stop", 0))
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


def raw_seconds_remote(
    publisher: mqtt.Client, receiver: RemoteReceiver, messages: Sequence[bytes]
) -> float:
    """``syncrig.raw_seconds`` against a receiver in its own process."""
    receiver.expect_raw(sum(len(m) for m in messages))
    start = time.monotonic()
    for message in messages:
        publisher.publish(RAW_TOPIC, message, qos=1)
    if not receiver.raw_done.wait(WAIT_S):
        raise SystemExit("bench: raw baseline did not arrive")
    return time.monotonic() - start
