"""TLS test helpers: a CA made by ``central.ca``, certificates from it, and a Mosquitto that
runs the shipped ``systemd/mosquitto/reeferwatch.conf`` (TLS listener, client certificates,
CN as username) with the shipped ACL file, on a free loopback port.

Files of a ``Pki`` (all under ``root``)::

    ca/              the CA (ca.key, ca.pem, index.json, crl.pem: the broker's crlfile)
    ca.pem           copy of the CA certificate
    broker.pem/.key  server certificate, SAN localhost + 127.0.0.1
    NAME.pem/.key    a client: ``reeferwatch-central`` or an enrolled device
    NAME/            the full bundle as issued (device.pem, device.key, ca.pem, edge.toml)
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.ca import CENTRAL_CN, CertificateAuthority
from demo.broker import render_shipped_config
from tests.helpers import Broker, free_port

REPO = Path(__file__).resolve().parents[1]
MOSQUITTO_DIR = REPO / "systemd" / "mosquitto"
SHIPPED_CONF = MOSQUITTO_DIR / "reeferwatch.conf"
SHIPPED_ACL = MOSQUITTO_DIR / "reeferwatch.acl"
BROKER_HOST = "127.0.0.1"
# MQTT 3.1.1 CONNECT, clean session, keepalive 60, client id "x"
RAW_CONNECT = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01x"


@dataclass
class Pki:
    """A CA in ``root/ca`` and the files it issued, flattened to ``root/NAME.pem|key``."""

    root: Path
    ca: CertificateAuthority

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    def cert(self, name: str) -> Path:
        return self.root / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"

    @property
    def crl_file(self) -> Path:
        """The broker's crlfile: the CA's own ``crl.pem``, re-issued by every revocation."""
        return self.ca.crl_file

    def bundle(self, name: str) -> Path:
        return self.root / name

    def add_device(self, device: str, site: str = "site01") -> Path:
        """Enroll ``device``; returns the bundle directory."""
        issued = self.ca.enroll_device(site, device, self.root / device, BROKER_HOST, 8883)
        shutil.copy(issued.cert_file, self.cert(device))
        shutil.copy(issued.key_file, self.key(device))
        return self.root / device


def make_pki(root: Path, devices: tuple[str, ...] = ("edge01", "edge02")) -> Pki:
    """A fresh CA, the broker's certificate, central's client certificate, and ``devices``."""
    root.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority.init(root / "ca")
    shutil.copy(ca.cert_file, root / "ca.pem")
    pki = Pki(root, ca)
    server = ca.issue_server(root / "broker", ["localhost"], [BROKER_HOST])
    shutil.copy(server.cert_file, pki.cert("broker"))
    shutil.copy(server.key_file, pki.key("broker"))
    central = ca.issue_client(CENTRAL_CN, root / CENTRAL_CN)
    shutil.copy(central.cert_file, pki.cert(CENTRAL_CN))
    shutil.copy(central.key_file, pki.key(CENTRAL_CN))
    for device in devices:
        pki.add_device(device)
    return pki


def shipped_config(pki: Pki, port: int) -> str:
    """The shipped Mosquitto snippet with this test's port, certificates, CRL and ACL path."""
    return render_shipped_config(
        port,
        BROKER_HOST,
        {
            "reeferwatch-ca.pem": pki.ca_file,
            "reeferwatch-broker.pem": pki.cert("broker"),
            "reeferwatch-broker.key": pki.key("broker"),
            "reeferwatch-crl.pem": pki.crl_file,
        },
    )


@contextlib.contextmanager
def tls_broker(workdir: Path, pki: Pki) -> Iterator[Broker]:
    """Mosquitto with the shipped TLS listener and ACL; ``host`` is 127.0.0.1."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(shipped_config(pki, port))
    broker = Broker(BROKER_HOST, port, config)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def tls_context(pki: Pki, name: str | None, ca_file: Path | None = None) -> ssl.SSLContext:
    """Client context trusting ``pki``'s CA, presenting ``name``'s certificate if given."""
    context = ssl.create_default_context(cafile=str(ca_file or pki.ca_file))
    if name:
        context.load_cert_chain(str(pki.cert(name)), str(pki.key(name)))
    return context


def mqtt_client(pki: Pki, name: str, port: int, host: str = BROKER_HOST) -> mqtt.Client:
    """A paho v5 client authenticated as ``name``, connecting in the background."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{name}", protocol=mqtt.MQTTv5)
    client.tls_set_context(tls_context(pki, name))
    client.connect(host, port)
    client.loop_start()
    return client


def raw_connect(port: int, context: ssl.SSLContext, tls_max: ssl.TLSVersion | None = None) -> bytes:
    """TLS handshake + MQTT CONNECT; returns the first bytes the broker answers (b"" = closed).

    Raises ``ssl.SSLError`` when the handshake itself is refused."""
    if tls_max is not None:
        context.maximum_version = tls_max
    with (
        socket.create_connection((BROKER_HOST, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=BROKER_HOST) as conn,
    ):
        conn.sendall(RAW_CONNECT)
        return conn.recv(4)
