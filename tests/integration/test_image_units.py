"""The shipped systemd units and Mosquitto snippet, checked with the real tools.

``systemd-analyze verify`` exits 0 on unknown keys, so any stderr fails the test. It also insists
that ``ExecStart=`` binaries exist: the units are verified unmodified with ``--root`` pointing at a
temporary tree that holds the host's ``/usr/lib/systemd/system`` (for ``sysinit.target`` and
friends), the units under ``/etc/systemd/system`` and executable stubs at
``/opt/reeferwatch/bin/*``, ``/usr/bin/systemctl`` and ``/bin/sh`` (reeferwatch-crl reloads or
restarts Mosquitto).
(``test_image_deb`` verifies the edge unit again against the real contents of the built
package.)
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.ca import RESTART_FLAG, UPDATE_FLAG
from central.ca_index import INDEX_NAME
from tests.helpers import Broker, mosquitto_binary, wait_for
from tests.tls import SHIPPED_CONF, Pki, make_pki, mqtt_client, tls_broker, tls_context

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
UNIT_FILES = [
    "reeferwatch-edge.service",
    "reeferwatch-firstboot.service",
    "reeferwatch-unprovisioned.service",
    "reeferwatch-central.service",
    "reeferwatch-ingest@.service",
    "reeferwatch-crl.service",
    "reeferwatch-crl.timer",
    "reeferwatch-crl.path",
]
# what `systemctl start` would load: templates are verified through an instance
VERIFY_NAMES = [
    "reeferwatch-edge.service",
    "reeferwatch-firstboot.service",
    "reeferwatch-unprovisioned.service",
    "reeferwatch-central.service",
    "reeferwatch-ingest@w1.service",
    "reeferwatch-crl.service",
    "reeferwatch-crl.timer",
    "reeferwatch-crl.path",
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
    for program in (
        "opt/reeferwatch/bin/reeferwatch-edge",
        "opt/reeferwatch/bin/reeferwatch-central",
        "usr/bin/systemctl",
        "bin/sh",
    ):
        stub = root / program
        stub.parent.mkdir(parents=True, exist_ok=True)
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


@pytest.mark.parametrize(
    "name",
    ["reeferwatch-central.service", "reeferwatch-ingest@.service", "reeferwatch-crl.service"],
)
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


@pytest.mark.parametrize(
    "name", ["reeferwatch-firstboot.service", "reeferwatch-unprovisioned.service"]
)
def test_first_boot_units_are_hardened(name: str) -> None:
    """Provisioning runs as root (it must give signing.key to the service user) but with
    CAP_CHOWN only, no network and no devices; docs/deployment.md states its exposure."""
    level, line = exposure(UNITS / name)
    print(line)
    assert level <= MAX_EDGE_EXPOSURE, line


def test_first_boot_unit_contract() -> None:
    """Provision before the edge, from the boot partition into /etc/reeferwatch, writing
    nothing else; a failure shows the LED code; a provisioned box skips it."""
    keys = unit_keys(UNITS / "reeferwatch-firstboot.service")
    edge = unit_keys(UNITS / "reeferwatch-edge.service")
    assert keys["Type"] == ["oneshot"] and keys["RemainAfterExit"] == ["yes"]
    assert keys["Before"] == ["reeferwatch-edge.service"]
    assert keys["WantedBy"] == edge["WantedBy"] == ["multi-user.target"]
    assert keys["ExecStart"] == [
        "/opt/reeferwatch/bin/reeferwatch-edge provision"
        " --boot-dir /boot/firmware/reeferwatch --etc-dir /etc/reeferwatch"
    ]
    # runs when a bundle is there, or when the edge has no configuration yet
    assert keys["ConditionPathExists"] == [
        "|/boot/firmware/reeferwatch/device.pem",
        f"|!{edge['ConditionPathExists'][0]}",
    ]
    assert keys["ReadWritePaths"] == ["/etc/reeferwatch -/boot/firmware/reeferwatch"]
    assert keys["CapabilityBoundingSet"] == ["CAP_CHOWN"]
    assert keys["PrivateNetwork"] == keys["PrivateDevices"] == ["yes"]
    assert keys["OnFailure"] == ["reeferwatch-unprovisioned.service"]
    notice = unit_keys(UNITS / "reeferwatch-unprovisioned.service")
    assert "--signal" in notice["ExecStart"][0] and notice["User"] == ["reeferwatch"]
    assert notice["DeviceAllow"] == ["char-gpiochip rw"]
    # never instead of a configured edge (a refused replacement bundle): that one keeps recording
    assert notice["ConditionPathExists"] == [f"!{edge['ConditionPathExists'][0]}"]
    assert "Install" not in (UNITS / "reeferwatch-unprovisioned.service").read_text()


def test_gpio_processes_get_a_writable_working_directory() -> None:
    """lgpio (gpiozero on a Pi 5) creates its notification pipes in the working directory;
    with ProtectSystem=strict "/" is read-only, so both GPIO users run in a RuntimeDirectory."""
    for name in ("reeferwatch-edge.service", "reeferwatch-unprovisioned.service"):
        keys = unit_keys(UNITS / name)
        assert keys["WorkingDirectory"] == [f"/run/{keys['RuntimeDirectory'][0]}"], name


def test_crl_units_keep_the_broker_crl_fresh() -> None:
    """The timer re-issues the CRL daily (it is valid 30 days) into the path the shipped
    Mosquitto config reads, then reloads Mosquitto, which re-reads crlfile on SIGHUP, or
    restarts it when the CRL revokes someone new (test_tls_broker.py shows both)."""
    timer = unit_keys(UNITS / "reeferwatch-crl.timer")
    assert timer["OnCalendar"] == ["daily"] and timer["Persistent"] == ["true"]
    assert timer["WantedBy"] == ["timers.target"]
    keys = unit_keys(UNITS / "reeferwatch-crl.service")
    [crlfile] = re.findall(r"^crlfile (\S+)$", SHIPPED_CONF.read_text(), re.MULTILINE)
    assert keys["Type"] == ["oneshot"]
    assert keys["ExecStart"] == [
        f"/opt/reeferwatch/bin/reeferwatch-central ca crl --copy-to {crlfile}"
    ]
    [post] = keys["ExecStartPost"]
    assert post.startswith("+/bin/sh -c '") and post.endswith("'")  # outside the sandbox
    central = unit_keys(UNITS / "reeferwatch-central.service")
    assert keys["Environment"] == central["Environment"]  # the same {data_dir}/ca
    data_dir = central["Environment"][0].partition("=")[2]
    assert keys["ConditionPathExists"] == [f"{data_dir}/ca/ca.key"]
    assert f"{data_dir}/ca/{RESTART_FLAG}" in post
    assert keys["ReadWritePaths"] == [f"{data_dir}/ca -{Path(crlfile).parent}"]
    assert keys["PrivateNetwork"] == ["yes"] and keys["CapabilityBoundingSet"] == [
        "CAP_DAC_READ_SEARCH"
    ]
    # a failed run is retried later rather than at once by the path unit (start limit)
    assert keys["Restart"] == ["on-failure"] and keys["RestartSec"] == ["30s"]


def test_crl_path_unit_starts_the_service_when_the_index_changes() -> None:
    """``ca revoke`` and ``device enroll --replace`` reach the broker without the operator:
    the CA index changing starts reeferwatch-crl.service, and so does the flag every
    revocation leaves until the CRL that includes it is installed (PathExists= is checked
    again when the service ends; a PathChanged= event during a run is lost)."""
    keys = unit_keys(UNITS / "reeferwatch-crl.path")
    data_dir = unit_keys(UNITS / "reeferwatch-crl.service")["Environment"][0].partition("=")[2]
    assert keys["PathChanged"] == [f"{data_dir}/ca/{INDEX_NAME}"]
    assert keys["PathExists"] == [f"{data_dir}/ca/{UPDATE_FLAG}"]
    assert keys["Unit"] == ["reeferwatch-crl.service"]
    assert keys["WantedBy"] == ["paths.target"]


def _run_restart_or_reload(tmp_path: Path, flag: bool, systemctl_rc: int) -> tuple[str, bool]:
    """The service's ExecStartPost, run by sh with the flag in ``tmp_path`` and a systemctl
    stub that logs its arguments: (what systemctl was asked, whether the flag is left)."""
    [post] = unit_keys(UNITS / "reeferwatch-crl.service")["ExecStartPost"]
    data_dir = unit_keys(UNITS / "reeferwatch-crl.service")["Environment"][0].partition("=")[2]
    script = post.removeprefix("+/bin/sh -c '").removesuffix("'")
    tmp_path.mkdir()
    flag_file = tmp_path / RESTART_FLAG
    log = tmp_path / "systemctl.log"
    stub = tmp_path / "systemctl"
    stub.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexit {systemctl_rc}\n')
    stub.chmod(0o755)
    script = script.replace(f"{data_dir}/ca/{RESTART_FLAG}", str(flag_file))
    script = script.replace("/usr/bin/systemctl", str(stub))
    assert "/var/lib" not in script and "/usr/bin" not in script
    if flag:
        flag_file.write_text("CRL number 7 newly revokes 1a2b\n")
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert (result.returncode == 0) == (systemctl_rc == 0), result
    return log.read_text().strip(), flag_file.exists()


def test_crl_service_restarts_mosquitto_only_when_the_flag_says_so(tmp_path: Path) -> None:
    assert _run_restart_or_reload(tmp_path / "a", flag=False, systemctl_rc=0) == (
        "try-reload-or-restart mosquitto.service",
        False,
    )
    assert _run_restart_or_reload(tmp_path / "b", flag=True, systemctl_rc=0) == (
        "try-restart mosquitto.service",
        False,  # cleared once the restart worked
    )
    # a failed restart keeps the flag (and fails the run): the retry restarts again
    assert _run_restart_or_reload(tmp_path / "c", flag=True, systemctl_rc=1) == (
        "try-restart mosquitto.service",
        True,
    )


# --- Mosquitto snippet: started for real, with certificates from central.ca (tests/tls.py) -----


@pytest.fixture
def shipped_broker(tmp_path: Path) -> Iterator[tuple[Broker, Pki]]:
    if not mosquitto_binary():
        pytest.skip("mosquitto is not installed (the README's test command installs it)")
    pki = make_pki(tmp_path / "tls")
    with tls_broker(tmp_path / "broker", pki) as broker:
        yield broker, pki


def test_mosquitto_snippet_acl(shipped_broker: tuple[Broker, Pki]) -> None:
    broker, pki = shipped_broker
    got: dict[str, list[str]] = {"central": [], "edge01": []}

    central = mqtt_client(pki, "reeferwatch-central", broker.port)
    edge01 = mqtt_client(pki, "edge01", broker.port)
    # Mosquitto answers a denied QoS 1 publish with PUBACK 0x87 and paho then drops the
    # connection, so the forbidden publishes come from a third client, last.
    edge02 = mqtt_client(pki, "edge02", broker.port)
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
    shipped_broker: tuple[Broker, Pki],
) -> None:
    """Refused in TLS itself (require_certificate), before MQTT's allow_anonymous is reached."""
    broker, pki = shipped_broker
    context = tls_context(pki, None)
    # TLS 1.2, so the refusal is a handshake alert (TLS 1.3 sends it after the handshake,
    # and it races with the connection reset)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        pytest.raises(ssl.SSLError, match=r"(?i)handshake failure|certificate"),
        socket.create_connection((broker.host, broker.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=broker.host) as conn,
    ):
        conn.sendall(b"\x10\x00")
