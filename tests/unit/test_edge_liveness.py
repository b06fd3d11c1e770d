"""edge.liveness: a stuck or dead worker thread stops the watchdog pings.

Time is a fake clock the test advances; threads are held and released with events, never by
sleeping and hoping.
"""

from __future__ import annotations

import logging
import threading

import pytest

from edge import liveness
from edge.liveness import Heartbeat, Watchdog
from edge.worker import PeriodicWorker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(liveness, "monotonic", fake)
    return fake


class Gate(PeriodicWorker):
    """A worker whose pass blocks until the test releases it."""

    thread_name = "gate"
    stall_seconds = 30.0

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.passes = 0
        self.fail_with: BaseException | None = None

    def interval(self) -> float:
        return 0.01  # real time: the next pass follows at once

    def run_pass(self) -> object:
        self.passes += 1
        self.entered.release()
        if self.fail_with is not None:
            raise self.fail_with
        self.release.wait()
        self.release.clear()
        return None


def notes() -> tuple[list[str], Watchdog]:
    sent: list[str] = []
    return sent, Watchdog([], sent.append)


def test_a_stuck_pass_stops_the_pings_and_names_the_worker(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    sent, watchdog = notes()
    gate = Gate()
    watchdog.heartbeats = gate.heartbeats()
    with gate:
        gate.start()
        assert gate.entered.acquire(timeout=10)  # the pass is running, and blocks
        assert watchdog.tick() and sent == ["WATCHDOG=1"]
        clock.now += 29.0
        assert watchdog.tick()  # within stall_seconds
        clock.now += 2.0
        with caplog.at_level(logging.ERROR, logger="edge.liveness"):
            assert not watchdog.tick()
        assert sent[-1].startswith("STATUS=stuck: gate: no heartbeat for 31 s")
        assert sent.count("WATCHDOG=1") == 2
        assert "gate: no heartbeat for 31 s (allowed 30 s): stuck" in caplog.text
        assert watchdog.stuck and not gate.heartbeat.alive()

        # the pass returns: the worker announces its interval and beats again
        gate.release.set()
        assert gate.entered.acquire(timeout=10)  # the second pass has begun
        assert gate.heartbeat.alive()
        assert watchdog.tick()
        assert sent[-2:] == ["STATUS=running", "WATCHDOG=1"]
        gate.release.set()


def test_the_interval_wait_is_not_a_stall(clock: FakeClock) -> None:
    beat = Heartbeat("w", stall_s=10.0)
    release = threading.Event()
    runner = threading.Thread(target=release.wait)
    beat.attach(runner)
    beat.expect(3600.0)  # e.g. retention's check_seconds
    runner.start()  # alive from here on (start() waits until the thread runs)
    try:
        clock.now += 3609.0
        assert beat.problem() is None
        clock.now += 2.0
        assert beat.problem() == "no heartbeat for 3611 s (allowed 3610 s): stuck"
    finally:
        release.set()
        runner.join(10)


def test_a_worker_whose_thread_died_stops_the_pings(clock: FakeClock) -> None:
    sent, watchdog = notes()
    gate = Gate()
    gate.fail_with = KeyError("not in PeriodicWorker.errors")  # escapes _run: the thread ends
    watchdog.heartbeats = gate.heartbeats()
    gate.start()
    assert gate.entered.acquire(timeout=10)
    assert gate._thread is not None
    gate._thread.join(10)
    assert not watchdog.tick()
    assert sent == ["STATUS=stuck: gate: its thread has ended"]
    gate.close()


def test_not_started_is_a_problem() -> None:
    sent, watchdog = notes()
    watchdog.heartbeats = [Heartbeat("sync-drain", 60.0)]
    assert not watchdog.tick()
    assert sent == ["STATUS=stuck: sync-drain: not started"]


def test_every_stuck_worker_is_named(clock: FakeClock) -> None:
    release = threading.Event()
    threads = [threading.Thread(target=release.wait) for _ in range(3)]
    beats = [Heartbeat(name, 10.0) for name in ("recorder-cam1", "clip-worker", "retention")]
    for beat, thread in zip(beats, threads, strict=True):
        beat.attach(thread)
        thread.start()
    sent, watchdog = notes()
    watchdog.heartbeats = beats
    try:
        clock.now += 5.0
        beats[1].beat()
        clock.now += 6.0  # recorder and retention silent 11 s, the clip worker 6 s
        assert watchdog.problems() == [
            "recorder-cam1: no heartbeat for 11 s (allowed 10 s): stuck",
            "retention: no heartbeat for 11 s (allowed 10 s): stuck",
        ]
        assert not watchdog.tick()
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
