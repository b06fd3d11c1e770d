"""``sync_tls_ratio``: clip bytes through ``SyncClient`` over TLS with client certificates.

As in production: a CA from ``central.ca`` issues the broker's certificate, central's client
certificate (the receiver) and the device's enrollment bundle (the edge's ``[mqtt]``
``ca_file``/``cert_file``/``key_file``); Mosquitto runs the shipped
``systemd/mosquitto/reeferwatch.conf`` (``tls_version tlsv1.2``, ``require_certificate``, CN
as username) with the shipped ACL on a free loopback port. Baseline: a raw paho QoS 1
publish of the same bytes in the same chunk size, authenticated with the same device
certificate, to the same receiver over the same broker, same run.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from bench.recording import emit, free_port
from bench.syncrig import (
    DEVICE,
    SITE,
    Receiver,
    SyncedEdge,
    chunks,
    edge_config,
    paired,
    publisher,
    raw_seconds,
    sync_seconds,
)
from central.ca import CENTRAL_CN, CertificateAuthority
from demo.broker import render_shipped_config

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Identity:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    broker: Identity
    central: Identity
    device: Identity


def make_pki(root: Path) -> Pki:
    ca = CertificateAuthority.init(root / "ca")
    server = ca.issue_server(root / "broker", ["localhost"], [HOST])
    central = ca.issue_client(CENTRAL_CN, root / "central")
    device = ca.enroll_device(SITE, DEVICE, root / DEVICE, HOST)
    return Pki(
        ca.cert_file,
        Identity(server.cert_file, server.key_file),
        Identity(central.cert_file, central.key_file),
        Identity(device.cert_file, device.key_file),
    )


def broker_config(pki: Pki, port: int) -> str:
    """The shipped config with this port, these certificates, the CA's CRL and the ACL."""
    return render_shipped_config(
        port,
        HOST,
        {
            "reeferwatch-ca.pem": pki.ca_file,
            "reeferwatch-broker.pem": pki.broker.cert,
            "reeferwatch-broker.key": pki.broker.key,
            "reeferwatch-crl.pem": pki.ca_file.parent / "crl.pem",
        },
    )


@contextlib.contextmanager
def tls_broker(workdir: Path, pki: Pki) -> Iterator[int]:
    """Mosquitto with the shipped TLS listener and ACL; yields its port."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto-tls.conf"
    conf.write_text(broker_config(pki, port))
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"bench: the TLS broker did not start (exit {proc.poll()})")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tls_connect(port: int, client_id: str, ca_file: Path, who: Identity) -> mqtt.Client:
    """A paho v5 client over TLS presenting ``who``'s certificate, connected."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(who.cert), str(who.key))
    client.tls_set_context(context)
    client.max_inflight_messages_set(20)
    connected = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if not reason.is_failure:
            connected.set()

    client.on_connect = on_connect
    client.connect(HOST, port)
    client.loop_start()
    if not connected.wait(10):
        client.loop_stop()
        raise SystemExit(f"bench: cannot connect over TLS to port {port} as {who.cert.stem}")
    return client


def measure(workdir: Path, body: bytes, chunk: int, repeat: int) -> None:
    """Emit ``sync_tls_mb_s`` and ``sync_tls_ratio`` (medians of ``repeat`` pairs)."""
    workdir.mkdir(parents=True)
    pki = make_pki(workdir / "pki")
    with (
        tls_broker(workdir, pki) as port,
        Receiver(tls_connect(port, "bench-central", pki.ca_file, pki.central)) as receiver,
        publisher(tls_connect(port, "bench-raw", pki.ca_file, pki.device)) as raw_client,
        SyncedEdge(edge_config(workdir / "edge", port, chunk, 0, host=HOST,
                               ca_file=str(pki.ca_file), cert_file=str(pki.device.cert),
                               key_file=str(pki.device.key))) as edge,
    ):  # fmt: skip
        raw, synced, ratios = paired(
            lambda: raw_seconds(raw_client, receiver, chunks(body, chunk)),
            lambda i: sync_seconds(edge, receiver, body, f"tls{i}"),
            repeat,
        )
    raw_mb_s, sync_mb_s = len(body) / raw / 1e6, len(body) / synced / 1e6
    emit("sync_tls_mb_s", sync_mb_s, "MB/s", raw_mb_s, chunk=chunk, repeat=repeat,
         tls="shipped listener, client certificates, ACL")  # fmt: skip
    emit("sync_tls_ratio", sync_mb_s / raw_mb_s, "ratio", 1.0, pairs=ratios, goal="none set")
