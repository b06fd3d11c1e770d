"""Adaptive send window: how many file chunks the edge keeps unacknowledged by central.

Chunks and events share one FIFO (paho's queue, then TCP's), so every chunk in flight is a
chunk an urgent event waits behind: a fixed 8 × 256 KiB on a 2 Mbit/s uplink is ~8 s.
``Pacer`` keeps about ``rate × (min_rtt + QUEUE_S)`` bytes in flight over the connection:
one round trip's worth keeps the link busy, ``QUEUE_S`` more bounds the queue ahead of the
next message. Both figures come from central's ``FileAck``s:

- ``rate``, bytes newly acked per second. An ack gives one sample: the bytes acked while
  the oldest chunk it covers was in flight, over that chunk's flight time (so idle time
  between files does not count). Samples are averaged with a weight of their flight time
  over ``RATE_S``, about the last second; the first sample is taken as it is.
- ``min_rtt``, the shortest chunk sent → acked time seen.

The window starts at ``MIN_WINDOW`` chunks; below the target it grows by one chunk per
chunk acked (doubling each round trip, as TCP's slow start), above it it falls to the
target at once. It stays within ``[MIN_WINDOW, max_window]`` (``[mqtt] window``): two
chunks so the link never idles while one chunk's ack travels back. While the window, not
the link, limits the rate, the rate rises with it and the target stays ahead of it, so a
LAN reaches ``max_window`` within a few acks. One ``Pacer`` serves a connection: it
outlives files and is ``reset`` on reconnect.

Pure logic, no I/O and no lock (the caller holds one); the clock is injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIN_WINDOW = 2  # chunks; fewer only if ``[mqtt] window`` is smaller
QUEUE_S = 0.25  # queueing the window may add ahead of the next message, in seconds
RATE_S = 1.0  # the rate is averaged over about this long


@dataclass(frozen=True)
class Sent:
    """When a chunk was sent and how many bytes central had acked by then."""

    at: float
    delivered: int


class Pacer:
    """The window of one connection; ``sent`` stamps a chunk, ``acked`` measures."""

    def __init__(
        self,
        chunk_size: int,
        max_window: int,
        *,
        queue_s: float = QUEUE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chunk_size = chunk_size
        self.max_window = max_window
        self.min_window = min(MIN_WINDOW, max_window)
        self.queue_s = queue_s
        self.clock = clock
        self.window = self.min_window
        self.rate = 0.0  # bytes/s; 0 = not measured yet
        self.min_rtt: float | None = None
        self.delivered = 0  # bytes central acked since the reset
        self.since = clock()  # stamps from before (the last connection) measure nothing

    def reset(self) -> None:
        """Forget every measurement: a new connection may take another path."""
        self.window = self.min_window
        self.rate = 0.0
        self.min_rtt = None
        self.delivered = 0
        self.since = self.clock()

    def sent(self) -> Sent:
        """The stamp of a chunk sent now; hand it back to ``acked`` once central holds it."""
        return Sent(self.clock(), self.delivered)

    def acked(self, nbytes: int, chunks: Sequence[Sent]) -> None:
        """Central newly holds ``nbytes`` more; ``chunks`` (their stamps) are now all held."""
        self.delivered += max(0, nbytes)
        chunks = [c for c in chunks if c.at >= self.since]
        if not chunks:
            return
        now = self.clock()
        oldest = min(chunks, key=lambda c: c.at)
        newest = max(chunks, key=lambda c: c.at)
        rtt = max(0.0, now - newest.at)
        self.min_rtt = rtt if self.min_rtt is None else min(self.min_rtt, rtt)
        flight = now - oldest.at
        if flight > 0:
            sample = (self.delivered - oldest.delivered) / flight
            weight = 1.0 if self.rate <= 0 else min(1.0, flight / RATE_S)
            self.rate += weight * (sample - self.rate)
        target = self.target()
        if target > self.window:
            self.window = min(target, self.window + len(chunks))
        else:
            self.window = target

    def target(self) -> int:
        """Whole chunks in ``rate × (min_rtt + queue_s)``, within the window's bounds."""
        if self.min_rtt is None or self.rate <= 0:
            return self.window
        fits = int(self.rate * (self.min_rtt + self.queue_s) // self.chunk_size)
        return max(self.min_window, min(self.max_window, fits))
