"""State of one outgoing file transfer (the protocol is in ``wire.models``' docstring).

Pure bookkeeping, no I/O besides reading chunks: which byte ranges central holds (from
its ``FileAck``s), which chunks are in flight, what to send next within the window, and
when to give up waiting and re-announce the file. With a ``Pacer`` (``edge.pacing``) each
chunk is stamped when sent and the pacer is told what each ack delivered.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge.pacing import Pacer, Sent
from wire import ranges
from wire.errors import TransferError

Range = tuple[int, int]
FIN_AGAIN_S = 1.0  # an early fin not answered with complete: sent again after this


@dataclass
class Transfer:
    seq: int
    file_id: str
    path: Path
    size: int
    chunk_size: int
    window: int
    acked: list[Range] = field(default_factory=list)
    inflight: dict[int, int] = field(default_factory=dict)  # offset -> end
    pacer: Pacer | None = field(default=None, repr=False)  # the connection's, shared
    sent: dict[int, Sent] = field(default_factory=dict)  # offset -> stamp, with a pacer
    init_sent: bool = False
    init_acked: bool = False
    fin_sent: bool = False
    fin_after_cover: bool = False  # the fin went out when central's acks covered the file
    fin_sent_at: float = 0.0
    last_progress: float = field(default_factory=time.monotonic)
    saved_at: float = field(default_factory=time.monotonic)  # acked ranges last stored
    _fd: int | None = field(default=None, repr=False)

    def close(self) -> None:
        """Close the file if ``read`` opened it; idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def reset(self) -> None:
        """Forget what is in flight; the next step re-sends init (after reconnect/timeout)."""
        self.inflight.clear()
        self.sent.clear()
        self.init_sent = self.init_acked = self.fin_sent = self.fin_after_cover = False
        self.last_progress = time.monotonic()

    def on_init_sent(self) -> None:
        self.init_sent = True
        self.init_acked = False
        self.last_progress = time.monotonic()

    def on_ack(self, held: list[Range]) -> bool:
        """Central now holds ``held``; return True if that is progress."""
        merged = [(max(0, a), min(self.size, b)) for a, b in ranges.merge(held)]
        merged = [r for r in merged if r[1] > r[0]]
        answered = self.init_acked  # False: this answers the init, held from before
        progress = not answered or merged != self.acked
        newly = _total(merged) - _total(self.acked)
        self.acked = merged
        self.init_acked = True
        done: list[Sent] = []
        for offset, end in list(self.inflight.items()):
            if not ranges.missing(self._clip_to(offset, end), end - offset):
                del self.inflight[offset]
                stamp = self.sent.pop(offset, None)
                if stamp is not None:
                    done.append(stamp)
        if self.pacer is not None and answered:
            self.pacer.acked(newly, done)
        if progress:
            self.last_progress = time.monotonic()
        return progress

    def _clip_to(self, start: int, end: int) -> list[Range]:
        """Acked ranges inside ``[start, end)``, shifted to start at 0."""
        out: list[Range] = []
        for a, b in self.acked:
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                out.append((lo - start, hi - start))
        return out

    @property
    def complete_on_our_side(self) -> bool:
        return ranges.covered(self.acked, self.size)

    @property
    def all_sent(self) -> bool:
        """Every byte is acked or in flight: nothing is left to send but the fin."""
        return self.init_acked and ranges.covered([*self.acked, *self.inflight.items()], self.size)

    def fin_due(self) -> bool:
        """Send the fin now? Once everything is sent (early: on one broker connection it
        arrives after the chunks, so central can finish without our waiting for its acks),
        and once more if central's acks cover the file but no complete came within
        ``FIN_AGAIN_S`` of the early fin (another ingest worker stored the last chunks
        after this one answered the fin)."""
        if self.complete_on_our_side:
            if not self.fin_sent:
                return True
            return not self.fin_after_cover and time.monotonic() - self.fin_sent_at >= FIN_AGAIN_S
        return self.all_sent and not self.fin_sent

    def on_fin_sent(self) -> None:
        self.fin_sent = True
        self.fin_after_cover = self.complete_on_our_side
        self.fin_sent_at = time.monotonic()

    def next_chunks(self, room: int | None = None) -> list[Range]:
        """Chunks to send now: missing, not in flight, at most ``window`` in flight and at
        most ``room`` (what the connection's window has free) more."""
        if not self.init_acked:
            return []
        busy = [(o, e) for o, e in self.inflight.items()]
        todo = ranges.missing([*self.acked, *busy], self.size)
        chunks: list[Range] = []
        free = self.window - len(self.inflight)
        if room is not None:
            free = min(free, room)
        for start, end in todo:
            offset = start
            while offset < end and len(chunks) < free:
                stop = min(end, offset + self.chunk_size)
                chunks.append((offset, stop))
                offset = stop
            if len(chunks) >= free:
                break
        return chunks

    def mark_sent(self, chunk: Range) -> None:
        self.inflight[chunk[0]] = chunk[1]
        if self.pacer is not None:
            self.sent[chunk[0]] = self.pacer.sent()

    def stalled(self, timeout: float) -> bool:
        return time.monotonic() - self.last_progress > timeout

    def read(self, chunk: Range) -> bytes:
        """Read one chunk from disk (never the whole file); the file stays open until
        ``close()`` (opening it per chunk cost more than reading 256 KiB)."""
        start, end = chunk
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        data = os.pread(self._fd, end - start, start)
        if len(data) != end - start:
            raise TransferError(
                f"{self.path.name}: short read at {start} ({len(data)} of {end - start} bytes)"
            )
        return data


def _total(held: list[Range]) -> int:
    return sum(end - start for start, end in held)
