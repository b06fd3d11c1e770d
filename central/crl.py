"""The CA's certificate revocation list (CRL), the broker's ``crlfile`` (issue 5).

A CRL is always rebuilt from the CA index (``central.ca``): every revoked certificate that has
not expired yet, with its reason, a CRL number that only grows, signed by the CA key and valid
for ``CRL_DAYS``. Mosquitto (2.0.11, OpenSSL 3) refuses *every* client once ``next_update`` has
passed, so the CRL is re-issued daily (``systemd/reeferwatch-crl.timer``).

Nothing here raises the project's errors: ``central.ca`` checks its input and wraps failures.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

CRL_NAME = "crl.pem"
CRL_DAYS = 30
# thisUpdate a little in the past: a CRL "not yet valid" would lock every client out
BACKDATE = datetime.timedelta(minutes=5)
# the reasons an operator may give (RFC 5280 names); "unspecified" leaves the reason out
REASONS: dict[str, x509.ReasonFlags | None] = {
    "unspecified": None,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "superseded": x509.ReasonFlags.superseded,
}


@dataclass(frozen=True)
class Revoked:
    """One entry of the CRL."""

    serial: int
    at: datetime.datetime
    reason: str


def build(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[Revoked],
    number: int,
    days: int = CRL_DAYS,
    now: datetime.datetime | None = None,
) -> x509.CertificateRevocationList:
    """A CRL of ``revoked``, number ``number``, signed by ``key``, next update in ``days``."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + datetime.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.at)
        )
        flag = REASONS[entry.reason]
        if flag is not None:
            item = item.add_extension(x509.CRLReason(flag), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(key, hashes.SHA256())


def pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def number(crl: x509.CertificateRevocationList) -> int:
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def serials(crl: x509.CertificateRevocationList) -> frozenset[int]:
    """The serial numbers ``crl`` revokes."""
    return frozenset(entry.serial_number for entry in crl)


def installed_serials(path: Path, ca_cert: x509.Certificate) -> frozenset[int]:
    """The serials revoked by the CRL in ``path`` (the broker's crlfile) as far as a broker
    trusting ``ca_cert`` is concerned: none when the file is missing, unreadable, not a CRL,
    or not issued and signed by that CA (Mosquitto would have run without it or refused
    everybody, so no revocation in it is known to be in force). Its next update is not
    checked: a CRL that has lapsed still names what was refused when it was installed."""
    try:
        loaded = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError):
        return frozenset()
    public_key = ca_cert.public_key()
    if (
        loaded.issuer != ca_cert.subject
        or not isinstance(public_key, ec.EllipticCurvePublicKey)
        or not loaded.is_signature_valid(public_key)
    ):
        return frozenset()
    return serials(loaded)


def problem(crl: x509.CertificateRevocationList, ca_cert: x509.Certificate) -> str | None:
    """Why ``crl`` would not do for a broker trusting ``ca_cert`` (None when it would)."""
    public_key = ca_cert.public_key()
    if crl.issuer != ca_cert.subject:
        return f"issued by {crl.issuer.rfc4514_string()}, not {ca_cert.subject.rfc4514_string()}"
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(
        public_key
    ):
        return "its signature does not verify with the CA certificate"
    next_update = crl.next_update_utc
    if next_update is None or next_update <= datetime.datetime.now(datetime.timezone.utc):
        return f"it expired at {next_update} (the broker would refuse every client)"
    return None


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` at once: a fsynced temporary file in the same directory,
    renamed over it, then the directory fsynced. A reader sees the old or the new file, never a
    part (Mosquitto reloading a half-written CRL would run without one)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def next_update_of(path: Path) -> datetime.datetime | None:
    """When the CRL in ``path`` expires (None if it cannot be read or parsed)."""
    try:
        loaded = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError):
        return None
    return loaded.next_update_utc
