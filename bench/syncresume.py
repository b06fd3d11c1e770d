"""``resume_resent_bytes_ratio``: bytes sent twice when the edge restarts in mid-file.

One large clip is queued; once the receiver holds half of it, the ``SyncClient`` and its
``Store`` are closed and a new ``Store`` + ``SyncClient`` are opened on the same data
directory. The receiver keeps what it holds (as central does) and answers the new init with
its ranges. Value: bytes the receiver got twice ÷ the window (``[mqtt] window`` ×
``chunk_size``), goal ≤ 1. Baseline, same run: what a sender that starts the file over would
re-send — the bytes held at the restart, in windows.
"""

from __future__ import annotations

from pathlib import Path

from bench.events import connect
from bench.recording import emit
from bench.syncrig import WAIT_S, Receiver, edge_config, queue_clip
from edge.store import Store
from edge.sync import SyncClient

FILE_ID = "Fresume"


def measure(workdir: Path, port: int, body: bytes, chunk: int) -> None:
    workdir.mkdir(parents=True)
    config = edge_config(workdir, port, chunk, 0)
    window = config.mqtt.window * config.mqtt.chunk_size
    with Store(config.db_path) as store:
        queue_clip(store, FILE_ID, workdir / "large.mp4", body)
    with Receiver(connect(port, "bench-receiver-resume")) as receiver:
        receiver.halfway = (FILE_ID, len(body) // 2)
        receiver.complete.clear()
        with Store(config.db_path) as store, SyncClient(config, store) as sync:
            sync.start()
            if not receiver.reached.wait(WAIT_S):
                raise SystemExit("bench: the large clip never got halfway")
        held_at_restart = sum(b - a for a, b in receiver.held[FILE_ID])
        dup_before = receiver.dup_bytes
        with Store(config.db_path) as store, SyncClient(config, store) as sync:
            sync.start()
            if not receiver.complete.wait(WAIT_S):
                raise SystemExit("bench: the large clip was not delivered after the restart")
        resent = receiver.dup_bytes - dup_before
    emit("resume_resent_bytes_ratio", resent / window, "windows", held_at_restart / window,
         resent_bytes=resent, window_bytes=window, held_at_restart=held_at_restart,
         resent_before_restart=dup_before, file_mb=len(body) / 1e6, goal="<= 1")  # fmt: skip
