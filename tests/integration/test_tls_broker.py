"""The shipped Mosquitto TLS listener and ACL, with certificates from ``central.ca``.

A device with its own valid certificate cannot write as another device nor read another
device's commands; a client without a certificate, or with one from another CA (even one that
claims to be ``reeferwatch-central``), does not get an MQTT session at all.

Revocation: the listener reads the CA's CRL (``crlfile``); a device revoked by ``central.ca``
is refused in the TLS handshake once Mosquitto has re-read it (SIGHUP or restart) while other
devices still connect. What Mosquitto 2.0 does with a CRL is pinned down here, because the
deployment depends on it: it re-reads the file on SIGHUP, keeps the sessions already open,
refuses to start without the file, refuses every client once the CRL has expired, and runs
without any CRL after a reload that finds the file broken.

"Never arrives" is shown with a control message: the forbidden message goes first, a permitted
one follows on the same connection, and once the control has arrived the forbidden one, which
the broker would have routed first, is known not to be coming.
"""

from __future__ import annotations

import datetime
import signal
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from central import crl
from central.ca import CENTRAL_CN
from tests.helpers import Broker, free_port, mosquitto_binary, wait_for
from tests.tls import (
    BROKER_HOST,
    Pki,
    make_pki,
    raw_connect,
    shipped_config,
    tls_broker,
    tls_context,
)

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


# --- revocation: the shipped crlfile line with the CA's crl.pem ------------------------------

REVOKED = r"(?i)certificate revoked"


def handshake(
    pki: Pki, name: str, port: int, tls_max: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
) -> str:
    """``"connack"`` when ``name`` gets an MQTT session, else what stopped it."""
    try:
        answer = raw_connect(port, tls_context(pki, name), tls_max)
    except OSError as exc:  # ssl.SSLError, a reset, a timeout: all mean no session
        return f"{type(exc).__name__}: {exc}"
    return "connack" if answer == CONNACK_OK else f"answer {answer!r}"


def reload_broker(broker: Broker) -> None:
    assert broker.process is not None and broker.process.poll() is None
    broker.process.send_signal(signal.SIGHUP)


class LiveSession:
    """A paho client as ``name`` over TLS 1.2 (a refusal is then a handshake error) that
    reconnects every second and counts the reconnects refused."""

    def __init__(self, pki: Pki, name: str, port: int) -> None:
        context = tls_context(pki, name)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.refused = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"live-{name}", protocol=mqtt.MQTTv5
        )
        self.client.tls_set_context(context)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect_fail = self._on_connect_fail
        self.client.connect(BROKER_HOST, port)
        self.client.loop_start()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        self.refused += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_revoked_device_is_refused_once_the_broker_rereads_the_crl(tls: Broker, pki: Pki) -> None:
    edge01, edge02 = LiveSession(pki, "edge01", tls.port), LiveSession(pki, "edge02", tls.port)
    try:
        wait_for(lambda: edge01.client.is_connected() and edge02.client.is_connected(), 20,
                 "both sessions before the revocation")  # fmt: skip
        assert handshake(pki, "edge01", tls.port) == "connack"

        [entry] = pki.ca.revoke(name="edge01", reason="keyCompromise")  # rewrites crlfile
        assert entry["reason"] == "keyCompromise"
        # the broker has not re-read the file yet: the revoked certificate still gets in
        assert handshake(pki, "edge01", tls.port) == "connack"

        reload_broker(tls)
        wait_for(lambda: "revoked" in handshake(pki, "edge01", tls.port), 30, "edge01 refused")
        with pytest.raises(ssl.SSLError, match=REVOKED):
            raw_connect(tls.port, tls_context(pki, "edge01"), ssl.TLSVersion.TLSv1_2)
        assert handshake(pki, "edge01", tls.port, ssl.TLSVersion.TLSv1_3) != "connack"
        # everybody else still connects, over the same reloaded listener
        assert handshake(pki, "edge02", tls.port) == "connack"
        assert handshake(pki, CENTRAL_CN, tls.port, ssl.TLSVersion.TLSv1_3) == "connack"
        # a reload does not close a session opened before it ...
        assert edge01.client.is_connected()

        # ... a restart does, and then only edge02 gets back in
        tls.stop()
        tls.start()
        wait_for(edge02.client.is_connected, 30, "edge02's reconnect after the restart")
        wait_for(lambda: edge01.refused >= 2, 30, "edge01's reconnects being refused")
        assert not edge01.client.is_connected()
        assert handshake(pki, "edge02", tls.port) == "connack"
    finally:
        edge01.close()
        edge02.close()


