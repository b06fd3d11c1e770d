"""The shipped systemd units and Mosquitto snippet, checked with the real tools.

``systemd-analyze verify`` exits 0 on unknown keys, so any stderr fails the test. It also insists
that ``ExecStart=`` binaries exist: the units are verified unmodified with ``--root`` pointing at a
temporary tree that holds the host's ``/usr/lib/systemd/system`` (for ``sysinit.target`` and
friends), the units under ``/etc/systemd/system`` and executable stubs at
``/opt/reeferwatch/bin/*``. (``test_image_deb`` verifies the edge unit again against the real
contents of the built package.)
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers import Broker, free_port, mosquitto_binary, wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
UNIT_FILES = [
    "reeferwatch-edge.service",
    "reeferwatch-central.service",
    "reeferwatch-ingest@.service",
]
# what `systemctl start` would load: templates are verified through an instance
VERIFY_NAMES = [
    "reeferwatch-edge.service",
    "reeferwatch-central.service",
    "reeferwatch-ingest@w1.service",
]
MAX_EDGE_EXPOSURE = 3.0


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    return tool


def make_verify_root(root: Path, units: list[Path]) -> Path:
    """A tree for ``systemd-analyze verify --root``: host unit library, our units, stubs."""
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    return root


def add_stubs(root: Path) -> None:
    bindir = root / "opt/reeferwatch/bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name in ("reeferwatch-edge", "reeferwatch-central"):
        stub = bindir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)


def verify(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_systemd_analyze(), "verify", f"--root={root}", name],
        capture_output=True,
        text=True,
        timeout=60,
    )


def exposure(unit: Path) -> tuple[float, str]:
    out = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=unit.parent,
    )
    text = out.stdout + out.stderr
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)[^\n]*", text)
    assert match, f"no exposure line in:\n{text}"
    return float(match.group(1)), match.group(0)


def unit_keys(unit: Path) -> dict[str, list[str]]:
    """``Key`` → every value it is given (units may repeat keys), sections ignored."""
    keys: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        keys.setdefault(key.strip(), []).append(value.strip())
    return keys


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _systemd_analyze()
    root = make_verify_root(tmp_path_factory.mktemp("root"), [UNITS / u for u in UNIT_FILES])
    add_stubs(root)
    return root


@pytest.mark.parametrize("name", VERIFY_NAMES)
def test_verify_prints_nothing(verify_root: Path, name: str) -> None:
    result = verify(verify_root, name)
    print(f"systemd-analyze verify {name}: rc={result.returncode} stderr={result.stderr!r}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert result.stdout == "", result.stdout


def test_verify_would_catch_an_unknown_key(tmp_path: Path, verify_root: Path) -> None:
    """The check above means something: verify reports a typo on stderr (and still exits 0)."""
    bad = tmp_path / "reeferwatch-edge.service"
    text = (UNITS / "reeferwatch-edge.service").read_text()
    bad.write_text(text.replace("NoNewPrivileges=yes", "NoNewPrivileges=yes\nProtectSytem=full"))
    root = make_verify_root(tmp_path / "root", [bad])
    add_stubs(root)
    result = verify(root, "reeferwatch-edge.service")
    assert "Unknown key" in result.stderr and "ProtectSytem" in result.stderr


def test_edge_exposure_at_most_3() -> None:
    level, line = exposure(UNITS / "reeferwatch-edge.service")
    print(line)
    assert level <= MAX_EDGE_EXPOSURE, line


@pytest.mark.parametrize("name", ["reeferwatch-central.service", "reeferwatch-ingest@.service"])
def test_central_units_are_hardened_too(name: str) -> None:
    level, line = exposure(UNITS / name)
    print(line)
    assert level <= MAX_EDGE_EXPOSURE, line


def test_edge_unit_contract() -> None:
    """DESIGN §4 and issue 7: what the edge unit must say, and what it must keep open."""
    keys = unit_keys(UNITS / "reeferwatch-edge.service")
    for key, value in {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "60",
        "Restart": "always",
        "RestartSec": "5",
        "User": "reeferwatch",
        "SupplementaryGroups": "gpio video",
        "StateDirectory": "reeferwatch",
        "ConfigurationDirectory": "reeferwatch",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "Wants": "network-online.target",
    }.items():
        assert keys.get(key) == [value], (key, keys.get(key))
    assert set(keys["After"][0].split()) >= {"time-sync.target", "network-online.target"}
    assert keys["ExecStart"] == [
        "/opt/reeferwatch/bin/reeferwatch-edge run --config /etc/reeferwatch/edge.toml"
    ]
    # still reachable: GPIO chips, cameras, the network; no PrivateDevices/PrivateNetwork
    assert {"char-gpiochip rw", "char-video4linux rw"} <= set(keys["DeviceAllow"])
    assert set(keys["RestrictAddressFamilies"][0].split()) >= {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "PrivateDevices" not in keys and "PrivateNetwork" not in keys
    # ffmpeg children: no MemoryDenyWriteExecute surprises, fork/exec allowed by @system-service
    assert keys["SystemCallFilter"][0] == "@system-service"


# --- Mosquitto snippet: started for real, with certificates made here ------------------------


def _certs(folder: Path, names: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ReeferWatch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if name == "broker":
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _client(tls: Path, name: str | None, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{name}", protocol=mqtt.MQTTv5)
    context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    if name:
        context.load_cert_chain(str(tls / f"{name}.pem"), str(tls / f"{name}.key"))
    client.tls_set_context(context)
    client.connect("localhost", port)
    client.loop_start()
    return client


@pytest.fixture
def shipped_broker(tmp_path: Path):
    if not mosquitto_binary():
        pytest.skip("mosquitto is not installed (the README's test command installs it)")
    tls = tmp_path / "tls"
    tls.mkdir()
    _certs(tls, ["broker", "reeferwatch-central", "edge01", "edge02"])
    port = free_port()
    text = (UNITS / "mosquitto/reeferwatch.conf").read_text()
    text = text.replace("listener 8883", f"listener {port} 127.0.0.1")
    text = text.replace("/etc/mosquitto/ca_certificates/reeferwatch-ca.pem", str(tls / "ca.pem"))
    text = text.replace("/etc/mosquitto/certs/reeferwatch-broker.pem", str(tls / "broker.pem"))
    text = text.replace("/etc/mosquitto/certs/reeferwatch-broker.key", str(tls / "broker.key"))
    text = text.replace("/etc/mosquitto/reeferwatch.acl", str(UNITS / "mosquitto/reeferwatch.acl"))
    assert "/etc/mosquitto" not in re.sub(r"#.*", "", text)
    if os.geteuid() == 0:
        text += "user root\n"  # as root Mosquitto would switch to "mosquitto": keep file access
    config = tmp_path / "mosquitto.conf"
    config.write_text(text)
    broker = Broker("localhost", port, config)
    broker.start()
    try:
        yield broker, tls
    finally:
        broker.stop()


def test_mosquitto_snippet_acl(shipped_broker: tuple[Broker, Path]) -> None:
    broker, tls = shipped_broker
    got: dict[str, list[str]] = {"central": [], "edge01": []}

    central = _client(tls, "reeferwatch-central", broker.port)
    edge01 = _client(tls, "edge01", broker.port)
    # Mosquitto answers a denied QoS 1 publish with PUBACK 0x87 and paho then drops the
    # connection, so the forbidden publishes come from a third client, last.
    edge02 = _client(tls, "edge02", broker.port)
    central.on_message = lambda _c, _u, m: got["central"].append(m.topic)
    edge01.on_message = lambda _c, _u, m: got["edge01"].append(m.topic)
    clients = (central, edge01, edge02)
    try:
        wait_for(lambda: all(c.is_connected() for c in clients), 10, "TLS connects")
        central.subscribe("rw/v1/+/+/up/#", qos=1)
        edge01.subscribe("rw/v1/+/edge01/down/#", qos=1)
        edge01.subscribe("rw/v1/+/edge02/down/#", qos=1)  # someone else's commands
        time.sleep(0.3)

        edge01.publish("rw/v1/site01/edge01/up/event", b"{}", qos=1).wait_for_publish(5)
        central.publish("rw/v1/site01/edge01/down/cmd", b"{}", qos=1).wait_for_publish(5)
        central.publish("rw/v1/site01/edge02/down/cmd", b"{}", qos=1).wait_for_publish(5)
        wait_for(lambda: got["central"] and got["edge01"], 5, "allowed messages")
        # impersonation: edge02 writes as edge01, and writes into a down/ topic
        edge02.publish("rw/v1/site01/edge01/up/event", b"{}", qos=1)
        edge02.publish("rw/v1/site01/edge02/down/cmd", b"{}", qos=1)
        time.sleep(1.0)
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()
    # a device writes only its own up/ and reads only its own down/
    assert got["central"] == ["rw/v1/site01/edge01/up/event"]
    assert got["edge01"] == ["rw/v1/site01/edge01/down/cmd"]


def test_mosquitto_snippet_refuses_clients_without_certificate(
    shipped_broker: tuple[Broker, Path],
) -> None:
    """Refused in TLS itself (require_certificate), before MQTT's allow_anonymous is reached."""
    broker, tls = shipped_broker
    context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    # TLS 1.2, so the refusal is a handshake alert (TLS 1.3 sends it after the handshake,
    # and it races with the connection reset)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        pytest.raises(ssl.SSLError, match=r"(?i)handshake failure|certificate"),
        socket.create_connection(("localhost", broker.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        conn.sendall(b"\x10\x00")
