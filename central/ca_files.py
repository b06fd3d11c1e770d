"""Files of the CA: PEM encodings, certificate fingerprints, write-once files, and what an
issue or a CRL install wrote (``Issued``, ``Installed``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from central.ca_index import CaError


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` (never overwrite), fsynced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise CaError(f"{path} exists already; not overwriting it") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex (``openssl x509 -fingerprint -sha256``)."""
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class Issued:
    """What ``issue_*`` wrote: the certificate, and the files of the bundle."""

    cert: x509.Certificate
    cert_file: Path
    key_file: Path
    ca_file: Path
    signing_public_key: str | None = None  # a device bundle's manifest key (base64)
    superseded: tuple[dict[str, Any], ...] = ()  # index entries revoked by this issue

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)


@dataclass(frozen=True)
class Installed:
    """What ``install_crl`` put where the broker reads it."""

    crl: x509.CertificateRevocationList
    target: Path
    # serials this CRL revokes that the file it replaced did not (sorted): Mosquitto must be
    # restarted, not only reloaded, to cut sessions those certificates hold now
    newly_revoked: tuple[int, ...]
    restart_flag: Path | None  # the flag written for reeferwatch-crl.service, if any
