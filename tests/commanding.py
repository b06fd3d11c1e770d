"""A stand-in for central's command side on a real broker: publishes ``down/cmd`` to one
device and collects what it sends back (``up/cmd-result``, ``up/event``, file inits)."""

from __future__ import annotations

import threading
from datetime import timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.timeutil import now
from tests.helpers import Broker, wait_for
from wire import codec, topics
from wire.models import CommandMessage, CommandResult, EventMessage, FileInit, ScalarValue


class CommandCentral:
    """Subscribes to ``site/device``'s ``up/#``; ``send`` a command, ``answer`` waits for it."""

    def __init__(self, broker: Broker, site: str, device: str) -> None:
        self.site, self.device = site, device
        self.results: list[CommandResult] = []
        self.events: list[EventMessage] = []
        self.inits: list[FileInit] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-test",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.on_connect = lambda c, *a: c.subscribe(topics.up_filter(site, device), qos=1)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(self.ready.is_set, 10, "central to subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        kind = topics.parse(msg.topic).kind
        if kind == "cmd-result":
            self.results.append(codec.decode(CommandResult, msg.payload))
        elif kind == "event":
            self.events.append(codec.decode(EventMessage, msg.payload))
        elif kind == "file-init":
            self.inits.append(codec.decode(FileInit, msg.payload))

    def send(self, cid: str, kind: str, expires_in: float = 60, **args: ScalarValue) -> None:
        t = now()
        cmd = CommandMessage(id=cid, kind=kind, issued_at=t,  # type: ignore[arg-type]
                             expires_at=t + timedelta(seconds=expires_in), args=args)  # fmt: skip
        topic = topics.down(self.site, self.device, "cmd")
        self.client.publish(topic, codec.encode(cmd), qos=1)

    def answer(self, cid: str, timeout: float = 30) -> CommandResult:
        result = wait_for(lambda: next((r for r in self.results if r.id == cid), None), timeout,
                          f"the answer to {cid}")  # fmt: skip
        assert result is not None
        return result

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
