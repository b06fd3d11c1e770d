"""Serve an ingest worker's metrics in Prometheus text format on ``GET /metrics``.

A small HTTP server on its own thread (``reeferwatch-central ingest --metrics-port N``), bound
to 127.0.0.1 unless told otherwise: the numbers are operational, not confidential, but nothing
else is served. Anything but ``GET /metrics`` is a 404.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from central.ingest.metrics import IngestMetrics
from wire.closing import Closeable

log = logging.getLogger(__name__)


class MetricsServer(Closeable):
    """``start()`` serves until ``close()`` (idempotent); ``port`` is the bound port."""

    def __init__(self, metrics: IngestMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        source = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = source.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ingest-metrics", daemon=True
        )
        self._thread.start()
        log.info("ingest metrics on http://%s:%d/metrics", *self._server.server_address[:2])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
