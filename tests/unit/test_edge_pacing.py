"""The adaptive window (``edge.pacing``) against a simulated link: a FIFO bottleneck of
``rate`` bytes/s, then ``delay`` seconds to central and back for the ack. No real time."""

from __future__ import annotations

import pytest

from edge.pacing import MIN_WINDOW, QUEUE_S, Pacer, Sent

CHUNK = 262144
MB = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Link:
    """Sends chunks while the pacer's window has room; acks them one by one, in order."""

    def __init__(self, pacer: Pacer, clock: Clock, rate: float, delay: float) -> None:
        self.pacer, self.clock = pacer, clock
        self.rate, self.delay = rate, delay
        self.busy_until = clock.now  # the bottleneck has sent everything queued by then
        self.busy_s = 0.0  # time the bottleneck spent sending
        self.flight: list[tuple[float, Sent]] = []  # (ack arrives at, stamp), in order
        self.queue_delays: list[float] = []  # what a message published at each send waits

    def fill(self) -> None:
        while len(self.flight) < self.pacer.window:
            stamp = self.pacer.sent()
            self.busy_until = max(self.busy_until, self.clock.now) + CHUNK / self.rate
            self.busy_s += CHUNK / self.rate
            self.flight.append((self.busy_until + self.delay, stamp))
            self.queue_delays.append(self.busy_until - self.clock.now)

    def run(self, acks: int) -> list[int]:
        """Ack ``acks`` chunks, refilling the window after each; the window after each ack."""
        windows = []
        for _ in range(acks):
            self.fill()
            at, stamp = self.flight.pop(0)
            self.clock.now = at
            self.pacer.acked(CHUNK, [stamp])
            windows.append(self.pacer.window)
        return windows


def make(max_window: int = 8) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(CHUNK, max_window, clock=clock), clock


def test_starts_modest_and_reaches_the_max_within_a_few_acks_on_a_fast_link() -> None:
    pacer, clock = make(8)
    assert pacer.window == MIN_WINDOW
    windows = Link(pacer, clock, rate=100 * MB, delay=0.002).run(20)
    assert windows[:6] == [3, 4, 5, 6, 7, 8]  # one more chunk per chunk acked
    assert set(windows[6:]) == {8}


def test_slow_start_doubles_each_round_trip_up_to_a_large_max() -> None:
    pacer, clock = make(64)
    link = Link(pacer, clock, rate=800 * MB, delay=0.003)
    windows = link.run(200)
    assert windows.index(64) == 64 - MIN_WINDOW - 1  # every ack added one
    assert set(windows[64:]) == {64}


def test_a_slow_link_keeps_the_window_at_two_chunks() -> None:
    pacer, clock = make(8)
    link = Link(pacer, clock, rate=250_000, delay=0.05)  # 4G at 2 Mbit/s
    assert set(link.run(30)) == {2}
    assert pacer.rate == pytest.approx(250_000, rel=0.05)
    assert pacer.min_rtt == pytest.approx(CHUNK / 250_000 + 0.05, rel=0.01)
    assert max(link.queue_delays) <= 2 * CHUNK / 250_000 + 1e-9  # not 8 chunks (~8.4 s)
    assert link.busy_s / (clock.now - 1000.0) > 0.95  # and the link never idled


def test_the_window_shrinks_when_a_fast_link_turns_slow() -> None:
    pacer, clock = make(8)
    link = Link(pacer, clock, rate=50 * MB, delay=0.01)
    link.run(50)
    assert pacer.window == 8
    link.rate = 250_000
    windows = link.run(20)
    assert windows[-1] == 2
    settled = windows.index(2)
    assert settled <= 8  # the chunks queued at the old rate drain, then it follows at once
    assert set(windows[settled:]) == {2}


@pytest.mark.parametrize("rate", [1 * MB, 4 * MB, 12 * MB, 40 * MB])
def test_queue_delay_stays_within_min_rtt_plus_the_budget(rate: float) -> None:
    pacer, clock = make(64)
    link = Link(pacer, clock, rate=rate, delay=0.03)
    link.run(100)  # settle
    link.queue_delays.clear()
    busy, start = link.busy_s, clock.now
    link.run(200)
    assert pacer.min_rtt is not None
    bound = max(pacer.min_rtt + QUEUE_S, MIN_WINDOW * CHUNK / rate)
    assert max(link.queue_delays) <= bound + 1e-9
    assert (link.busy_s - busy) / (clock.now - start) > 0.95  # still fills the link


def test_the_window_is_bounded_by_a_small_configured_window() -> None:
    pacer, clock = make(1)
    assert pacer.window == 1
    assert set(Link(pacer, clock, rate=100 * MB, delay=0.001).run(10)) == {1}


def test_reset_forgets_every_measurement_and_stale_stamps() -> None:
    pacer, clock = make(8)
    link = Link(pacer, clock, rate=100 * MB, delay=0.002)
    link.run(20)
    assert pacer.window == 8 and pacer.rate > 0 and pacer.min_rtt is not None
    stale = pacer.sent()
    clock.now += 0.5
    pacer.reset()
    assert (pacer.window, pacer.rate, pacer.min_rtt, pacer.delivered) == (2, 0.0, None, 0)
    clock.now += 0.5
    pacer.acked(CHUNK, [stale])  # a chunk of the old connection: counted, not measured
    assert (pacer.window, pacer.rate, pacer.min_rtt) == (2, 0.0, None)
    assert pacer.delivered == CHUNK


def test_acks_without_a_chunk_stamp_count_bytes_but_measure_nothing() -> None:
    pacer, clock = make(8)
    pacer.acked(5000, [])
    assert pacer.delivered == 5000 and pacer.rate == 0 and pacer.window == 2
    first = pacer.sent()
    assert first == Sent(clock.now, 5000)
    clock.now += 0.5
    pacer.acked(CHUNK, [first])
    assert pacer.rate == pytest.approx(CHUNK / 0.5) and pacer.min_rtt == pytest.approx(0.5)
