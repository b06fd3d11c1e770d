"""The HTTP side of ``bench.central``: central's API under uvicorn in child processes, sign-in,
and a small keep-alive load generator.

``api_server`` runs ``python -m bench.centralhttp PORT WORKERS``: uvicorn with ``WORKERS``
processes serving the app ``reeferwatch-central serve`` builds (same ``REEFERWATCH_*``
settings; access log off), in its own process group, killed on exit. The listening socket is
made here with ``IPPROTO_TCP``: uvicorn's own ``--workers`` path binds it with protocol 0, so
asyncio leaves Nagle on for accepted connections and every keep-alive response written in two
parts waits ~40 ms for the client's delayed ACK (uvicorn issue #3149); ``--plain`` runs
stock ``uvicorn --workers`` to show that (uvicorn takes httptools and uvloop when they are
installed: ``uvicorn[standard]``). ``hammer`` keeps ``connections`` HTTP/1.1 keep-alive
connections busy from one asyncio loop (a raw client: ~30 µs of CPU per request, so it leaves
the cores to the server), counts responses per status and reads the server's CPU (supervisor
and workers, /proc) before and after, for its CPU per response.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from bench.procstat import CpuMeter
from bench.recording import free_port
from central.api import create_app
from central.settings import Settings

SECRET = "bench-central-secret-0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent
LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


def app() -> FastAPI:
    """uvicorn factory: the central API from ``REEFERWATCH_*`` settings."""
    return create_app(Settings())


def central_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """``REEFERWATCH_*`` settings of the bench's central processes (tokens last 4 h)."""
    return {
        **os.environ,
        "REEFERWATCH_DATABASE_URL": url,
        "REEFERWATCH_DATA_DIR": str(data_dir),
        "REEFERWATCH_SECRET_KEY": SECRET,
        "REEFERWATCH_ACCESS_TOKEN_MINUTES": "240",
        "PYTHONPATH": str(REPO),
        **extra,
    }


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the process group ``proc`` leads, SIGKILL it if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def serve(port: int, workers: int, plain: bool) -> None:
    """Run the API on 127.0.0.1:``port`` until SIGTERM (see the module docstring)."""
    config = uvicorn.Config(
        "bench.centralhttp:app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    if plain:
        uvicorn.run(
            "bench.centralhttp:app",
            factory=True,
            host="127.0.0.1",
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


@dataclass(frozen=True)
class ApiServer:
    """A running ``api_server``: its base URL and the process leading its process tree."""

    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU used so far by the server's processes (supervisor and workers)."""
        meter = CpuMeter(self.pid)
        meter.sample()
        return meter.total()


@contextlib.contextmanager
def api_server(url: str, data_dir: Path, workers: int, plain: bool = False) -> Iterator[ApiServer]:
    """Central's API on a free port."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.centralhttp", str(port), str(workers)]
    if plain:
        cmd.append("--plain")
    proc = subprocess.Popen(cmd, env=central_env(url, data_dir), cwd=REPO, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: the API server did not come up (exit {proc.poll()})")
            time.sleep(0.2)
        yield ApiServer(base, proc.pid)
    finally:
        stop_group(proc)


def sign_in(base: str, username: str, password: str) -> str:
    """A bearer token from ``POST /api/v1/auth/token``."""
    reply = httpx.post(
        f"{base}/api/v1/auth/token", timeout=30, data={"username": username, "password": password}
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


async def _connection(port: int, request: bytes, stop: float, counts: Counter[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            found = LENGTH.search(head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            counts[int(head[9:12])] += 1
    finally:
        writer.close()


async def _hammer(
    port: int,
    request: bytes,
    connections: int,
    seconds: float,
    warmup: float,
    cpu: Callable[[], float],
) -> tuple[Counter[int], float, float]:
    warm: Counter[int] = Counter()
    await asyncio.gather(
        *(_connection(port, request, time.monotonic() + warmup, warm) for _ in range(connections))
    )
    counts: Counter[int] = Counter()
    cpu0 = cpu()
    start = time.monotonic()
    await asyncio.gather(
        *(_connection(port, request, start + seconds, counts) for _ in range(connections))
    )
    elapsed = time.monotonic() - start
    return counts, elapsed, cpu() - cpu0


@dataclass(frozen=True)
class LoadRun:
    rate: float  # 200 responses per second
    counts: Counter[int]  # responses per status
    cpu_ms: float  # server CPU per response (supervisor + workers), ms


def hammer(
    server: ApiServer,
    path: str,
    token: str | None,
    connections: int,
    seconds: float,
    warmup: float = 1.0,
) -> LoadRun:
    """``GET path`` from ``connections`` keep-alive connections for ``seconds`` after
    ``warmup``: the rate of 200s, every status counted, and the server's CPU per response."""
    port = int(server.base.rsplit(":", 1)[1])
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()
    counts, elapsed, cpu_s = asyncio.run(
        _hammer(port, request, connections, seconds, warmup, server.cpu_seconds)
    )
    return LoadRun(counts[200] / elapsed, counts, cpu_s * 1000 / max(1, counts.total()))


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), "--plain" in sys.argv[3:])