def test_a_replaced_certificate_is_refused_and_its_successor_accepted(
    tls: Broker, pki: Pki
) -> None:
    issued = pki.ca.enroll_device("site01", "edge02", pki.root / "edge02-new", BROKER_HOST,
                                  replace=True)  # fmt: skip
    assert [e["name"] for e in issued.superseded] == ["edge02"]
    reload_broker(tls)
    wait_for(lambda: "revoked" in handshake(pki, "edge02", tls.port), 30, "old edge02 refused")
    pki.cert("edge02").write_bytes(issued.cert_file.read_bytes())
    pki.key("edge02").write_bytes(issued.key_file.read_bytes())
    assert handshake(pki, "edge02", tls.port) == "connack"


def test_mosquitto_does_not_start_without_its_crlfile(tmp_path: Path, pki: Pki) -> None:
    """Why ``ca init`` writes an empty CRL at once and deployment installs it."""
    binary = mosquitto_binary()
    if not binary:
        pytest.skip("mosquitto is not installed")
    pki.crl_file.unlink()
    config = tmp_path / "mosquitto.conf"
    config.write_text(shipped_config(pki, free_port()))
    result = subprocess.run([binary, "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "revocation" in result.stderr and "crlfile" in result.stderr, result.stderr


def test_an_expired_crl_locks_every_client_out(tls: Broker, pki: Pki) -> None:
    """Why the CRL is re-issued daily (reeferwatch-crl.timer) long before its next update."""
    ca = pki.ca
    two_days_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    stale = crl.build(ca.key, ca.cert, [], 99, days=1, now=two_days_ago)
    crl.write_atomic(pki.crl_file, crl.pem(stale))
    reload_broker(tls)
    wait_for(lambda: "expired" in handshake(pki, CENTRAL_CN, tls.port), 30, "central refused")
    assert "expired" in handshake(pki, "edge02", tls.port)
    ca.issue_crl()  # what the timer does
    reload_broker(tls)
    wait_for(lambda: handshake(pki, CENTRAL_CN, tls.port) == "connack", 30, "central back")


def test_a_crl_the_ca_did_not_sign_locks_every_client_out(
    tls: Broker, pki: Pki, tmp_path: Path
) -> None:
    """Why ``ca crl --copy-to`` checks the signature before it hands the CRL over."""
    rogue = make_pki(tmp_path / "rogue", devices=())  # same CA name, another key
    forged = crl.build(rogue.ca.key, rogue.ca.cert, [], 99)
    assert forged.issuer == pki.ca.cert.subject
    crl.write_atomic(pki.crl_file, crl.pem(forged))
    reload_broker(tls)
    wait_for(lambda: handshake(pki, CENTRAL_CN, tls.port) != "connack", 30, "central refused")
    assert handshake(pki, "edge02", tls.port) != "connack"
    pki.ca.issue_crl()
    reload_broker(tls)
    wait_for(lambda: handshake(pki, CENTRAL_CN, tls.port) == "connack", 30, "central back")


def test_a_broken_crl_on_reload_leaves_the_listener_without_one(tls: Broker, pki: Pki) -> None:
    """Mosquitto 2.0.11 logs the failed reload and then accepts revoked certificates: why the
    CRL reaches the broker only by an atomic rename (``ca crl --copy-to``), never half-written."""
    pki.ca.revoke(name="edge01")
    reload_broker(tls)
    wait_for(lambda: "revoked" in handshake(pki, "edge01", tls.port), 30, "edge01 refused")
    good = pki.crl_file.read_bytes()
    pki.crl_file.write_bytes(good[: len(good) // 2])  # as a copy caught half-way would be
    reload_broker(tls)
    wait_for(lambda: handshake(pki, "edge01", tls.port) == "connack", 30, "the failed reload")
    pki.crl_file.write_bytes(good)
    reload_broker(tls)
    wait_for(lambda: "revoked" in handshake(pki, "edge01", tls.port), 30, "edge01 refused again")
