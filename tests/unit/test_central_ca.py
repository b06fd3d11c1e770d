"""central.ca and the ``ca`` / ``device`` subcommands, without a broker."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import tomllib
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central.ca import CaError, CertificateAuthority
from central.ca_files import fingerprint
from central.cli import main
from wire.manifest import load_private_key, public_key_text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca")


def test_init_makes_a_p256_ca_with_a_private_key(ca: CertificateAuthority) -> None:
    assert mode(ca.directory / "ca.key") == 0o600
    assert isinstance(ca.key.curve, ec.SECP256R1)
    cert = load(ca.directory / "ca.pem")
    assert cert.subject == cert.issuer
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365
    assert 10 <= years < 10.1
    cert.verify_directly_issued_by(cert)


def test_init_refuses_to_overwrite(ca: CertificateAuthority) -> None:
    before = (ca.directory / "ca.key").read_bytes()
    with pytest.raises(CaError, match="exists already"):
        CertificateAuthority.init(ca.directory)
    assert (ca.directory / "ca.key").read_bytes() == before


def test_loading_a_missing_ca_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(CaError, match="ca init"):
        CertificateAuthority(tmp_path / "nothing")


def test_server_certificate_names_the_host(ca: CertificateAuthority, tmp_path: Path) -> None:
    issued = ca.issue_server(tmp_path / "srv", ["mqtt.example.org"], ["192.0.2.7"])
    cert = load(issued.cert_file)
    cert.verify_directly_issued_by(ca.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mqtt.example.org"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert mode(issued.key_file) == 0o600
    with pytest.raises(CaError, match="at least one"):
        ca.issue_server(tmp_path / "srv2", [], [])


def test_enroll_writes_the_bundle_and_indexes_it(ca: CertificateAuthority, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    issued = ca.enroll_device("site01", "edge01", out, "mqtt.example.org", tls_dir="/etc/rw/tls")
    assert sorted(p.name for p in out.iterdir()) == [
        "ca.pem",
        "device.key",
        "device.pem",
        "edge.toml",
        "signing.key",
    ]
    assert mode(out / "device.key") == 0o600
    assert mode(out / "signing.key") == 0o600
    signing = load_private_key(out / "signing.key")
    assert issued.signing_public_key == public_key_text(signing)
    cert = load(out / "device.pem")
    cert.verify_directly_issued_by(load(out / "ca.pem"))
    assert cn(cert) == "edge01"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    snippet = tomllib.loads((out / "edge.toml").read_text())
    assert snippet["site"] == {
        "id": "site01",
        "device": "edge01",
        "signing_key_file": "/etc/rw/tls/signing.key",
    }
    assert snippet["mqtt"] == {
        "host": "mqtt.example.org",
        "port": 8883,
        "ca_file": "/etc/rw/tls/ca.pem",
        "cert_file": "/etc/rw/tls/device.pem",
        "key_file": "/etc/rw/tls/device.key",
    }
    [entry] = ca.devices()
    assert entry["site"] == "site01" and entry["name"] == "edge01"
    assert entry["sha256"] == fingerprint(cert) == issued.fingerprint
    assert entry["not_after"] == cert.not_valid_after_utc.isoformat()
    assert entry["signing_key"] == issued.signing_public_key
    assert json.loads(ca.index_file.read_text())["version"] == 2


@pytest.mark.parametrize("device", ["reeferwatch-central", "reeferwatch-ingest-1"])
def test_enroll_refuses_reserved_names(
    ca: CertificateAuthority, tmp_path: Path, device: str
) -> None:
    with pytest.raises(CaError, match="reserved"):
        ca.enroll_device("site01", device, tmp_path / "b", "h")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("site", "device"), [("3700/02001", "edge01"), ("s", "edge 1"), ("s", "")])
def test_enroll_refuses_ids_that_are_not_topic_levels(
    ca: CertificateAuthority, tmp_path: Path, site: str, device: str
) -> None:
    with pytest.raises(CaError, match="not an id"):
        ca.enroll_device(site, device, tmp_path / "b", "h")


def test_enroll_twice_needs_replace(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca.enroll_device("site01", "edge01", tmp_path / "one", "h")
    with pytest.raises(CaError, match="enrolled already"):
        ca.enroll_device("site02", "edge01", tmp_path / "two", "h")
    with pytest.raises(CaError, match="exists already"):
        ca.enroll_device("site01", "edge01", tmp_path / "one", "h", replace=True)
    ca.enroll_device("site01", "edge01", tmp_path / "three", "h", replace=True)
    assert len(ca.devices()) == 2
    assert [e.get("reason") for e in ca.devices()] == ["superseded", None]


def test_client_certificates_only_for_central(ca: CertificateAuthority, tmp_path: Path) -> None:
    issued = ca.issue_client("reeferwatch-central", tmp_path / "c")
    assert cn(load(issued.cert_file)) == "reeferwatch-central"
    with pytest.raises(CaError, match="device enroll"):
        ca.issue_client("edge01", tmp_path / "d")
    assert [e["kind"] for e in ca.index()] == ["client"]


def test_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert main(["ca", "init"]) == 0
    assert (tmp_path / "data/ca/ca.key").exists()
    assert main(["ca", "init"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["ca", "server-cert", "--host", "localhost", "--ip", "127.0.0.1"]) == 0
    assert (tmp_path / "data/ca/server/server.pem").exists()
    assert main(["ca", "client-cert", "--name", "reeferwatch-central"]) == 0
    assert (tmp_path / "data/ca/reeferwatch-central/client.key").exists()
    assert main(["device", "enroll", "--site", "s1", "--device", "reeferwatch-central"]) == 1
    assert "reserved" in capsys.readouterr().err
    assert main(["device", "enroll", "--site", "s1", "--device", "e1", "--broker-host", "b"]) == 0
    assert (tmp_path / "enroll-s1-e1/device.key").exists()
    capsys.readouterr()
    assert main(["device", "list"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("s1\te1\t") and line.endswith("\tvalid\n")
