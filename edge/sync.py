"""Sync: the edge's MQTT client (paho-mqtt 2.x, MQTT v5, QoS 1).

Everything the drain thread publishes passes the ``[uplink]`` token bucket
(``edge.uplink``); replies sent from paho's network thread are charged but never wait.
Publishes a retained ``up/status`` online on connect (the will says offline), subscribes
to ``down/#`` and drains the outbox by (priority, seq): events as ``EventMessage``, files
by the init → chunks → fin protocol of ``wire.models``. An item is delivered only when
central's ``down/ack`` says so (event id listed, or ``FileAck`` with ``complete``); a
PUBACK never counts. After a reconnect, a restart or ``ack_timeout`` without progress the
file's init is re-sent and central's reply decides which ranges are still missing.
``up/health`` goes out every ``[health] publish_seconds`` (``edge.health.publisher``).
The drain thread beats a ``Heartbeat`` (``edge.liveness``) every loop, item and uplink wait.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.clock import clock_synced
from edge.commands import CommandHandler
from edge.config import EdgeConfig
from edge.filesync import FileSender
from edge.health.publisher import HealthPublisher
from edge.health.report import build_health_message
from edge.liveness import Heartbeat
from edge.store import OutboxItem, Store
from edge.timeutil import now
from edge.uplink import TokenBucket, parse_hhmm
from wire import codec, topics
from wire.closing import Closeable
from wire.errors import ReeferWatchError, StoreError, WireError
from wire.models import (
    AckMessage,
    CommandMessage,
    EventMessage,
    StatusMessage,
)
from wire.mqttsocket import set_no_delay

log = logging.getLogger(__name__)

VERSION = "0.1.0"
MAX_INFLIGHT = 20  # QoS 1 publishes awaiting PUBACK: the shipped broker's max_inflight_messages
MAX_ACTIVE_FILES = 2
MAX_UNACKED_EVENTS = 64
PENDING_REFRESH_S = 0.5  # longest the drain trusts its copy of the pending outbox
STALL_S = 120.0  # the drain wakes every 0.5 s; one item or uplink wait beats too


class SyncClient(Closeable):
    """Outbox → MQTT. ``start()`` connects in the background; ``close()`` is idempotent."""

    def __init__(self, config: EdgeConfig, store: Store, version: str = VERSION) -> None:
        self.config = config
        self.store = store
        self.version = version
        site, device = config.site.id, config.site.device
        self.site, self.device = site, device
        self.client_id = f"reeferwatch-edge-{site}-{device}"
        self.connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._event_sent: dict[str, float] = {}
        self._pending_items: list[OutboxItem] = []
        self._pending_at = 0.0
        self._pending_dirty = threading.Event()  # set: re-read the outbox before draining
        self._thread: threading.Thread | None = None
        self._unlisten: Callable[[], None] = lambda: None
        self._closed = False
        self.heartbeat = Heartbeat("sync-drain", STALL_S)
        self.commands = CommandHandler(config, store, live=self)  # config_refresh: uplink, health
        self.uplink = TokenBucket(
            config.uplink.kbps,
            [(parse_hhmm(w.start), parse_hhmm(w.end), w.kbps) for w in config.uplink.schedule],
        )
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
        )
        self.client.max_inflight_messages_set(MAX_INFLIGHT)
        self.client.reconnect_delay_set(1, 30)
        self.client.will_set(
            topics.up(site, device, "status"), self._status("offline"), qos=1, retain=True
        )
        if config.mqtt.tls:
            self.client.tls_set(
                ca_certs=config.mqtt.ca_file,
                certfile=config.mqtt.cert_file or None,
                keyfile=config.mqtt.key_file or None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self.files = FileSender(config, store, self._publish)
        self.health = HealthPublisher(
            self.client,
            topics.up(site, device, "health"),
            lambda: build_health_message(config, store),  # ``run`` sets a richer builder
            config.health.publish_seconds,
            charge=self.uplink.consume,
        )

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        mq = self.config.mqtt
        log.info(
            "sync: connecting to %s:%d as %s (tls=%s)", mq.host, mq.port, self.client_id, mq.tls
        )
        self.client.connect_async(mq.host, mq.port, keepalive=mq.keepalive)
        self.client.loop_start()
        self._unlisten = self.store.on_enqueue(self._outbox_changed)  # new items drain at once
        self._thread = threading.Thread(target=self._run, name="sync-drain", daemon=True)
        self.heartbeat.attach(self._thread)
        self._thread.start()

    def heartbeats(self) -> list[Heartbeat]:
        return [self.heartbeat]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._wake.set()
        self._unlisten()
        if self._thread is not None:
            self._thread.join(10)
        self.files.close()
        if self.connected.is_set():
            info = self.client.publish(
                topics.up(self.site, self.device, "status"),
                self._status("offline"),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError) as exc:
                log.debug("sync: offline status not confirmed: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks (network thread) ---------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("sync: broker refused the connection: %s", reason)
            return
        set_no_delay(client)
        client.subscribe(topics.down_filter(self.site, self.device), qos=1)
        client.publish(
            topics.up(self.site, self.device, "status"), self._status("online"), qos=1, retain=True
        )
        self.files.reset()
        self._pending_dirty.set()
        with self._lock:
            self._event_sent.clear()
        self.health.reset()
        self.connected.set()
        self._wake.set()
        log.info("sync: connected")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("sync: disconnected (%s); reconnecting with back-off", reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        mq = self.config.mqtt
        log.warning("sync: cannot reach broker %s:%d; retrying with back-off", mq.host, mq.port)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = topics.parse(msg.topic)
            if topic.direction != "down":
                return
            if topic.kind == "ack":
                self.handle_ack(codec.decode(AckMessage, msg.payload))
            elif topic.kind == "cmd":
                self._handle_command(codec.decode(CommandMessage, msg.payload))
        except WireError as exc:
            log.warning("sync: ignored a malformed message on %s: %s", msg.topic, exc)
        except StoreError as exc:
            log.error("sync: cannot apply %s: %s", msg.topic, exc)
        except Exception:
            # Named reason: this runs on paho's network thread, and an exception escaping it
            # ends that thread: the edge would never sync again. ``json.loads`` raises
            # RecursionError/ValueError, not a WireError, for e.g. ``[[[[…`` or a huge integer.
            log.exception("sync: dropped a message on %s that could not be handled", msg.topic)

    # -- acknowledgements ------------------------------------------------------------
    def _outbox_changed(self) -> None:
        self._pending_dirty.set()
        self._wake.set()

    def handle_ack(self, ack: AckMessage) -> None:
        """Apply central's ``down/ack``; acks for ids we do not know are ignored."""
        if ack.events or any(fa.complete or fa.error for fa in ack.files):
            self._pending_dirty.set()
        for event_id in ack.events:
            if self.store.mark_delivered("event", event_id):
                log.debug("sync: event %s delivered", event_id)
            with self._lock:
                self._event_sent.pop(event_id, None)
        for file_ack in ack.files:
            self.files.on_ack(file_ack)
        self._wake.set()

    def _handle_command(self, cmd: CommandMessage) -> None:
        result = self.commands.handle(cmd)  # edge.commands: once per id, expiry, sessions
        if result is None:
            return
        payload = codec.encode(result)
        self.uplink.consume(len(payload))  # network thread: charged, never waits
        self.client.publish(topics.up(self.site, self.device, "cmd-result"), payload, qos=1)

    # -- draining (worker thread) ----------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat.beat()
            self._wake.wait(0.5)
            self._wake.clear()
            if not self.connected.is_set():
                continue
            try:
                self.health.maybe_publish()
                self.drain_once()
            except (ReeferWatchError, OSError) as exc:
                log.error("sync: drain failed: %s", exc)
                self._stop.wait(1.0)

    def _pending(self) -> list[OutboxItem]:
        """The pending outbox, re-read when it may have changed (an enqueue, a delivery, a
        refusal, a reconnect) or after ``PENDING_REFRESH_S``. While a file streams, every
        chunk ack wakes the drain; querying SQLite each time halved the throughput."""
        stale = time.monotonic() - self._pending_at > PENDING_REFRESH_S
        if self._pending_dirty.is_set() or stale:
            self._pending_dirty.clear()
            self._pending_items = self.store.outbox_pending(limit=500)
            self._pending_at = time.monotonic()
        return self._pending_items

    def drain_once(self) -> None:
        """One pass over the pending outbox in (priority, seq) order."""
        timeout = self.config.mqtt.ack_timeout
        unacked = 0
        active = 0
        held_back = False  # an event waits for room: nothing after it may start before it
        for item in self._pending():
            if self._stop.is_set() or not self.connected.is_set():
                return
            self.heartbeat.beat()
            if item.item_kind == "event":
                sent = self._event_sent.get(item.item_id)
                if sent is not None and time.monotonic() - sent < timeout:
                    unacked += 1
                    continue
                if unacked >= MAX_UNACKED_EVENTS:
                    held_back = True
                    continue
                self._send_event(item)
                unacked += 1
            elif active < MAX_ACTIVE_FILES:
                if held_back and item.item_id not in self.files.transfers:
                    continue  # would start a lower-priority file before a waiting event
                active += 1
                self.files.drive(item)

    def _send_event(self, item: OutboxItem) -> None:
        event = self.store.event(item.item_id)
        if event is None:
            log.error("sync: outbox seq %d names unknown event %s", item.seq, item.item_id)
            self.store.note_attempt(item.seq, time.time() + 3600)
            return
        message = EventMessage(
            sent_at=now(),
            clock_synced=clock_synced(),
            seq=item.seq,
            id=event.id,
            kind=event.kind,  # type: ignore[arg-type]
            occurred_at=event.occurred_at,
            camera=event.camera,
            source=event.source,
            data=event.data,
        )
        self._publish(topics.up(self.site, self.device, "event"), codec.encode(message))
        with self._lock:
            self._event_sent[item.item_id] = time.monotonic()
        self.store.note_attempt(item.seq)

    def _publish(self, topic: str, payload: bytes) -> None:
        """Drain-thread publishes: wait (sleeping on ``_stop``) for the uplink's tokens."""
        if self.uplink.wait(len(payload), self._stop, on_wait=self.heartbeat.beat):
            self.client.publish(topic, payload, qos=1)

    @property
    def error_backoff(self) -> tuple[float, float]:
        return self.files.error_backoff

    @error_backoff.setter
    def error_backoff(self, value: tuple[float, float]) -> None:
        self.files.error_backoff = value

    def _status(self, state: str) -> bytes:
        message = StatusMessage(
            sent_at=now(),
            clock_synced=clock_synced(),
            state=state,  # type: ignore[arg-type]
            version=self.version,
        )
        return codec.encode(message)
