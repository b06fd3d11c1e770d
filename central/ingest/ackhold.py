"""Progress acks held for a moment, so a fast file transfer gets one ack per few chunks.

On a fast link a device's chunks arrive faster than one ack each can be published, carried
and applied: answering every batch cost the edge, the broker and ingest more than the chunks
themselves. ``AckHold`` keeps a worker's committed acks (and the messages whose PUBACK must
follow them) for at most ``ACK_HOLD_S`` and releases them merged (``merge_acks``): a
``FileAck`` is cumulative, so one ack per file says everything the held ones did. Only
batches of chunks are held: the answer to anything else (an event, a file's init or fin) is
awaited by the device, and acks that end something — an event stored, a file complete or
refused — are released at once, with everything held before them. Holding costs a transfer
nothing while the edge's window (``[mqtt] window`` × ``chunk_size``, 2 MiB by default) exceeds
what its link carries in ``ACK_HOLD_S`` plus a round trip: 2 MB at 1 GB/s, 2 kB at 1 MB/s.

PUBACKs leave in the order their messages arrived (MQTT 5 §4.6), so while anything is held
the PUBACKs of later messages wait with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from central.ingest.batch import Outgoing, merge_acks
from wire.models import AckMessage

ACK_HOLD_S = 0.002

Token = TypeVar("Token")


def ends_something(ack: AckMessage) -> bool:
    """An event stored, a file complete or refused: the device should hear it at once."""
    return bool(ack.events) or any(fa.complete or fa.error for fa in ack.files)


class AckHold(Generic[Token]):
    """Committed acks and the tokens (messages to PUBACK) that follow them, in order."""

    def __init__(
        self, hold_s: float = ACK_HOLD_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.hold_s = hold_s
        self.clock = clock
        self._acks: list[Outgoing] = []
        self._tokens: list[Token] = []
        self._since: float | None = None  # when the oldest held ack was added
        self._urgent = False

    def add(self, acks: Sequence[Outgoing], tokens: Sequence[Token], awaited: bool = False) -> None:
        """Hold a batch's acks and then its tokens; ``awaited``: the device waits for these
        acks (the batch held more than chunks), so they leave at once."""
        if acks and self._since is None:
            self._since = self.clock()
        self._acks += acks
        self._tokens += tokens
        self._urgent |= awaited or any(ends_something(ack) for _, ack in acks)

    def deadline(self) -> float | None:
        """Clock time by which ``release`` is due; None when nothing is held."""
        if not self._tokens and not self._acks:
            return None
        if self._urgent or self._since is None:
            return self.clock()  # tokens without acks never wait
        return self._since + self.hold_s

    def due(self) -> bool:
        deadline = self.deadline()
        return deadline is not None and self.clock() >= deadline

    def release(self) -> tuple[list[Outgoing], list[Token]]:
        """Everything held: the acks merged (one per ack topic), then the tokens in order."""
        acks, tokens = merge_acks(self._acks), self._tokens
        self._acks, self._tokens, self._since, self._urgent = [], [], None, False
        return acks, tokens
