"""Child processes that die with their parent and are stopped in reverse start order."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from wire.closing import Closeable

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child when its parent exits (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Children(Closeable):
    """A set of named child processes, each logging to its own file under ``log_dir``."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._one_shots: set[str] = set()
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        one_shot: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start a child; a ``one_shot`` child is expected to exit on its own."""
        log_path = self._log_dir / f"{name}.log"
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                preexec_fn=_die_with_parent,
            )
        self._procs.append((name, proc))
        if one_shot:
            self._one_shots.add(name)
        log.debug("started %s (pid %d), log %s", name, proc.pid, log_path)
        return proc

    def exited(self) -> list[tuple[str, int]]:
        """Names and exit codes of long-running children that have stopped on their own,
        and of one-shot children that failed."""
        return [
            (name, code)
            for name, p in self._procs
            if (code := p.poll()) is not None and (code != 0 or name not in self._one_shots)
        ]

    def close(self, timeout: float = 10.0) -> None:
        """SIGTERM every child (last started first), SIGKILL any that outstay ``timeout``."""
        while self._procs:
            name, proc = self._procs.pop()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", name, timeout)
                    proc.kill()
                    proc.wait()
