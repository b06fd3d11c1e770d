"""Transfer bookkeeping: window, acked ranges, only-missing resend, chunk reads, pacer."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.clock import clock_synced
from edge.pacing import Pacer
from edge.transfer import FIN_AGAIN_S, Transfer
from wire.errors import TransferError


def make(tmp_path: Path, size: int = 10_000, chunk: int = 1024, window: int = 3) -> Transfer:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * (size // 256) + bytes(size % 256))
    return Transfer(seq=1, file_id="F", path=path, size=size, chunk_size=chunk, window=window)


def test_nothing_is_sent_before_central_answers_init(tmp_path: Path) -> None:
    t = make(tmp_path)
    t.on_init_sent()
    assert t.next_chunks() == []
    t.on_ack([])
    assert t.next_chunks() == [(0, 1024), (1024, 2048), (2048, 3072)]


def test_window_limits_inflight_and_acks_free_it(tmp_path: Path) -> None:
    t = make(tmp_path)
    t.on_init_sent()
    t.on_ack([])
    for chunk in t.next_chunks():
        t.mark_sent(chunk)
    assert t.next_chunks() == []
    assert t.on_ack([(0, 1024)]) is True
    assert t.next_chunks() == [(3072, 4096)]


def test_resume_sends_only_missing_ranges(tmp_path: Path) -> None:
    t = make(tmp_path, window=64)
    t.on_init_sent()
    t.on_ack([(0, 4096), (6000, 8000)])
    chunks = t.next_chunks()
    assert chunks == [(4096, 5120), (5120, 6000), (8000, 9024), (9024, 10_000)]
    for chunk in chunks:
        t.mark_sent(chunk)
    t.reset()
    assert not t.init_sent and t.inflight == {}
    t.on_init_sent()
    t.on_ack([(0, 9024)])
    assert t.next_chunks() == [(9024, 10_000)]
    t.on_ack([(0, 10_000)])
    assert t.complete_on_our_side


def _send_all(t: Transfer) -> None:
    while chunks := t.next_chunks():
        for chunk in chunks:
            t.mark_sent(chunk)
        if len(t.inflight) >= t.window:
            break


def test_the_fin_follows_the_last_chunk_without_waiting_for_its_ack(tmp_path: Path) -> None:
    t = make(tmp_path, size=3000, window=8)
    t.on_init_sent()
    assert not t.fin_due()  # init not answered yet
    t.on_ack([])
    first = t.next_chunks()
    t.mark_sent(first[0])
    assert not t.fin_due()  # chunks still to send
    for chunk in first[1:]:
        t.mark_sent(chunk)
    assert t.fin_due()
    t.on_fin_sent()
    assert not t.fin_due()
    t.on_ack([(0, 3000)])  # central covered it; its complete answers the early fin
    assert t.complete_on_our_side and not t.fin_due()


def test_an_early_fin_is_sent_again_once_covered_if_no_complete_came(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("edge.transfer.time.monotonic", lambda: clock[0])
    t = make(tmp_path, size=3000, window=8)
    t.on_init_sent()
    t.on_ack([])
    _send_all(t)
    t.on_fin_sent()  # early: answered with ranges by a worker that lacked the last chunk
    t.on_ack([(0, 3000)])
    assert not t.fin_due()  # the complete may still be on its way
    clock[0] += FIN_AGAIN_S
    assert t.fin_due()
    t.on_fin_sent()
    clock[0] += 100
    assert not t.fin_due()  # the second fin saw the file covered: no third


def test_a_reset_forgets_the_fin(tmp_path: Path) -> None:
    t = make(tmp_path, size=3000, window=8)
    t.on_init_sent()
    t.on_ack([(0, 3000)])
    assert t.fin_due()  # covered already (resumed): fin at once
    t.on_fin_sent()
    t.reset()
    t.on_init_sent()
    t.on_ack([(0, 3000)])
    assert t.fin_due()


def test_read_returns_exact_bytes_and_detects_truncation(tmp_path: Path) -> None:
    t = make(tmp_path)
    assert t.read((1000, 1010)) == t.path.read_bytes()[1000:1010]
    t.path.write_bytes(b"short")
    with pytest.raises(TransferError, match="short read"):
        t.read((0, 1024))


def test_clock_synced_is_a_bool() -> None:
    assert isinstance(clock_synced(), bool)


def test_room_limits_the_chunks_below_the_window(tmp_path: Path) -> None:
    t = make(tmp_path, window=8)
    t.on_init_sent()
    t.on_ack([])
    assert t.next_chunks(room=2) == [(0, 1024), (1024, 2048)]
    assert t.next_chunks(room=0) == []


def test_a_shared_pacer_measures_the_acks_and_outlives_the_file(tmp_path: Path) -> None:
    clock = [1000.0]
    pacer = Pacer(1024, 8, clock=lambda: clock[0])
    t = make(tmp_path, window=8)
    t.pacer = pacer
    t.on_init_sent()
    t.on_ack([(0, 2048)])  # the init's answer: held from before, not delivered now
    assert pacer.delivered == 0 and pacer.window == 2
    for chunk in t.next_chunks(room=pacer.window):
        t.mark_sent(chunk)
    assert sorted(t.sent) == [2048, 3072]
    clock[0] += 0.001
    t.on_ack([(0, 3072)])
    assert pacer.delivered == 1024 and pacer.min_rtt == pytest.approx(0.001)
    assert pacer.window == 3 and sorted(t.sent) == [3072]  # fast: one more chunk
    t.reset()
    assert t.sent == {}
    (tmp_path / "next").mkdir()
    other = make(tmp_path / "next", window=8)
    other.pacer = pacer
    other.on_init_sent()
    other.on_ack([])
    assert len(other.next_chunks(room=pacer.window)) == 3  # starts where the last file left
