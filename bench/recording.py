"""Recording benchmark: 4 cameras, 1080p25 H.264 at 4 Mbit/s from local RTSP sources.

Baseline, in the same run and on the same streams: a bare ``ffmpeg -c copy -f segment`` per
camera plus SHA-256 of the bytes it wrote. Then ``reeferwatch-edge run`` records the same
streams for the same time. Prints JSON lines (DESIGN §7):

- ``edge_cpu_per_camera``: the edge process's own CPU, cores per camera (baseline: bare
  ffmpeg + hashing CPU per camera);
- ``recording_cpu_ratio``: edge + its ffmpeg children ÷ baseline;
- ``edge_rss_mb``: the edge's peak RSS (baseline: an idle interpreter that imported the edge);
- ``segments_lost``: quarantined segments + holes in the index (baseline: holes in the bare
  ffmpeg's output, measured the same way).

``python -m bench.recording [--quick] [--seconds N] [--cameras N]``
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from bench.procstat import CpuMeter, own_cpu_seconds, peak_rss_mb
from bench.rtsp_source import RtspSource

SEGMENT_SECONDS = 10
FPS = 25


def emit(metric: str, value: float, unit: str, baseline: float, **extra: object) -> None:
    ratio = round(value / baseline, 3) if baseline else None
    line = {"metric": metric, "value": round(value, 4), "unit": unit,
            "baseline": round(baseline, 4), "ratio": ratio, **extra}  # fmt: skip
    print(json.dumps(line), flush=True)


def encode_source(workdir: Path) -> Path:
    """10 s of 1080p25 H.264 at 4 Mbit/s, keyframe every second, encoded once up front."""
    out = workdir / "source.h264"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi",
         "-i", f"testsrc2=size=1920x1080:rate={FPS}", "-t", "10", "-c:v", "libx264",
         "-preset", "veryfast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M",
         "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0", "-f", "h264", str(out)],
        check=True,
    )  # fmt: skip
    return out


def holes(spans: list[tuple[float, float]]) -> int:
    """Segments missing between consecutive (start, end) spans of one camera."""
    missing = 0
    for (_, prev_end), (start, _) in itertools.pairwise(spans):
        if start - prev_end >= SEGMENT_SECONDS / 2:
            missing += round((start - prev_end) / SEGMENT_SECONDS)
    return missing


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return float(out.stdout.strip())
    except ValueError:
        return 0.0


def run_baseline(urls: list[str], seconds: float, workdir: Path) -> dict[str, float]:
    procs = []
    for n, url in enumerate(urls):
        out = workdir / f"base{n}"
        out.mkdir()
        procs.append(subprocess.Popen(
            ["ffmpeg", "-loglevel", "error", "-nostdin", "-rtsp_transport", "tcp", "-i", url,
             "-map", "0:v", "-c", "copy", "-f", "segment", "-segment_time", str(SEGMENT_SECONDS),
             "-segment_atclocktime", "1", "-reset_timestamps", "1", "-strftime", "1",
             "-segment_format", "mp4", str(out / "%Y%m%dT%H%M%S.mp4")],
        ))  # fmt: skip
    time.sleep(seconds)
    cpu = sum(own_cpu_seconds(p.pid) for p in procs)
    for p in procs:
        p.send_signal(signal.SIGINT)
        p.wait(20)
    hash_started = time.process_time()
    lost = 0
    for n in range(len(urls)):
        spans = []
        for path in sorted((workdir / f"base{n}").glob("*.mp4")):
            hashlib.sha256(path.read_bytes()).hexdigest()
            start = datetime.strptime(path.stem, "%Y%m%dT%H%M%S").timestamp()
            spans.append((start, start + probe_duration(path)))
        lost += holes(spans[:-1])  # the last one was cut short by the stop
    hashing = time.process_time() - hash_started
    return {"cpu": cpu + hashing, "lost": lost}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def edge_config(workdir: Path, urls: list[str], mqtt_port: int) -> Path:
    cameras = "".join(
        f'\n[[cameras]]\nid = "cam{n}"\nsource = "rtsp"\nurl = "{url}"\n'
        for n, url in enumerate(urls)
    )
    path = workdir / "edge.toml"
    path.write_text(
        f'[site]\nid = "bench"\ndevice = "edge01"\nlocation_code = "BENCH-01"\n'
        f'[storage]\ndata_dir = "data"\n[mqtt]\nport = {mqtt_port}\n'
        f"[recording]\nsegment_seconds = {SEGMENT_SECONDS}\n{cameras}"
    )
    return path


def idle_edge_rss() -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import edge.app, sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    time.sleep(3)
    rss = peak_rss_mb(proc.pid)
    proc.communicate(b"")
    return rss


def run_edge(urls: list[str], seconds: float, workdir: Path) -> dict[str, float]:
    with broker(workdir) as mqtt_port:
        config = edge_config(workdir, urls, mqtt_port)
        edge = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("reeferwatch-edge")),
                "run",
                "--config",
                str(config),
            ],
            stderr=open(workdir / "edge.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        meter = CpuMeter(edge.pid)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1)
            meter.sample()
        own = own_cpu_seconds(edge.pid)
        rss = peak_rss_mb(edge.pid)
        edge.send_signal(signal.SIGTERM)
        edge.wait(30)
    with sqlite3.connect(workdir / "data" / "edge.db") as db:
        rows = db.execute(
            "select camera, start, end from segments order by camera, start"
        ).fetchall()
    lost = len(list((workdir / "data" / "quarantine").glob("*")))
    for camera in {r[0] for r in rows}:
        spans = [(datetime.fromisoformat(s).timestamp(), datetime.fromisoformat(e).timestamp())
                 for c, s, e in rows if c == camera]  # fmt: skip
        lost += holes(spans)
    return {"own": own, "total": meter.total(), "rss": rss, "lost": lost, "segments": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 s per phase")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--cameras", type=int, default=4)
    args = parser.parse_args()
    seconds = args.seconds or (30.0 if args.quick else 60.0)
    with tempfile.TemporaryDirectory(prefix="rw-bench-rec-") as tmp:
        workdir = Path(tmp)
        source = encode_source(workdir)
        with RtspSource(source, FPS) as rtsp:
            urls = [rtsp.url(f"cam{n}") for n in range(args.cameras)]
            (workdir / "base").mkdir()
            base = run_baseline(urls, seconds, workdir / "base")
            (workdir / "edge").mkdir()
            edge = run_edge(urls, seconds, workdir / "edge")
        idle_rss = idle_edge_rss()
    cams = args.cameras
    common = {"cameras": cams, "seconds": seconds, "stream": "1080p25 h264 4Mbit/s"}
    emit("edge_cpu_per_camera", edge["own"] / seconds / cams, "cores", base["cpu"] / seconds / cams,
         **common)  # fmt: skip
    cpu_seconds = {"edge_cpu_s": round(edge["total"], 2), "baseline_cpu_s": round(base["cpu"], 2)}
    emit("recording_cpu_ratio", edge["total"] / base["cpu"], "ratio", 1.0, **cpu_seconds, **common)
    emit("edge_rss_mb", edge["rss"], "MiB", idle_rss, **common)
    emit(
        "segments_lost", edge["lost"], "segments", base["lost"], indexed=edge["segments"], **common
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
