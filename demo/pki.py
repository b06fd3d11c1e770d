"""The demo's certificates, made with the same commands an operator runs (docs/security.md):
``ca init``, ``ca server-cert``, ``ca client-cert`` and ``device enroll``."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

CENTRAL_CN = "reeferwatch-central"


@dataclass(frozen=True)
class DemoPki:
    ca_dir: Path
    bundle: Path  # the enrolled edge's bundle

    @property
    def broker_files(self) -> dict[str, Path]:
        """Shipped broker file name → the demo's file."""
        return {
            "reeferwatch-ca.pem": self.ca_dir / "ca.pem",
            "reeferwatch-broker.pem": self.ca_dir / "server" / "server.pem",
            "reeferwatch-broker.key": self.ca_dir / "server" / "server.key",
            "reeferwatch-crl.pem": self.ca_dir / "crl.pem",
        }

    @property
    def central_env(self) -> dict[str, str]:
        client = self.ca_dir / CENTRAL_CN
        return {
            "REEFERWATCH_MQTT_TLS_CA": str(client / "ca.pem"),
            "REEFERWATCH_MQTT_TLS_CERT": str(client / "client.pem"),
            "REEFERWATCH_MQTT_TLS_KEY": str(client / "client.key"),
        }


def make_pki(central: str, env: dict[str, str], bundle: Path, site: str, device: str,
             port: int) -> DemoPki:  # fmt: skip
    """CA, broker and central certificates, and one enrolled (and trusted) edge."""

    def run(*args: str) -> None:
        subprocess.run([central, *args], env=env, check=True, stdout=subprocess.DEVNULL)

    run("ca", "init")
    run("ca", "server-cert", "--host", "localhost", "--ip", "127.0.0.1")
    run("ca", "client-cert", "--name", CENTRAL_CN)
    run("device", "enroll", "--site", site, "--device", device, "--out", str(bundle),
        "--broker-host", "127.0.0.1", "--broker-port", str(port),
        "--tls-dir", str(bundle))  # fmt: skip
    return DemoPki(Path(env["REEFERWATCH_DATA_DIR"]) / "ca", bundle)
