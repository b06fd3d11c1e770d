"""The end-to-end path of ``test_end_to_end`` over the shipped TLS listener and ACL.

Every certificate comes from the ``reeferwatch-central ca`` / ``device enroll`` commands as an
operator runs them; the edge uses the enrolled bundle's ``edge.toml`` snippet, central ingest
uses ``REEFERWATCH_MQTT_TLS_CA/_CERT/_KEY`` with its ``reeferwatch-central`` certificate.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomllib

from central.ca import CENTRAL_CN, CertificateAuthority
from tests.helpers import mosquitto_binary, wait_for
from tests.integration.test_end_to_end import (
    Central,
    edge_outbox_drained,
    mark_and_receive_clip,
    start_edge,
    tool,
    write_edge_config,
)
from tests.tls import BROKER_HOST, Pki, tls_broker

pytestmark = pytest.mark.slow


@dataclass
class TlsCentral(Central):
    """``Central`` whose ingest talks TLS with a client certificate."""

    tls_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.tls_env}


def run_central(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [tool("reeferwatch-central"), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def tls_setup(tmp_path: Path) -> Iterator[tuple[TlsCentral, Path]]:
    """CA, broker and central certificates and one enrolled edge, all through the CLI."""
    if not mosquitto_binary():
        pytest.skip("mosquitto is not installed (the README's test command installs it)")
    data_dir = tmp_path / "central"
    data_dir.mkdir()
    env = {**os.environ, "REEFERWATCH_DATA_DIR": str(data_dir)}
    ca_dir = data_dir / "ca"
    run_central(env, "ca", "init")
    run_central(env, "ca", "server-cert", "--host", "localhost", "--ip", BROKER_HOST)
    run_central(env, "ca", "client-cert", "--name", CENTRAL_CN)
    bundle = tmp_path / "bundle"
    run_central(
        env, "device", "enroll", "--site", "site01", "--device", "edge01",
        "--out", str(bundle), "--broker-host", BROKER_HOST, "--tls-dir", str(bundle),
    )  # fmt: skip

    pki = Pki(tmp_path / "pki", CertificateAuthority(ca_dir))
    pki.root.mkdir()
    shutil.copy(ca_dir / "ca.pem", pki.ca_file)
    shutil.copy(ca_dir / "server/server.pem", pki.cert("broker"))
    shutil.copy(ca_dir / "server/server.key", pki.key("broker"))
    with tls_broker(tmp_path / "broker", pki) as broker:
        client = ca_dir / CENTRAL_CN
        central = TlsCentral(
            data_dir,
            broker,
            tls_env={
                "REEFERWATCH_MQTT_TLS_CA": str(client / "ca.pem"),
                "REEFERWATCH_MQTT_TLS_CERT": str(client / "client.pem"),
                "REEFERWATCH_MQTT_TLS_KEY": str(client / "client.key"),
            },
        )
        central.setup()
        try:
            yield central, bundle
        finally:
            central.close()


@pytest.fixture
def edge_procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.wait(15)


def test_marked_event_and_clip_travel_over_tls(
    tmp_path: Path,
    tls_setup: tuple[TlsCentral, Path],
    ffmpeg: str,
    edge_procs: list[subprocess.Popen[bytes]],
) -> None:
    central, bundle = tls_setup
    snippet = tomllib.loads((bundle / "edge.toml").read_text())
    assert snippet["site"] == {
        "id": "site01",
        "device": "edge01",
        "signing_key_file": str(bundle / "signing.key"),
    }
    mqtt = snippet["mqtt"]
    assert (mqtt["host"], mqtt["port"]) == (BROKER_HOST, 8883)
    # the test broker listens on a free port instead of 8883; everything else as enrolled
    config = write_edge_config(
        tmp_path,
        central.broker,
        signing_key=snippet["site"]["signing_key_file"],  # trusted by `device enroll`
        ca_file=mqtt["ca_file"],
        cert_file=mqtt["cert_file"],
        key_file=mqtt["key_file"],
    )
    central.start("ingest")
    central.start("serve")
    start_edge(config, edge_procs)
    with central.client() as api:
        clip = mark_and_receive_clip(api, config)
        whole = api.get(f"/api/v1/clips/{clip['id']}/video")
        assert whole.status_code == 200
        assert hashlib.sha256(whole.content).hexdigest() == clip["sha256"]
        wait_for(lambda: edge_outbox_drained(config), 30, "the edge to see its delivery acked")
    edge_log = (config.parent / "edge.log").read_text()
    assert "tls=True" in edge_log
