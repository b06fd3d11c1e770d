"""Sync benchmark: clips and events through the edge's ``SyncClient`` vs raw paho, same run.

Against Mosquitto brokers this bench starts on free loopback ports (``bench.events.broker``;
the shipped TLS config for the TLS figure), with a receiver that acks like central
(``bench.syncrig.Receiver``). Prints JSON lines (DESIGN §7):

- ``sync_throughput_mb_s``: one clip init → chunks → fin → complete ack through
  ``SyncClient`` (baseline: a raw paho QoS 1 publish of the same bytes in the same chunk
  size to the same receiver, timed until the last byte arrived, same run);
- ``sync_throughput_ratio``: the two above divided (goal ≥ 0.9). The receiver runs in a
  process of its own (``bench.syncremote``), as central's ingest does; the same pairs with the
  receiver inside the bench's process are printed as ``sync_throughput_ratio_one_process``;
- ``cap_error_pct``: achieved chunk rate at the receiver vs a 20 Mbit/s ``[uplink]`` cap
  (goal |x| ≤ 5);
- ``sync_tls_mb_s`` / ``sync_tls_ratio``: the same clip over TLS with client certificates
  and the shipped ACL, vs raw paho over the same TLS broker (``bench.synctls``);
- ``backlog_drain_s`` and ``backlog_priority_inversions`` (goal 0): a mixed-priority backlog
  of events and clips queued while no broker was reachable (``bench.syncbacklog``, which
  defines an inversion);
- ``resume_resent_bytes_ratio`` (goal ≤ 1 window): bytes sent twice after an edge restart
  in mid-file (``bench.syncresume``).

MB/s figures are medians of ``--repeat`` (5) alternating raw/sync pairs. glibc malloc's
thresholds are fixed at start (``bench.syncrig.steady_allocator``; ``--malloc-default`` leaves
them dynamic), since they moved the raw baseline by a factor of 2.5.

``python -m bench.sync [--quick] [--mb N] [--chunk BYTES] [--events N] [--clips N]
[--clip-mb N] [--repeat N] [--malloc-default] [--only throughput,tls,backlog,resume]``. The
default (64 MB clip; 1,000 events + 200 clips of 5 MB) takes about 35 s on the 2-core
development machine; ``--quick`` (16 MB, 200 events, 40 clips) about 12 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench import syncbacklog, syncresume, synctls
from bench.events import broker, connect
from bench.recording import emit
from bench.syncremote import RemoteReceiver, raw_seconds_remote
from bench.syncrig import (
    Receiver,
    SyncedEdge,
    chunks,
    edge_config,
    paired,
    publisher,
    raw_seconds,
    steady_allocator,
    sync_seconds,
)

CAP_KBPS = 20_000
PARTS = ("throughput", "tls", "backlog", "resume")


def throughput(workdir: Path, port: int, body: bytes, chunk: int, repeat: int) -> None:
    """``sync_throughput_*`` (the receiver in its own process, as central is) and
    ``cap_error_pct`` on the plain loopback broker."""
    with (
        RemoteReceiver(port) as remote,
        publisher(connect(port, "bench-raw")) as raw_client,
        SyncedEdge(edge_config(workdir / "a", port, chunk, 0)) as edge,
    ):
        raw, synced, ratios = paired(
            lambda: raw_seconds_remote(raw_client, remote, chunks(body, chunk)),
            lambda i: sync_seconds(edge, remote, body, f"a{i}"),
            repeat,
        )
    raw_mb_s, sync_mb_s = len(body) / raw / 1e6, len(body) / synced / 1e6
    emit("sync_throughput_mb_s", sync_mb_s, "MB/s", raw_mb_s, chunk=chunk, repeat=repeat,
         receiver="own process")  # fmt: skip
    emit("sync_throughput_ratio", sync_mb_s / raw_mb_s, "ratio", 1.0, pairs=ratios,
         goal=">= 0.9")  # fmt: skip
    with (
        Receiver(connect(port, "bench-receiver")) as receiver,
        publisher(connect(port, "bench-raw")) as raw_client,
    ):
        # one edge at a time: they share a client id, and the broker drops the older session
        with SyncedEdge(edge_config(workdir / "p", port, chunk, 0)) as edge:
            raw, synced, ratios = paired(
                lambda: raw_seconds(raw_client, receiver, chunks(body, chunk)),
                lambda i: sync_seconds(edge, receiver, body, f"p{i}"),
                repeat,
            )
        emit("sync_throughput_ratio_one_process", raw / synced, "ratio", 1.0, pairs=ratios,
             note="edge and receiver share one interpreter")  # fmt: skip
        with SyncedEdge(edge_config(workdir / "b", port, chunk, CAP_KBPS)) as capped:
            sync_seconds(capped, receiver, body[:10_000_000], "b")  # 4 s at 20 Mbit/s
        arrivals = receiver.arrivals
    rate = sum(n for _, n in arrivals[1:]) / (arrivals[-1][0] - arrivals[0][0])
    target = CAP_KBPS * 1000 / 8
    emit("cap_error_pct", 100 * (rate - target) / target, "%", 0.0,
         cap_mbit_s=CAP_KBPS / 1000, measured_mbit_s=round(rate * 8 / 1e6, 3),
         goal="|x| <= 5")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 MB, 200 events, 40 clips")
    parser.add_argument("--mb", type=float, help="clip size of throughput/TLS/resume (MB; 64)")
    parser.add_argument("--chunk", type=int, default=262144, help="chunk size (bytes)")
    parser.add_argument("--events", type=int, help="backlog events (1000)")
    parser.add_argument("--clips", type=int, help="backlog clips (200)")
    parser.add_argument("--clip-mb", type=float, default=5.0, help="backlog clip size (MB)")
    parser.add_argument(
        "--repeat", type=int, default=5, help="raw/sync pairs per MB/s figure; raw backlog runs"
    )
    parser.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument(
        "--malloc-default", action="store_true", help="leave glibc's dynamic malloc thresholds"
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"--only: unknown {', '.join(sorted(parts - set(PARTS)))}")
    mb = args.mb or (16 if args.quick else 64)
    events = args.events if args.events is not None else (200 if args.quick else 1000)
    clips = args.clips if args.clips is not None else (40 if args.quick else 200)
    if not args.malloc_default and not steady_allocator():
        print("bench: not glibc; malloc thresholds left as they are", file=sys.stderr)
    body = os.urandom(int(mb * 1_000_000))
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as name:
        tmp = Path(name)
        with broker(tmp) as port:
            if "throughput" in parts:
                throughput(tmp / "throughput", port, body, args.chunk, args.repeat)
            if "backlog" in parts:
                syncbacklog.measure(
                    tmp / "backlog", port, args.chunk, events, clips, args.clip_mb, args.repeat
                )
            if "resume" in parts:
                syncresume.measure(tmp / "resume", port, body, args.chunk)
        if "tls" in parts:
            synctls.measure(tmp / "tls", body, args.chunk, args.repeat)


if __name__ == "__main__":
    main()
