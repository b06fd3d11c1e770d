"""AckHold: progress acks wait up to the hold and leave merged; endings leave at once;
PUBACK tokens keep their order behind held acks."""

from __future__ import annotations

from datetime import datetime, timezone

from central.ingest.ackhold import AckHold
from wire.models import AckMessage, FileAck

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress(file_id: str, end: int, topic: str = "down/a") -> tuple[str, AckMessage]:
    return topic, AckMessage(sent_at=T0, files=[FileAck(file_id=file_id, ranges=[(0, end)])])


def test_progress_acks_wait_for_the_hold_then_leave_as_one_ack_per_topic() -> None:
    clock = Clock()
    hold: AckHold[int] = AckHold(hold_s=0.002, clock=clock)
    hold.add([progress("F1", 10)], [1])
    clock.now += 0.001
    hold.add([progress("F1", 20), progress("F2", 5), progress("F1", 5, "down/b")], [2, 3])

    assert not hold.due()
    assert hold.deadline() == 100.002
    clock.now = 100.002
    assert hold.due()
    acks, tokens = hold.release()

    assert tokens == [1, 2, 3]
    by_topic = dict(acks)
    assert len(acks) == 2
    assert [(fa.file_id, fa.ranges) for fa in by_topic["down/a"].files] == [
        ("F1", [(0, 20)]),  # the last, cumulative ack of each file
        ("F2", [(0, 5)]),
    ]
    assert hold.deadline() is None and not hold.due()


def test_an_ending_ack_releases_everything_held_at_once() -> None:
    clock = Clock()
    hold: AckHold[int] = AckHold(hold_s=10.0, clock=clock)
    hold.add([progress("F1", 10)], [1])
    assert not hold.due()
    done = AckMessage(sent_at=T0, files=[FileAck(file_id="F1", complete=True)])
    hold.add([("down/a", done)], [2])

    assert hold.due()
    acks, tokens = hold.release()
    assert tokens == [1, 2]
    (only,) = acks
    assert only[1].files[0].complete  # the completion, not the older progress
    event = AckMessage(sent_at=T0, events=["E1"])
    hold.add([("down/a", event)], [3])
    assert hold.due()  # an event stored is heard at once
    refused = AckMessage(sent_at=T0, files=[FileAck(file_id="F2", error="hash")])
    hold.release()
    hold.add([("down/a", refused)], [4])
    assert hold.due()


def test_tokens_without_acks_wait_behind_held_acks_and_alone_leave_at_once() -> None:
    clock = Clock()
    hold: AckHold[int] = AckHold(hold_s=0.002, clock=clock)
    hold.add([], [1])
    assert hold.due()  # nothing held before it: its PUBACK need not wait
    assert hold.release() == ([], [1])

    hold.add([progress("F1", 10)], [2])
    hold.add([], [3])  # e.g. a health message: its PUBACK must follow message 2's
    assert not hold.due()
    clock.now += 0.002
    acks, tokens = hold.release()
    assert tokens == [2, 3] and len(acks) == 1


def test_acks_the_device_waits_for_leave_at_once() -> None:
    clock = Clock()
    hold: AckHold[int] = AckHold(hold_s=10.0, clock=clock)
    hold.add([progress("F1", 0)], [1], awaited=True)  # e.g. the answer to a file's init
    assert hold.due()
