"""Signed, hash-chained clip manifests (DESIGN §5, issue 5 part 4).

When the edge records a clip it writes a manifest — who made it (site, device), what it is
(file id, name, camera, times, size, SHA-256, event ids) and where it stands in the device's
chain (``index`` from 1 and ``prev``, the SHA-256 of the previous manifest's bytes) — and
signs those exact bytes with the device's Ed25519 key. ``FileInit`` carries the manifest as
the signed text plus the base64 signature; central verifies the signature with the key it
trusts for that device, checks the manifest against the init and the assembled file, and
links the chain. A clip deleted on the edge leaves a hole in the chain; a forged or edited
one fails the signature; a replaced device database forks or breaks the chain.

The signed bytes are sent as they were signed (never re-serialised), so both sides agree on
them byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field, ValidationError

from wire.errors import ConfigError, WireError
from wire.models import AwareDatetime, FileKind, SafeName, Sha256Hex, WireId, WireModel

GENESIS = "0" * 64  # ``prev`` of a device's first manifest
MAX_MANIFEST_BYTES = 16 * 1024


class ClipManifest(WireModel):
    """What the device signs for one clip."""

    site: WireId
    device: WireId
    index: int = Field(ge=1)
    prev: Sha256Hex
    file_id: WireId
    kind: FileKind
    name: SafeName
    camera: WireId
    start: AwareDatetime
    end: AwareDatetime
    size: int = Field(ge=1)
    sha256: Sha256Hex
    event_ids: list[WireId] = Field(default_factory=list, max_length=256)
    created_at: AwareDatetime


def canonical(manifest: ClipManifest) -> str:
    """The text that is signed: sorted keys, no spaces."""
    return json.dumps(manifest.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def manifest_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def parse(body: str) -> ClipManifest:
    """Parse signed manifest text; ``WireError`` names what is wrong."""
    if len(body.encode()) > MAX_MANIFEST_BYTES:
        raise WireError(f"manifest: {len(body.encode())} bytes exceeds {MAX_MANIFEST_BYTES}")
    try:
        return ClipManifest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise WireError(f"manifest.{where}: {first['msg']}") from exc


# -- signatures -----------------------------------------------------------------------


def sign(body: str, key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.sign(body.encode())).decode()


def verify(body: str, signature: str, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), body.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# -- keys -----------------------------------------------------------------------------


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (what operators copy and trust)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"public key {text[:20]!r}…: not base64 of 32 Ed25519 bytes") from exc


def key_fingerprint(public_text: str) -> str:
    """Short SHA-256 fingerprint of a public key, for logs and listings."""
    return hashlib.sha256(base64.b64decode(public_text)).hexdigest()[:16]


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the signing key: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: the signing key must be Ed25519")
    return key


def write_new_private_key(path: Path) -> Ed25519PrivateKey:
    """Generate a key into ``path`` (mode 0600, never overwriting), fsynced."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """The device key at ``path``; made on first use (the private key never leaves the box)."""
    try:
        return write_new_private_key(path)
    except FileExistsError:
        return load_private_key(path)
