"""``run`` pings systemd's watchdog only while every worker thread is alive.

The real ``edge.app.run`` (testsrc cameras with ffmpeg, mock GPIO and panel, a broker that is
not there) talks to a notify socket the test binds, as systemd would. Retention is made to
hang in its pass on the test's signal: the pings stop, the status names the stuck thread, and
they resume once it is released. Every check waits for a datagram, in order; the main loop
ticks every 0.1 s instead of 10 s.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import app
from edge.config import load_config
from edge.retention import Retention, RetentionReport
from tests.helpers import free_port

pytestmark = pytest.mark.slow

CONFIG = """
[site]
id = "site01"
device = "edge01"
location_code = "370200-QD-01"
[storage]
data_dir = "data"
[mqtt]
host = "127.0.0.1"
port = {port}
[recording]
segment_seconds = 2
[[cameras]]
id = "cam1"
width = 160
height = 120
fps = 5
[gpio]
backend = "mock"
[[gpio.inputs]]
name = "line1_md"
pin = 17
kind = "metal_detector_reject"
[retention]
check_seconds = 0.2
[panel.leds]
green = 5
red = 13
"""


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def next_message(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def wait_message(sock: socket.socket, predicate: str, limit: int = 600) -> str:
    """The first datagram that starts with ``predicate`` (at most ``limit`` read)."""
    for _ in range(limit):
        message = next_message(sock)
        if message.startswith(predicate):
            return message
    raise AssertionError(f"no {predicate!r} among {limit} messages")


def test_a_hung_worker_stops_the_pings_until_it_recovers(
    tmp_path: Path, notify: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = tmp_path / "edge.toml"
    config_path.write_text(CONFIG.format(port=free_port()))
    config = load_config(config_path)

    hang = threading.Event()
    hung = threading.Event()
    release = threading.Event()
    real_run_once = Retention.run_once

    def run_once(self: Retention) -> RetentionReport:
        if hang.is_set():
            hung.set()
            release.wait(120)
        return real_run_once(self)

    monkeypatch.setattr(Retention, "run_once", run_once)
    monkeypatch.setattr(Retention, "stall_seconds", 2.0)
    monkeypatch.setattr(app, "TICK_S", 0.1)

    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            app.run(config, stop)
        except Exception as exc:
            errors.append(exc)  # reported by the assertion below
            raise

    runner = threading.Thread(target=target, name="edge-run")
    runner.start()
    try:
        assert next_message(notify) == "READY=1"
        # every part's threads are healthy: pings flow
        assert wait_message(notify, "WATCHDOG=1") == "WATCHDOG=1"

        hang.set()
        assert hung.wait(60), "retention never entered its pass"
        stuck = wait_message(notify, "STATUS=stuck")
        assert stuck.startswith("STATUS=stuck: retention: no heartbeat for"), stuck
        assert "recorder" not in stuck and "sync" not in stuck and "panel" not in stuck
        # while it hangs, every tick reports it and none pings
        for _ in range(5):
            message = next_message(notify)
            assert message.startswith("STATUS=stuck: retention"), message

        hang.clear()
        release.set()
        assert wait_message(notify, "STATUS=running") == "STATUS=running"
        assert next_message(notify) == "WATCHDOG=1"
    finally:
        hang.clear()
        release.set()
        stop.set()
        runner.join(120)
    assert not runner.is_alive()
    assert not errors, errors
    assert wait_message(notify, "STOPPING=1") == "STOPPING=1"
