"""The small interface every camera source implements, and the pieces sources share.

A ``Source`` is asked to ``prepare()`` before every (re)start of the camera's segmenter and
returns a ``SourceInput``: the segmenter's ffmpeg input arguments, optionally a ``Producer``
that writes the encoded stream into the segmenter's stdin, the strings to redact from
ffmpeg's messages, and facts worth showing (e.g. the camera clock's drift). ``describe()``
never contains credentials.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge import procs


class Producer(Protocol):
    """Something that writes an encoded stream into a pipe (the segmenter's stdin).

    ``start`` takes ownership of the ``stdout`` file descriptor (the pipe's write end).
    """

    def start(self, stdout: int, stderr: int) -> None: ...

    def running(self) -> bool: ...

    def exit_note(self) -> str: ...

    def pids(self) -> list[int]: ...

    def stop(self) -> None: ...


@dataclass
class SourceInput:
    args: list[str]
    producer: Producer | None = None
    secrets: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    kind: str

    def describe(self) -> str: ...

    def prepare(self) -> SourceInput: ...

    def reachable(self) -> bool | None: ...


class CommandProducer:
    """A child process (e.g. an ffmpeg encoder) whose stdout is the stream."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, stdout: int, stderr: int) -> None:
        try:
            self.process = procs.spawn(self.argv, stdout=stdout, stderr=stderr)
        finally:
            os.close(stdout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_note(self) -> str:
        proc = self.process
        return f"pid {proc.pid} rc {proc.returncode}" if proc is not None else "not started"

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None else []

    def stop(self) -> None:
        procs.stop(self.process)


def tcp_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
