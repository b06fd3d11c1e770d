"""The uplink token bucket with an injected clock: rate, debt, unlimited, schedule."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from edge.config import UplinkConfig
from edge.uplink import RECHECK_S, TokenBucket, in_window, parse_hhmm
from tests.helpers import wait_for


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_rate_is_kept_over_many_chunks() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2000, clock=clock)  # 250,000 bytes/s
    sent = 0
    for _ in range(40):
        clock.t += bucket.delay()
        assert bucket.delay() == 0
        bucket.consume(65536)
        sent += 65536
    elapsed = clock.t - 1000.0
    # the last chunk went at ``elapsed``; its debt is paid one chunk-time later
    assert sent / (elapsed + 65536 / 250_000) == pytest.approx(250_000, rel=0.01)


def test_debt_makes_the_next_sender_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(8, clock=clock)  # 1000 bytes/s
    assert bucket.delay() == 0
    bucket.consume(500)
    assert bucket.delay() == pytest.approx(0.5)
    clock.t += 0.2
    assert bucket.delay() == pytest.approx(0.3)
    clock.t += 0.3
    assert bucket.delay() == 0


def test_idle_time_buys_only_a_small_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(8, clock=clock)
    clock.t += 3600
    bucket.consume(1000)
    assert bucket.delay() == pytest.approx(0.9)  # 100 bytes (0.1 s) of allowance


def test_zero_is_unlimited() -> None:
    bucket = TokenBucket(0, clock=FakeClock())
    for _ in range(100):
        bucket.consume(10**6)
        assert bucket.delay() == 0


def test_schedule_overrides_the_cap_and_wraps_midnight() -> None:
    now = [datetime(2026, 1, 1, 23, 0)]
    clock = FakeClock()
    bucket = TokenBucket(
        8,
        [(parse_hhmm("22:00"), parse_hhmm("06:00"), 0)],
        clock=clock,
        wallclock=lambda: now[0],
    )
    bucket.consume(10_000)
    assert bucket.delay() == 0  # night: unlimited
    now[0] = datetime(2026, 1, 2, 5, 59)
    assert bucket.rate() == 0
    now[0] = datetime(2026, 1, 2, 6, 0)
    assert bucket.rate() == 1000
    bucket.consume(1000)
    assert bucket.delay() == pytest.approx(1.0)


def test_in_window() -> None:
    t = parse_hhmm
    assert in_window(t("12:00"), t("08:00"), t("18:00"))
    assert not in_window(t("18:00"), t("08:00"), t("18:00"))
    assert in_window(t("01:00"), t("22:00"), t("06:00"))
    assert not in_window(t("12:00"), t("22:00"), t("06:00"))


def test_wait_sleeps_on_the_event_and_stops() -> None:
    bucket = TokenBucket(8)  # real clock, 1000 bytes/s
    bucket.consume(100_000)  # 100 s of debt
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    assert bucket.wait(10, stop) is False


def test_config_keys() -> None:
    cfg = UplinkConfig.model_validate(
        {"kbps": 2000, "schedule": [{"from": "22:00", "to": "06:00", "kbps": 0}]}
    )
    assert cfg.kbps == 2000 and cfg.schedule[0].start == "22:00"
    with pytest.raises(ValueError):
        UplinkConfig.model_validate({"schedule": [{"from": "25:00", "to": "06:00", "kbps": 0}]})


def test_set_rate_replaces_cap_and_schedule_without_a_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(8, clock=clock)  # 1000 bytes/s
    bucket.consume(2000)
    assert bucket.delay() == pytest.approx(2.0)
    bucket.set_rate(16)  # 2000 bytes/s: the debt is paid at the new rate
    assert bucket.delay() == pytest.approx(1.0)
    bucket.set_rate(0)  # unlimited: the debt is forgiven
    assert bucket.delay() == 0
    clock.t += 3600
    bucket.set_rate(8, [(parse_hhmm("00:00"), parse_hhmm("00:00"), 80)])  # all day: 10 kB/s
    assert bucket.kbps == 8 and bucket.rate() == 10_000
    bucket.consume(1000)
    assert bucket.delay() == pytest.approx(0.1)  # no allowance saved while unlimited
    bucket.set_rate(8)
    assert bucket.rate() == 1000


def test_a_waiting_sender_sees_a_new_rate() -> None:
    bucket = TokenBucket(8)  # real clock, 1000 bytes/s
    bucket.consume(100_000)  # 100 s of debt
    stop = threading.Event()
    done = threading.Event()

    def send() -> None:
        if bucket.wait(10, stop):
            done.set()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        assert not done.wait(0.3)
        bucket.set_rate(0)
        wait_for(done.is_set, 5 * RECHECK_S, "the waiting sender to go at the new rate")
    finally:
        stop.set()
        sender.join(5)
