"""The shipped Mosquitto TLS listener and ACL, with certificates from ``central.ca``.

A device with its own valid certificate cannot write as another device nor read another
device's commands; a client without a certificate, or with one from another CA (even one that
claims to be ``reeferwatch-central``), does not get an MQTT session at all.

"Never arrives" is shown with a control message: the forbidden message goes first, a permitted
one follows on the same connection, and once the control has arrived the forbidden one, which
the broker would have routed first, is known not to be coming.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from central.ca import CENTRAL_CN
from tests.helpers import Broker, mosquitto_binary, wait_for
from tests.tls import BROKER_HOST, Pki, make_pki, raw_connect, tls_broker, tls_context

pytestmark = pytest.mark.slow

CONNACK_OK = b"\x20\x02\x00\x00"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls(tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    if not mosquitto_binary():
        pytest.skip("mosquitto is not installed (the README's test command installs it)")
    with tls_broker(tmp_path / "broker", pki) as broker:
        yield broker


class Recorder:
    """A paho v5 client as ``name`` that (re)subscribes on every connect and records."""

    def __init__(self, pki: Pki, name: str, port: int, filters: list[str]) -> None:
        self.filters = filters
        self.messages: list[tuple[str, bytes]] = []
        self.suback: dict[str, bool] = {}
        self._pending: dict[int, str] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{name}", protocol=mqtt.MQTTv5
        )
        self.client.tls_set_context(tls_context(pki, name))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(BROKER_HOST, port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        for topic in self.filters:
            _rc, mid = client.subscribe(topic, qos=1)
            with self._lock:
                self._pending[mid] = topic

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, mid: int, reasons: list[ReasonCode], _p: object
    ) -> None:
        with self._lock:
            self.suback[self._pending.pop(mid)] = not reasons[0].is_failure

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def subscribed(self) -> bool:
        return len(self.suback) == len(self.filters)

    def got(self, payload: bytes) -> list[str]:
        with self._lock:
            return [topic for topic, body in self.messages if body == payload]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def recorders() -> Iterator[list[Recorder]]:
    made: list[Recorder] = []
    yield made
    for recorder in made:
        recorder.close()


def test_a_device_cannot_publish_as_another_device(
    tls: Broker, pki: Pki, recorders: list[Recorder]
) -> None:
    central = Recorder(pki, CENTRAL_CN, tls.port, ["rw/v1/+/+/up/#"])
    recorders.append(central)
    edge02 = Recorder(pki, "edge02", tls.port, [])
    recorders.append(edge02)
    wait_for(lambda: central.subscribed() and edge02.client.is_connected(), 10, "TLS sessions")

    forbidden = [
        ("rw/v1/site01/edge01/up/event", 1),  # another device, same site
        ("rw/v1/site/other/up/event", 1),  # another device, another site
        ("rw/v1/site01/edge01/up/status", 0),
        ("rw/v1/site01/edge01/down/cmd", 1),  # writing commands at all
    ]
    for topic, qos in forbidden:
        edge02.client.publish(topic, b"forged", qos=qos)
    control = edge02.client.publish("rw/v1/site01/edge02/up/event", b"control", qos=1)

    wait_for(lambda: central.got(b"control"), 15, "the control message at central")
    control.wait_for_publish(5)
    assert central.got(b"control") == ["rw/v1/site01/edge02/up/event"]
    assert central.got(b"forged") == []


def test_a_device_cannot_read_another_devices_commands(
    tls: Broker, pki: Pki, recorders: list[Recorder]
) -> None:
    edge01 = Recorder(
        pki,
        "edge01",
        tls.port,
        ["rw/v1/+/edge01/down/#", "rw/v1/+/edge02/down/#", "rw/v1/site01/+/down/cmd"],
    )
    recorders.append(edge01)
    edge02 = Recorder(pki, "edge02", tls.port, ["rw/v1/+/edge02/down/#"])
    recorders.append(edge02)
    central = Recorder(pki, CENTRAL_CN, tls.port, [])
    recorders.append(central)
    wait_for(
        lambda: edge01.subscribed() and edge02.subscribed() and central.client.is_connected(),
        10,
        "TLS sessions and subscriptions",
    )
    assert edge01.suback["rw/v1/+/edge01/down/#"] is True

    central.client.publish("rw/v1/site01/edge02/down/cmd", b"for-edge02", qos=1)
    central.client.publish("rw/v1/site01/edge01/down/cmd", b"control", qos=1)

    wait_for(lambda: edge01.got(b"control"), 15, "edge01's own command")
    wait_for(lambda: edge02.got(b"for-edge02"), 15, "edge02's command at edge02")
    print("edge01 SUBACKs (filter: granted):", edge01.suback)
    # edge01 got its own command (once per matching filter: overlapping subscriptions) ...
    assert set(edge01.got(b"control")) == {"rw/v1/site01/edge01/down/cmd"}
    # ... and never edge02's, through either filter, which the broker routed before it
    assert edge01.got(b"for-edge02") == []


def test_clients_without_a_certificate_get_no_session(tls: Broker, pki: Pki) -> None:
    # the same handshake with edge01's certificate gets a CONNACK: the refusals below mean it
    assert raw_connect(tls.port, tls_context(pki, "edge01")) == CONNACK_OK
    # TLS 1.2: refused in the handshake (require_certificate)
    with pytest.raises(ssl.SSLError, match=r"(?i)handshake failure|certificate"):
        raw_connect(tls.port, tls_context(pki, None), ssl.TLSVersion.TLSv1_2)
    # TLS 1.3: the refusal comes after the client's Finished; never a CONNACK
    try:
        answer = raw_connect(tls.port, tls_context(pki, None), ssl.TLSVersion.TLSv1_3)
    except (ssl.SSLError, ConnectionResetError):
        answer = b""
    assert answer == b""


def test_certificates_from_another_ca_get_no_session(tls: Broker, pki: Pki, tmp_path: Path) -> None:
    rogue = make_pki(tmp_path / "rogue", devices=("edge01",))
    for name in ("edge01", CENTRAL_CN):  # same CNs as the real ones
        context = tls_context(rogue, name, ca_file=pki.ca_file)  # trusts the real broker
        with pytest.raises(ssl.SSLError, match=r"(?i)unknown ca|certificate|handshake"):
            raw_connect(tls.port, context, ssl.TLSVersion.TLSv1_2)
        try:
            answer = raw_connect(tls.port, context, ssl.TLSVersion.TLSv1_3)
        except (ssl.SSLError, ConnectionResetError):
            answer = b""
        assert answer == b"", name
