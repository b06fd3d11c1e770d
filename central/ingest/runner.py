"""The paho-mqtt client of ``reeferwatch-central ingest``.

The broker's PUBACK for a message is sent only after ``IngestService`` has committed it and
its ``down/ack`` has been published (``manual_ack``). A persistent session (clean_start off,
long session expiry) lets the broker queue messages while ingest is down. Messages are
handled in order on one worker thread so paho's network loop never waits on the database.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.ingest.service import IngestService
from central.settings import Settings
from wire import codec, topics
from wire.closing import Closeable
from wire.errors import StoreError, TransferError
from wire.mqttsocket import set_no_delay

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
MAX_INFLIGHT = 20
SHARE_GROUP = "ingest"

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
        while True:
            try:
                msg = self._queue.get(timeout=max(0.0, due - time.monotonic()))
            except queue.Empty:
                pass
            else:
                if msg is None or self._stop.is_set():
                    return  # unacked messages stay with the broker and come back next session
                self.process(msg)
            if time.monotonic() >= due:
                due = time.monotonic() + self.check_every_s
                self._check()

    def _check(self) -> None:
        """Liveness and sequence gaps (``IngestService.check``), on the worker thread."""
        try:
            self.service.check()
        except Exception:
            # Named reason: a failed liveness check must not stop the worker that stores
            # and acknowledges messages; it is logged with its traceback and retried.
            log.exception("periodic device check failed")

    def process(self, msg: mqtt.MQTTMessage) -> None:
        """Handle, publish acks, then PUBACK.

        A store failure (database or disk) is retried with back-off, in order, until it
        succeeds or ingest stops (then the broker redelivers next session): nothing can be
        stored meanwhile anyway. Any other failure is logged and the message acknowledged:
        left unacknowledged, 20 of them would fill the broker's in-flight window and stall
        ingest for every device, and the edge re-sends whatever central has not confirmed.
        """
        delay = RETRY_FIRST_S
        while True:
            try:
                outgoing = self.service.handle(msg.topic, bytes(msg.payload))
                break
            except StoreError as exc:
                log.error("cannot store %s (%s); retrying in %.1f s", msg.topic, exc, delay)
                if self._stop.wait(delay):
                    return
                delay = min(RETRY_CAP_S, delay * 2)
            except Exception:
                # Named reason: a bug in one handler must neither kill the worker nor, by
                # holding PUBACKs back, stall ingest; the edge re-sends what is unconfirmed.
                log.exception("handler failed on %s; acknowledged and dropped", msg.topic)
                outgoing = []
                break
        for topic, ack in outgoing:
            info = self.client.publish(topic, codec.encode(ack), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning("could not publish ack on %s (rc=%s)", topic, info.rc)
        if msg.qos > 0:
            self.client.ack(msg.mid, msg.qos)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
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
