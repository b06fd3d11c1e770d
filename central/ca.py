"""A small certificate authority for the broker's TLS listener (DESIGN §5, issue 5 part 4).

One ECDSA P-256 CA key signs the broker's server certificate, central ingest's client
certificate (CN ``reeferwatch-central``) and one client certificate per edge device
(CN = device id, which Mosquitto turns into the MQTT username the ACL matches).

Layout of the CA directory (default ``{data_dir}/ca``)::

    ca.key        CA private key, mode 0600 (the only secret here that must never leave)
    ca.pem        CA certificate (public; goes to the broker and to every client)
    index.json    every certificate issued: kind, name, site, sha256 fingerprint, not_after,
                  and when and why it was revoked; the last CRL number
    crl.pem       the certificate revocation list (``central.crl``), the broker's crlfile
    index.lock    taken while the index or the CRL is rewritten
    broker-update-needed   written by every revocation, removed once ``install_crl`` has put
                  a CRL that includes it where the broker reads it (``reeferwatch-crl.path``
                  starts ``reeferwatch-crl.service`` while it exists)
    broker-restart-needed  written by ``install_crl`` when the CRL it installs revokes a
                  serial the file it replaced did not; ``reeferwatch-crl.service`` then
                  restarts Mosquitto (a reload keeps open sessions) and removes it

Private keys of issued certificates are written only to the output directory asked for and
are not kept by the CA.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomllib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central import crl
from central.ca_files import Installed, Issued, cert_pem, key_pem, write_new
from central.ca_index import CaError, Index, crl_entries, mark_revoked
from central.ca_index import now as _now
from wire import topics
from wire.errors import WireError
from wire.manifest import public_key_text, write_new_private_key

CA_YEARS = 10
LEAF_DAYS = 825
CENTRAL_CN = "reeferwatch-central"
# Names that have rights of their own in the shipped ACL: never a device id.
RESERVED_NAMES = frozenset({CENTRAL_CN})
CLIENT_NAMES = frozenset({CENTRAL_CN})
# Flags for systemd/reeferwatch-crl.{path,service}, in the CA directory (module docstring).
UPDATE_FLAG = "broker-update-needed"
RESTART_FLAG = "broker-restart-needed"


class CertificateAuthority:
    """The CA in ``directory``; ``init()`` creates one, ``CertificateAuthority(d)`` loads it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index = Index(directory)
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        if not key_path.exists() or not cert_path.exists():
            raise CaError(f"no CA in {directory}; run `reeferwatch-central ca init` first")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaError(f"{key_path}: not an EC private key")
        self.key = key
        self.cert = x509.load_pem_x509_certificate(cert_path.read_bytes())

    @property
    def cert_file(self) -> Path:
        return self.directory / "ca.pem"

    # -- creation ---------------------------------------------------------------------

    @classmethod
    def init(cls, directory: Path, name: str = "ReeferWatch CA") -> CertificateAuthority:
        """Create the CA key (0600) and a self-signed certificate; refuse if one exists."""
        if (directory / "ca.key").exists() or (directory / "ca.pem").exists():
            raise CaError(f"a CA exists already in {directory}; not overwriting it")
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS + 2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        write_new(directory / "ca.key", key_pem(key), 0o600)
        write_new(directory / "ca.pem", cert_pem(cert), 0o644)
        authority = cls(directory)
        authority.issue_crl()  # the broker does not start without its crlfile
        return authority

    # -- the index (central.ca_index) and revocation (central.crl) ----------------------

    @property
    def index_file(self) -> Path:
        return self._index.file

    @property
    def crl_file(self) -> Path:
        return self.directory / crl.CRL_NAME

    def index(self) -> list[dict[str, Any]]:
        """Every certificate issued, oldest first."""
        return self._index.entries()

    def devices(self) -> list[dict[str, Any]]:
        return [entry for entry in self.index() if entry["kind"] == "device"]

    def has_valid(self, name: str) -> bool:
        """Whether a certificate named ``name`` is neither revoked nor expired."""
        return self._index.has_valid(name)

    def revoke(
        self, name: str | None = None, serial: str | None = None, reason: str = "unspecified"
    ) -> list[dict[str, Any]]:
        """Revoke every unrevoked certificate named ``name`` (CN), or the one with ``serial``
        (hex, as in the index); re-issue the CRL. Returns the entries revoked."""
        if (name is None) == (serial is None):
            raise CaError("revoke needs a name or a serial (one of them)")
        if serial is not None:
            wanted = serial.lower().removeprefix("0x").replace(":", "").lstrip("0") or "0"
            return self._revoke(lambda e: e["serial"] == wanted, f"serial {serial}", reason)
        return self._revoke(lambda e: e["name"] == name, f"name {name!r}", reason)

    def _revoke(
        self, match: Callable[[dict[str, Any]], bool], what: str, reason: str
    ) -> list[dict[str, Any]]:
        with self._index.locked() as doc:
            revoked = mark_revoked(doc, match, what, reason)
            # first: a crash after it costs one needless run of reeferwatch-crl.service; a
            # crash before it leaves no revocation behind
            serial_list = " ".join(entry["serial"] for entry in revoked)
            crl.write_atomic(self.update_flag, f"revoked {serial_list}\n".encode(), 0o600)
            self._write_crl(doc, crl.CRL_DAYS)
        return revoked

    def issue_crl(self, days: int = crl.CRL_DAYS) -> x509.CertificateRevocationList:
        """Re-issue ``crl.pem`` from the index with the next CRL number."""
        if days < 1:
            raise CaError("a CRL must be valid for at least 1 day")
        with self._index.locked() as doc:
            return self._write_crl(doc, days)

    @property
    def update_flag(self) -> Path:
        return self.directory / UPDATE_FLAG

    @property
    def restart_flag(self) -> Path:
        return self.directory / RESTART_FLAG

    def install_crl(self, target: Path, days: int = crl.CRL_DAYS) -> Installed:
        """Re-issue ``crl.pem`` and copy it, atomically, to ``target`` (the broker's crlfile),
        all under the index lock, after checking that a broker trusting this CA accepts it.

        When the new CRL revokes a serial that the CRL at ``target`` did not (a missing,
        unreadable or foreign file revokes nothing), ``restart_flag`` is written first: a
        reload would leave those certificates' open sessions connected. ``update_flag`` is
        removed once the copy is in place. The restart flag is never removed here: whoever
        restarts the broker does (``systemd/reeferwatch-crl.service``)."""
        if days < 1:
            raise CaError("a CRL must be valid for at least 1 day")
        with self._index.locked() as doc:
            issued = self._write_crl(doc, days)
            problem = crl.problem(issued, self.cert)
            if problem is not None:
                raise CaError(f"the CRL just issued is unusable: {problem}")
            newly = tuple(sorted(crl.serials(issued) - crl.installed_serials(target, self.cert)))
            flag = None
            if newly:
                listed = " ".join(format(serial, "x") for serial in newly)
                note = f"CRL number {crl.number(issued)} for {target} newly revokes {listed}\n"
                try:  # before the copy: a crash in between must not forget the restart
                    crl.write_atomic(self.restart_flag, note.encode(), 0o600)
                except OSError as exc:
                    raise CaError(f"cannot write {self.restart_flag}: {exc}") from exc
                flag = self.restart_flag
            try:
                crl.write_atomic(target, crl.pem(issued), 0o644)
            except OSError as exc:
                raise CaError(f"cannot copy the CRL to {target}: {exc}") from exc
            self.update_flag.unlink(missing_ok=True)
        return Installed(issued, target, newly, flag)

    def _write_crl(self, doc: dict[str, Any], days: int) -> x509.CertificateRevocationList:
        """Under the index lock: the next number, saved with ``doc`` before the CRL is written
        (never two different CRLs with one number)."""
        doc["crl_number"] += 1
        issued = crl.build(self.key, self.cert, crl_entries(doc), doc["crl_number"], days, _now())
        self._index.save(doc)
        crl.write_atomic(self.crl_file, crl.pem(issued), 0o644)
        return issued

    # -- issuing ----------------------------------------------------------------------

    def _issue(
        self,
        common_name: str,
        out_dir: Path,
        stem: str,
        days: int,
        server_names: list[x509.GeneralName] | None = None,
    ) -> Issued:
        if days < 1:
            raise CaError("days must be at least 1")
        cert_file, key_file = out_dir / f"{stem}.pem", out_dir / f"{stem}.key"
        ca_file = out_dir / "ca.pem"
        for path in (cert_file, key_file):
            if path.exists():
                raise CaError(f"{path} exists already; not overwriting it")
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        not_after = min(now + datetime.timedelta(days=days), self.cert.not_valid_after_utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(server_names), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        out_dir.mkdir(parents=True, exist_ok=True)
        write_new(key_file, key_pem(key), 0o600)
        write_new(cert_file, cert_pem(cert), 0o644)
        ca_pem = self.cert_file.read_bytes()
        if not ca_file.exists():
            write_new(ca_file, ca_pem, 0o644)
        elif ca_file.read_bytes() != ca_pem:
            raise CaError(f"{ca_file} holds another CA's certificate")
        return Issued(cert, cert_file, key_file, ca_file)

    def _entry(self, kind: str, name: str, issued: Issued, **extra: object) -> dict[str, Any]:
        return {
            "kind": kind,
            "name": name,
            **extra,
            "serial": format(issued.cert.serial_number, "x"),
            "sha256": issued.fingerprint,
            "not_after": issued.cert.not_valid_after_utc.isoformat(),
            "issued_at": _now().isoformat(timespec="seconds"),
        }

    def issue_server(
        self, out_dir: Path, hosts: list[str], ips: list[str], days: int = LEAF_DAYS
    ) -> Issued:
        """The broker's certificate (``server.pem``/``server.key``), SAN = hosts and ips."""
        if not hosts and not ips:
            raise CaError("a server certificate needs at least one --host or --ip")
        try:
            names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
            names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        except ValueError as exc:
            raise CaError(f"bad --ip: {exc}") from exc
        issued = self._issue((hosts or ips)[0], out_dir, "server", days, names)
        self._index.append(self._entry("server", (hosts or ips)[0], issued, sans=[*hosts, *ips]))
        return issued

    def issue_client(self, name: str, out_dir: Path, days: int = LEAF_DAYS) -> Issued:
        """A service client certificate (``client.pem``/``client.key``), e.g. central ingest."""
        if name not in CLIENT_NAMES:
            raise CaError(
                f"client certificates are for {sorted(CLIENT_NAMES)}; "
                "use `device enroll` for an edge device"
            )
        issued = self._issue(name, out_dir, "client", days)
        self._index.append(self._entry("client", name, issued))
        return issued

    def enroll_device(
        self,
        site: str,
        device: str,
        out_dir: Path,
        broker_host: str,
        broker_port: int = 8883,
        tls_dir: str | None = None,
        days: int = LEAF_DAYS,
        replace: bool = False,
    ) -> Issued:
        """TLS key + certificate (CN = device id), the Ed25519 key that signs the device's
        clip manifests (``signing.key``) and an ``edge.toml`` snippet, in ``out_dir``. The
        caller trusts ``signing_public_key`` at central (``central.ingest.manifests.trust``)."""
        try:
            topics.check_id(site, "site")
            topics.check_id(device, "device")
        except WireError as exc:
            raise CaError(str(exc)) from exc
        if device in RESERVED_NAMES or device.startswith("reeferwatch-"):
            raise CaError(f"device id {device!r} is reserved (the ACL gives it other rights)")
        known = [entry for entry in self.devices() if entry["name"] == device]
        if known and not replace:
            raise CaError(
                f"device {device!r} is enrolled already (site {known[-1]['site']}); "
                "use --replace to issue it a new certificate (the old one is revoked)"
            )
        if (out_dir / "edge.toml").exists():
            raise CaError(f"{out_dir / 'edge.toml'} exists already; not overwriting it")
        issued = self._issue(device, out_dir, "device", days)
        signing = public_key_text(write_new_private_key(out_dir / "signing.key"))
        base = tls_dir if tls_dir is not None else str(out_dir.resolve())
        snippet = (
            "# ReeferWatch edge: merge into edge.toml (the [site] table needs location_code too)\n"
            "[site]\n"
            f'id = "{site}"\n'
            f'device = "{device}"\n'
            f"signing_key_file = {json.dumps(f'{base}/signing.key')}\n"
            "\n"
            "[mqtt]\n"
            f"host = {json.dumps(broker_host)}\n"
            f"port = {broker_port}\n"
            f"ca_file = {json.dumps(f'{base}/ca.pem')}\n"
            f"cert_file = {json.dumps(f'{base}/device.pem')}\n"
            f"key_file = {json.dumps(f'{base}/device.key')}\n"
        )
        tomllib.loads(snippet)  # what we hand out must parse
        write_new(out_dir / "edge.toml", snippet.encode(), 0o644)
        self._index.append(self._entry("device", device, issued, site=site, signing_key=signing))
        superseded: list[dict[str, Any]] = []
        if any("revoked_at" not in entry for entry in known):  # --replace: the earlier ones
            earlier = {entry["serial"] for entry in known}
            superseded = self._revoke(
                lambda e: e["serial"] in earlier, f"device {device!r}", "superseded"
            )
        return dataclasses.replace(issued, signing_public_key=signing, superseded=tuple(superseded))
