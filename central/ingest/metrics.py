"""In-memory Prometheus-style counters of the ingest process."""

from __future__ import annotations

import threading
from collections import Counter


class IngestMetrics:
    """Thread-safe counters rendered in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: Counter[str] = Counter()  # by kind
        self.errors: Counter[str] = Counter()  # by reason
        self.bytes = 0

    def message(self, kind: str, size: int) -> None:
        with self._lock:
            self.messages[kind] += 1
            self.bytes += size

    def error(self, reason: str) -> None:
        with self._lock:
            self.errors[reason] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# TYPE reeferwatch_ingest_messages_total counter",
                *(
                    f'reeferwatch_ingest_messages_total{{kind="{k}"}} {v}'
                    for k, v in sorted(self.messages.items())
                ),
                "# TYPE reeferwatch_ingest_errors_total counter",
                *(
                    f'reeferwatch_ingest_errors_total{{reason="{k}"}} {v}'
                    for k, v in sorted(self.errors.items())
                ),
                "# TYPE reeferwatch_ingest_bytes_total counter",
                f"reeferwatch_ingest_bytes_total {self.bytes}",
            ]
        return "\n".join(lines) + "\n"
