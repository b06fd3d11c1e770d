"""ffmpeg's messages → ``ffmpeg.log`` and our log, with every camera secret redacted.

``StderrPump.fd`` is the write end of a pipe given to the children as their stderr; a
thread reads the other end line by line until every writer has closed it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from edge.sources.secrets import redact

log = logging.getLogger("edge.ffmpeg")


class StderrPump:
    """Idempotent ``close()`` (of our copy of the write end); the thread ends at EOF."""

    def __init__(self, log_path: Path, camera: str, secrets: tuple[str, ...]) -> None:
        self.log_path = log_path
        self.camera = camera
        self.secrets = secrets
        read_fd, self.fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb")
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"ffmpeg-log-{camera}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._reader, self.log_path.open("ab") as out:
            for raw in self._reader:
                line = redact(raw.decode(errors="replace").rstrip(), self.secrets)
                if not line:
                    continue
                out.write(line.encode() + b"\n")
                out.flush()
                log.warning("camera %s: ffmpeg: %s", self.camera, line)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def join(self, timeout: float = 5.0) -> None:
        self.close()
        self._thread.join(timeout)
