"""``TCP_NODELAY`` on a paho client's socket, for both ends of the wire.

With PUBACKs and acks in flight both ways, Nagle's algorithm held a small message (an
``up/event``, a ``down/ack``) back until the peer's delayed ACK (~40 ms): it cost the event
latency (bench.events) and, per file, the init and fin round trips (bench.sync). paho does not
set it; the broker needs ``set_tcp_nodelay true`` for its side.
"""

from __future__ import annotations

import logging
import socket

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


def set_no_delay(client: mqtt.Client) -> None:
    """Call from ``on_connect``; a websocket transport is left alone."""
    sock = client.socket()
    if not isinstance(sock, socket.socket):  # also ssl.SSLSocket
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        log.debug("cannot set TCP_NODELAY: %s", exc)
