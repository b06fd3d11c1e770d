"""``backlog_drain_s`` and ``backlog_priority_inversions``: a mixed backlog, queued while the
broker was unreachable, drained by a ``SyncClient`` started afterwards.

Everything is queued in the edge ``Store`` before any ``SyncClient`` exists, in a seeded
shuffled order (so seq order is not priority order): events through
``edge.events.record_event`` (a quarter of urgent kinds, priority 0; the rest 10) and clips
written to disk and queued with ``Store.add_clip`` — clips of urgent events (``file_priority``
20), of other events (30), loading-session clips (20 + ``[sessions] priority`` = 40) and
on-demand windows (``PRIORITY_WINDOW`` = 120). Health is not queued (it has its own clock).

- ``backlog_drain_s``: from ``SyncClient.start()`` until the receiver has acked every event and
  every file. Baseline: a raw paho QoS 1 publish of the same payload bytes as the same number
  of messages (one per event, every clip in chunk-size messages) to the same receiver, same
  run, median of ``--repeat`` runs (all listed). It has no acks, inits, fins, store or disk
  reads: a transport floor, not an equal protocol, so the ratio says what the protocol and
  the edge cost on top of the wire.
- ``backlog_priority_inversions`` (goal 0). An item's class is its outbox priority (lower =
  higher class). An item *starts* when the receiver first sees it: its event message or its
  file init (the edge publishes both from its one drain thread, so arrival order is publish
  order). An inversion is the start of an item while an item of a strictly higher class —
  all were queued before the drain began — has not started yet; each such start counts once.
  Items of one class in flight together (``MAX_ACTIVE_FILES`` files, ``MAX_UNACKED_EVENTS``
  events) are not inversions, nor is a started item that is still being sent. Baseline: the
  inversions a FIFO (seq-order) drain of the same backlog would have.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter
from pathlib import Path

from bench.events import connect
from bench.recording import emit
from bench.syncrig import (
    WAIT_S,
    Receiver,
    chunks,
    edge_config,
    publisher,
    queue_clip,
    raw_seconds,
)
from edge.config import EdgeConfig
from edge.events import PRIORITY_FILE_OFFSET, PRIORITY_WINDOW, file_priority, record_event
from edge.store import Store
from edge.sync import SyncClient

URGENT_KINDS = ("metal_detector_reject", "seal_broken", "camera_fault")
OTHER_KINDS = ("metal_detector_pass", "seal_applied", "door_open", "mark")
# share of each clip class in the backlog
CLIP_MIX = (("urgent-clip", 0.25), ("event-clip", 0.40), ("session-clip", 0.30), ("window", 0.05))


def plan(events: int, clips: int, seed: int = 5) -> list[str]:
    """The order in which the backlog is queued: item classes, shuffled."""
    items = ["urgent"] * (events // 4) + ["event"] * (events - events // 4)
    counts = [round(clips * share) for _, share in CLIP_MIX]
    counts[1] += clips - sum(counts)
    for (name, _), count in zip(CLIP_MIX, counts, strict=True):
        items += [name] * count
    random.Random(seed).shuffle(items)
    return items


def queue_backlog(config: EdgeConfig, store: Store, order: list[str], body: bytes) -> None:
    """Queue ``order``: events via ``record_event``, clips as files of ``len(body)`` bytes."""
    rng = random.Random(7)
    clips_dir = config.data_dir / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    recorded: dict[str, list[str]] = {"urgent": [], "event": []}
    session_priority = PRIORITY_FILE_OFFSET + config.sessions.priority
    for n, item in enumerate(order):
        if item in recorded:
            kinds = URGENT_KINDS if item == "urgent" else OTHER_KINDS
            event_id = record_event(store, kinds[n % len(kinds)], camera="cam1", clip=False)
            recorded[item].append(event_id)
            continue
        file_id, path = f"F{n:05d}", clips_dir / f"F{n:05d}.mp4"
        data = n.to_bytes(8, "big") + body[8:]
        if item in ("urgent-clip", "event-clip"):
            of = recorded["urgent" if item == "urgent-clip" else "event"]
            kind = URGENT_KINDS[0] if item == "urgent-clip" else OTHER_KINDS[0]
            of_event = of.pop(rng.randrange(len(of))) if of else None  # one clip per event
            queue_clip(store, file_id, path, data, file_priority(kind), event_id=of_event)
        elif item == "session-clip":
            queue_clip(store, file_id, path, data, session_priority,
                       session_id=f"S{n:05d}", piece=0)  # fmt: skip
        else:
            queue_clip(store, file_id, path, data, PRIORITY_WINDOW, kind="window")


def inversions(starts: list[int], priority: dict[int, int]) -> tuple[int, Counter[str]]:
    """Starts (outbox seqs, in order) while a strictly higher class had not started."""
    waiting = Counter(priority.values())
    count, pairs = 0, Counter[str]()
    for seq in starts:
        mine = priority.get(seq)
        if mine is None:
            continue
        waiting[mine] -= 1
        higher = [p for p, n in waiting.items() if n > 0 and p < mine]
        if higher:
            count += 1
            pairs[f"{mine} before {min(higher)}"] += 1
    return count, pairs


def measure(workdir: Path, port: int, chunk: int, events: int, clips: int, clip_mb: float,
            repeat: int) -> None:  # fmt: skip
    """Queue the backlog, drain it once, time the raw baseline ``repeat`` times (median);
    emit ``backlog_drain_s`` and ``backlog_priority_inversions``."""
    workdir.mkdir(parents=True)
    config = edge_config(workdir, port, chunk, 0)
    body = os.urandom(int(clip_mb * 1_000_000))
    order = plan(events, clips)
    with Store(config.db_path) as store:
        queue_backlog(config, store, order, body)
        priority = {item.seq: item.priority for item in store.outbox_items()}
    with Receiver(connect(port, "bench-receiver-backlog")) as receiver:
        receiver.expect(events, clips)
        with Store(config.db_path) as store, SyncClient(config, store) as sync:
            start = time.monotonic()
            sync.start()
            if not receiver.all_acked.wait(WAIT_S):
                raise SystemExit(f"bench: backlog not drained in {WAIT_S:.0f} s "
                                 f"({len(receiver.events)} events, "
                                 f"{len(receiver.completed)} files acked)")  # fmt: skip
            drained = receiver.all_acked_at - start
        event_size = max(1, receiver.event_bytes // max(1, events))
        messages = [bytes(event_size)] * events + chunks(body, chunk) * clips
        with publisher(connect(port, "bench-raw-backlog")) as raw_client:
            raws = [raw_seconds(raw_client, receiver, messages) for _ in range(repeat)]
    total_mb = (len(body) * clips + receiver.event_bytes) / 1e6
    raw = statistics.median(raws)
    emit("backlog_drain_s", drained, "s", raw, events=events, clips=clips, clip_mb=clip_mb,
         total_mb=round(total_mb, 1), drain_mb_s=round(total_mb / drained, 1),
         baseline_mb_s=round(total_mb / raw, 1), baseline_runs=[round(r, 2) for r in raws],
         baseline_is="raw paho QoS 1, same bytes and messages", goal="none set")  # fmt: skip
    found, pairs = inversions(receiver.starts, priority)
    fifo, _ = inversions(sorted(priority), priority)
    emit("backlog_priority_inversions", found, "count", fifo, items=len(priority),
         by_pair=dict(pairs.most_common()), baseline_is="FIFO drain", goal="0")  # fmt: skip
