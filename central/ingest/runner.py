"""The paho-mqtt client of ``reeferwatch-central ingest``.

The broker's PUBACK for a message is sent only after ``IngestService`` has committed it and
its ``down/ack`` has been published (``manual_ack``). A persistent session (clean_start off,
long session expiry) lets the broker queue messages while ingest is down. Messages are
handled in order on one worker thread so paho's network loop never waits on the database;
what has queued up meanwhile is taken as one batch (at most ``BATCH_MAX_MESSAGES`` messages
or ``BATCH_MAX_BYTES``), committed in one transaction. The acks of batches of file chunks are
held up to ``ACK_HOLD_S`` and leave merged (``central.ingest.ackhold``). The broker sends at most
``RECEIVE_MAXIMUM`` unacknowledged messages (MQTT 5 Receive Maximum), which bounds memory
at about that many times the largest packet the broker accepts. The same thread publishes
the commands the API has queued (``central.commands``), once a second.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.ingest.ackhold import AckHold
from central.ingest.service import IngestService, Outgoing
from central.settings import Settings
from wire import codec, topics
from wire.closing import Closeable
from wire.errors import StoreError, TransferError
from wire.mqttsocket import set_no_delay

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
MAX_INFLIGHT = 20
RECEIVE_MAXIMUM = 200  # messages the broker may send before their PUBACK
BATCH_MAX_MESSAGES = 100  # half the window: the next batch arrives while one commits
BATCH_MAX_BYTES = 16 * 1024 * 1024
SHARE_GROUP = "ingest"

DISPATCH_EVERY_S = 1.0  # how often queued commands are looked for
RETRY_FIRST_S, RETRY_CAP_S = 0.5, 30.0  # back-off while the database or disk refuses


def subscription(shared: bool) -> str:
    base = topics.up_filter()
    return f"$share/{SHARE_GROUP}/{base}" if shared else base


class IngestRunner(Closeable):
    """Connects, subscribes, and feeds messages to an ``IngestService``."""

    def __init__(
        self, settings: Settings, service: IngestService, name: str = "1", shared: bool = False
    ) -> None:
        self.settings = settings
        self.service = service
        service.health_interval_s = settings.health_interval_s
        service.seq_gap_grace_s = settings.seq_gap_grace_s
        self.check_every_s = min(30.0, settings.health_interval_s)
        self.filter = subscription(shared)
        self.client_id = f"reeferwatch-ingest-{name}"
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        service.metrics.queue_depth = self._queue.qsize
        self._stop = threading.Event()
        self._held: AckHold[mqtt.MQTTMessage] = AckHold()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.max_inflight_messages_set(MAX_INFLIGHT)
        self.client.reconnect_delay_set(1, 30)
        if settings.mqtt_tls:
            self.client.tls_set(
                ca_certs=str(settings.mqtt_tls_ca) if settings.mqtt_tls_ca else None,
                certfile=str(settings.mqtt_tls_cert) if settings.mqtt_tls_cert else None,
                keyfile=str(settings.mqtt_tls_key) if settings.mqtt_tls_key else None,
            )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # -- paho callbacks (network thread) ----------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused connection: %s", reason)
            return
        log.info(
            "connected to %s:%d as %s",
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            self.client_id,
        )
        set_no_delay(client)  # acks go out at once, not after the peer's delayed ACK
        self.connected.set()
        client.subscribe(self.filter, options=SubscribeOptions(qos=1))

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("subscription to %s refused: %s", self.filter, reasons)
            return
        log.info("subscribed to %s", self.filter)
        self.subscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("disconnected from broker (%s); paho reconnects", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(msg)

    # -- worker -----------------------------------------------------------------------

    def _work(self) -> None:
        due = time.monotonic() + self.check_every_s
        dispatch_due = time.monotonic()
        while True:
            try:
                wait = min(due, dispatch_due, self._held.deadline() or due) - time.monotonic()
                msg = self._queue.get(timeout=max(0.0, wait))
            except queue.Empty:
                pass
            else:
                if msg is None or self._stop.is_set():
                    self._release_acks()  # committed; what was never handled stays unacked
                    return  # unacked messages stay with the broker and come back next session
                batch, stop = self._take_batch(msg)
                self.process_batch(batch)
                if stop:
                    self._release_acks()
                    return
            if self._held.due():
                self._release_acks()
            if time.monotonic() >= dispatch_due:
                dispatch_due = time.monotonic() + DISPATCH_EVERY_S
                self._dispatch_commands()
            if time.monotonic() >= due:
                due = time.monotonic() + self.check_every_s
                self._check()

    def _dispatch_commands(self) -> None:
        """Publish the commands due (``central.commands``) while connected."""
        if not self.subscribed.is_set():
            return
        try:
            due = self.service.due_commands()
        except Exception:
            # Named reason: a database hiccup must not stop the worker that stores and
            # acknowledges messages; the commands stay due and go out next round.
            log.exception("could not read the commands due")
            return
        for topic, command in due:
            info = self.client.publish(topic, codec.encode(command), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning("could not publish command %s (rc=%s)", command.id, info.rc)
            else:
                log.info("command %s (%s) published on %s", command.id, command.kind, topic)

    def _take_batch(self, first: mqtt.MQTTMessage) -> tuple[list[mqtt.MQTTMessage], bool]:
        """``first`` and whatever else is queued, within the batch limits; True when the
        stop sentinel was met."""
        batch, size = [first], len(first.payload)
        while len(batch) < BATCH_MAX_MESSAGES and size < BATCH_MAX_BYTES:
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                break
            if msg is None:
                return batch, True
            batch.append(msg)
            size += len(msg.payload)
        return batch, False

    def _check(self) -> None:
        """Liveness and sequence gaps (``IngestService.check``), on the worker thread."""
        try:
            self.service.check()
        except Exception:
            # Named reason: a failed liveness check must not stop the worker that stores
            # and acknowledges messages; it is logged with its traceback and retried.
            log.exception("periodic device check failed")

    def process_batch(self, batch: list[mqtt.MQTTMessage]) -> None:
        """Handle a batch in one transaction; its acks, then the PUBACK of every message,
        leave through the hold (``_release_acks``): at once if they end something, else within
        ``ACK_HOLD_S``.

        A store failure (database or disk) is retried with back-off, in order, until it
        succeeds or ingest stops (then the broker redelivers next session): nothing can be
        stored meanwhile anyway. Any other failure of a batch is retried one message at a
        time, so a handler bug costs only the message that triggers it: that one is logged
        and acknowledged; left unacknowledged, such messages would fill the broker's window
        and stall ingest for every device, and the edge re-sends what central has not
        confirmed.
        """
        pairs = [(msg.topic, bytes(msg.payload)) for msg in batch]
        try:
            outgoing = self._with_retry(lambda: self.service.handle_batch(pairs), len(batch))
        except Exception:
            # Named reason: see the docstring; the batch is redone message by message.
            log.exception("batch of %d failed; handling its messages one by one", len(batch))
            outgoing = []
            for topic, payload in pairs:
                try:
                    handle_one = functools.partial(self.service.handle, topic, payload)
                    one = self._with_retry(handle_one, 1)
                    if one is None:
                        return  # stopping while the store refused: the broker redelivers
                    outgoing += one
                except Exception:
                    # Named reason: a bug in one handler must neither kill the worker nor,
                    # by holding PUBACKs back, stall ingest.
                    log.exception("handler failed on %s; acknowledged and dropped", topic)
        if outgoing is None:
            return  # stopping while the store refused: the broker redelivers
        awaited = not all(topics.is_file_chunk(msg.topic) for msg in batch)
        self._held.add(outgoing, batch, awaited)
        if self._held.due():
            self._release_acks()

    def _release_acks(self) -> None:
        """Publish the held acks (merged), then PUBACK their messages in arrival order."""
        acks, messages = self._held.release()
        for topic, ack in acks:
            info = self.client.publish(topic, codec.encode(ack), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning("could not publish ack on %s (rc=%s)", topic, info.rc)
        for msg in messages:
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)

    def _with_retry(self, call: Callable[[], list[Outgoing]], count: int) -> list[Outgoing] | None:
        """``call()``, retried with back-off while the store refuses; None if stopping."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return call()
            except StoreError as exc:
                log.error("cannot store %d message(s) (%s); retrying in %.1f s", count, exc, delay)
                if self._stop.wait(delay):
                    return None
                delay = min(RETRY_CAP_S, delay * 2)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._worker = threading.Thread(target=self._work, name="ingest-worker", daemon=True)
        self._worker.start()
        try:
            self.client.connect(
                self.settings.mqtt_host,
                self.settings.mqtt_port,
                keepalive=30,
                clean_start=False,
                properties=props,
            )
        except OSError as exc:
            self.close()
            raise TransferError(
                f"cannot reach broker {self.settings.mqtt_host}:{self.settings.mqtt_port}: {exc}"
            ) from exc
        self.client.loop_start()

    def wait_stopped(self) -> None:
        """Block until ``close()`` or ``request_stop()`` is called (e.g. by a signal)."""
        self._stop.wait()

    def request_stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()
        log.info("ingest stopped: %s", self.service.metrics.render().replace("\n", "; "))
