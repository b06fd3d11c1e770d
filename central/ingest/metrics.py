"""In-memory Prometheus-style metrics of the ingest process: messages and bytes by kind,
errors by reason, transactions (batches) and the messages committed in them, the lag of
events (receipt − the edge's ``sent_at``, so it also shows an edge clock that is off) and
the depth of the worker's queue. ``central.ingest.metricsserver`` serves them over HTTP."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class IngestMetrics:
    """Thread-safe counters rendered in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: Counter[str] = Counter()  # by kind
        self.errors: Counter[str] = Counter()  # by reason
        self.bytes = 0
        self.batches = 0  # committed transactions
        self.batched_messages = 0  # messages committed in them
        self.lag_last_s: float | None = None
        self.lag_sum_s = 0.0
        self.lag_count = 0
        self.queue_depth: Callable[[], int] = lambda: 0  # the runner points it at its queue

    def message(self, kind: str, size: int) -> None:
        with self._lock:
            self.messages[kind] += 1
            self.bytes += size

    def batch(self, messages: int) -> None:
        with self._lock:
            self.batches += 1
            self.batched_messages += messages

    def lag(self, seconds: float) -> None:
        with self._lock:
            self.lag_last_s = seconds
            self.lag_sum_s += seconds
            self.lag_count += 1

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
                "# HELP reeferwatch_ingest_batches_total transactions committed",
                "# TYPE reeferwatch_ingest_batches_total counter",
                f"reeferwatch_ingest_batches_total {self.batches}",
                "# TYPE reeferwatch_ingest_batched_messages_total counter",
                f"reeferwatch_ingest_batched_messages_total {self.batched_messages}",
                "# HELP reeferwatch_ingest_event_lag_seconds receipt minus the edge's sent_at",
                "# TYPE reeferwatch_ingest_event_lag_seconds summary",
                f"reeferwatch_ingest_event_lag_seconds_sum {self.lag_sum_s:.6f}",
                f"reeferwatch_ingest_event_lag_seconds_count {self.lag_count}",
                "# TYPE reeferwatch_ingest_event_lag_last_seconds gauge",
                f"reeferwatch_ingest_event_lag_last_seconds {self.lag_last_s or 0.0:.6f}",
                "# TYPE reeferwatch_ingest_queue_depth gauge",
                f"reeferwatch_ingest_queue_depth {self.queue_depth()}",
            ]
        return "\n".join(lines) + "\n"
