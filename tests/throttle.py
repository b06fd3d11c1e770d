"""A loopback TCP proxy that passes one direction at a limited rate: a slow uplink.

``ThrottledProxy(upstream_port, rate)`` listens on a free loopback port and pipes every
connection to ``127.0.0.1:upstream_port``: client → upstream at ``rate`` bytes/s (each
block is passed on once the link has had the time to send it, so bytes the client wrote
wait in the sockets' buffers as they would in a modem's), upstream → client at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

BLOCK = 4096  # bytes per step; 16 ms at 250 KB/s


class ThrottledProxy:
    def __init__(self, upstream_port: int, rate: float) -> None:
        self.upstream_port = upstream_port
        self.rate = rate
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # the accept loop sees ``close`` within this
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def __enter__(self) -> ThrottledProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst, rate in ((client, upstream, self.rate), (upstream, client, 0.0)):
                threading.Thread(target=_pipe, args=(src, dst, rate), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket, rate: float) -> None:
    """Copy ``src`` → ``dst`` until either end closes; ``rate`` bytes/s, 0 = at once."""
    free_at = time.monotonic()  # when the simulated link has sent what it was given
    try:
        while data := src.recv(BLOCK):
            if rate > 0:
                free_at = max(free_at, time.monotonic()) + len(data) / rate
                time.sleep(max(0.0, free_at - time.monotonic()))
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
