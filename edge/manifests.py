"""The device's side of signed clip manifests (``wire.manifest``): sign, chain, look up.

A manifest is written in the same transaction that records the clip and queues it, so every
queued clip has exactly one link in the device's chain and no clip can be queued unsigned
by the recording process. The chain lives in the ``manifests`` table (``idx`` from 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.timeutil import now
from wire.manifest import GENESIS, ClipManifest, canonical, manifest_hash, public_key_text, sign


@dataclass(frozen=True)
class SignedManifest:
    index: int
    body: str
    signature: str
    hash: str


@dataclass(frozen=True)
class ClipFacts:
    """What a manifest states about one clip file."""

    file_id: str
    kind: str
    name: str
    camera: str
    start: datetime
    end: datetime
    size: int
    sha256: str
    event_ids: list[str]


class ManifestSigner:
    """Signs the next manifest of one device with its Ed25519 key."""

    def __init__(self, key: Ed25519PrivateKey, site: str, device: str) -> None:
        self.key = key
        self.site = site
        self.device = device

    @property
    def public_key(self) -> str:
        return public_key_text(self.key)

    def append(self, db: sqlite_utils.Database, facts: ClipFacts) -> SignedManifest:
        """Sign ``facts`` as the next link and insert it; call inside the clip's transaction."""
        last = db.execute("SELECT idx, hash FROM manifests ORDER BY idx DESC LIMIT 1").fetchone()
        index, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
        manifest = ClipManifest(
            site=self.site,
            device=self.device,
            index=index,
            prev=prev,
            file_id=facts.file_id,
            kind=facts.kind,  # type: ignore[arg-type]
            name=facts.name,
            camera=facts.camera,
            start=facts.start,
            end=facts.end,
            size=facts.size,
            sha256=facts.sha256,
            event_ids=facts.event_ids,
            created_at=now(),
        )
        body = canonical(manifest)
        signed = SignedManifest(index, body, sign(body, self.key), manifest_hash(body))
        db.execute(
            "INSERT INTO manifests (idx, file_id, body, signature, hash) VALUES (?, ?, ?, ?, ?)",
            (signed.index, facts.file_id, signed.body, signed.signature, signed.hash),
        )
        return signed


def manifest_for(db: sqlite_utils.Database, file_id: str) -> SignedManifest | None:
    row = db.execute(
        "SELECT idx, body, signature, hash FROM manifests WHERE file_id = ?", (file_id,)
    ).fetchone()
    return SignedManifest(int(row[0]), row[1], row[2], row[3]) if row else None
