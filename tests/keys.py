"""Device signing keys for tests: a fixed key for the central message builders, and
``trust_edge`` to make central trust a real edge's key before it starts."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.db import Database
from central.ingest.manifests import trust
from wire.manifest import load_or_create_private_key, public_key_text

TEST_DEVICE_KEY = Ed25519PrivateKey.from_private_bytes(
    hashlib.sha256(b"reeferwatch test device key").digest()
)


def trust_key(db: Database, site: str, device: str, key: Ed25519PrivateKey) -> str:
    """Trust ``key`` for site/device in central's database; return its public text."""
    public = public_key_text(key)
    with db.session() as session:
        trust(session, site, device, public, "test")
        session.commit()
    return public


def trust_edge(db: Database, site: str, device: str, signing_key: Path) -> str:
    """Create the edge's signing key at its path (as its first run would) and trust it."""
    return trust_key(db, site, device, load_or_create_private_key(signing_key))
