"""Central's side of signed clip manifests (``wire.manifest``): trust, verify, chain.

``verify`` runs on every ``FileInit``: the device must have a trusted key (``device_keys``,
set by ``reeferwatch-central device enroll`` or ``device trust``), the init must carry a
manifest whose Ed25519 signature checks with that key, and the manifest must state the
same file as the init (the topic's site and device, file id, name, kind, camera, times,
size, SHA-256; its event ids among the init's). The assembled bytes are later checked
against that signed SHA-256, so a clip is ``verified`` only when both hold.

``link`` runs when a clip is stored: it records the manifest and checks it against its
neighbours in the device's chain. A fork (two manifests at one index) or a broken link
raises an alarm; the clip is kept — its own signature is good — and the alarm is the
evidence that the device's history was rewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db.models import Alarm, DeviceKey, Manifest
from central.db.types import utcnow
from wire.errors import ConfigError, WireError
from wire.manifest import GENESIS, ClipManifest, load_public_key, manifest_hash, parse, verify
from wire.models import FileInit

log = logging.getLogger(__name__)

UNTRUSTED_DEVICE = "untrusted_device"
MANIFEST_INVALID = "manifest_invalid"
MANIFEST_CHAIN = "manifest_chain"
SITE_MISMATCH = "site_mismatch"
HASH_MISMATCH = "hash_mismatch"  # assembled bytes differ from the signed SHA-256
SIGNED_FIELDS = ("file_id", "name", "kind", "camera", "start", "end", "size", "sha256")


@dataclass(frozen=True)
class Refusal:
    """Why a file is refused, and the alarm kind it raises."""

    alarm: str
    reason: str


def trusted_key(session: Session, site: str, device: str) -> DeviceKey | None:
    return session.scalars(
        select(DeviceKey)
        .where(DeviceKey.site == site, DeviceKey.device == device, DeviceKey.revoked_at.is_(None))
        .order_by(DeviceKey.id.desc())
    ).first()


def trust(session: Session, site: str, device: str, public_key: str, by: str) -> DeviceKey:
    """Trust ``public_key`` for the device from now on (any earlier key is revoked)."""
    load_public_key(public_key)  # ConfigError if it is not a key
    current = trusted_key(session, site, device)
    if current is not None and current.public_key == public_key.strip():
        return current
    at = utcnow()
    if current is not None:
        current.revoked_at = at
    row = DeviceKey(
        site=site, device=device, public_key=public_key.strip(), trusted_at=at, trusted_by=by
    )
    session.add(row)
    session.flush()
    return row


def untrust(session: Session, device: str) -> list[DeviceKey]:
    """Stop trusting every key of ``device``, at any site (its certificate was revoked, or
    replaced by a new bundle); returns the keys revoked. Its clips are refused from now on."""
    rows = list(
        session.scalars(
            select(DeviceKey)
            .where(DeviceKey.device == device, DeviceKey.revoked_at.is_(None))
            .order_by(DeviceKey.id)
        )
    )
    at = utcnow()
    for row in rows:
        row.revoked_at = at
    session.flush()
    return rows


def enrolled_elsewhere(session: Session, site: str, device: str) -> str | None:
    """The site a device is trusted for, when that is not ``site`` (the broker's ACL binds
    a certificate to its device id only, not to a site)."""
    return homes_elsewhere(session, [(site, device)])[(site, device)]


def homes_elsewhere(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str | None]:
    """``enrolled_elsewhere`` of many (site, device) pairs in one query."""
    wanted = set(keys)
    trusted: dict[str, set[str]] = {}
    rows = session.execute(
        select(DeviceKey.device, DeviceKey.site).where(
            DeviceKey.device.in_({device for _, device in wanted}),
            DeviceKey.revoked_at.is_(None),
        )
    )
    for device, site in rows:
        trusted.setdefault(device, set()).add(site)
    out: dict[tuple[str, str], str | None] = {}
    for site, device in wanted:
        sites = trusted.get(device, set())
        out[(site, device)] = None if not sites or site in sites else sorted(sites)[0]
    return out


def verify_init(session: Session, site: str, device: str, init: FileInit) -> Refusal | None:
    """None when the init's manifest is signed by the device's trusted key and matches."""
    key_row = trusted_key(session, site, device)
    if key_row is None:
        return Refusal(
            UNTRUSTED_DEVICE,
            f"no trusted signing key for {site}/{device}: "
            "enroll the device or run `reeferwatch-central device trust`",
        )
    if not init.manifest or not init.signature:
        return Refusal(MANIFEST_INVALID, "the file has no signed manifest")
    try:
        key = load_public_key(key_row.public_key)
    except ConfigError as exc:
        return Refusal(UNTRUSTED_DEVICE, f"the trusted key of {site}/{device} is unusable: {exc}")
    if not verify(init.manifest, init.signature, key):
        return Refusal(MANIFEST_INVALID, "manifest signature does not verify with the device key")
    try:
        manifest = parse(init.manifest)
    except WireError as exc:
        return Refusal(MANIFEST_INVALID, f"signed manifest is malformed: {exc}")
    if (manifest.site, manifest.device) != (site, device):
        return Refusal(
            MANIFEST_INVALID,
            f"manifest names {manifest.site}/{manifest.device}, sent as {site}/{device}",
        )
    for name in SIGNED_FIELDS:
        if getattr(manifest, name) != getattr(init, name):
            return Refusal(MANIFEST_INVALID, f"manifest disagrees with the init on {name}")
    extra = sorted(set(manifest.event_ids) - set(init.event_ids))
    if extra:
        return Refusal(MANIFEST_INVALID, f"manifest event {extra[0]} is missing from the init")
    return None


def link(session: Session, site: str, device: str, init: FileInit) -> list[str]:
    """Record a verified manifest in the device's chain; return the problems found."""
    assert init.manifest is not None and init.signature is not None
    manifest = parse(init.manifest)
    digest = manifest_hash(init.manifest)
    problems: list[str] = []
    at_index = session.get(Manifest, (site, device, manifest.index))
    if at_index is not None:
        if at_index.hash != digest:
            problems.append(
                f"fork at index {manifest.index}: files {at_index.file_id} and {manifest.file_id}"
            )
    else:
        session.add(
            Manifest(
                site=site,
                device=device,
                idx=manifest.index,
                hash=digest,
                prev=manifest.prev,
                file_id=manifest.file_id,
                body=init.manifest,
                signature=init.signature,
                received_at=utcnow(),
            )
        )
    problems.extend(_neighbour_problems(session, site, device, manifest, digest))
    for problem in problems:
        raise_alarm(session, site, device, MANIFEST_CHAIN, {"problem": problem})
    return problems


def _neighbour_problems(
    session: Session, site: str, device: str, manifest: ClipManifest, digest: str
) -> list[str]:
    problems: list[str] = []
    if manifest.index == 1 and manifest.prev != GENESIS:
        problems.append("index 1 does not start the chain")
    before = session.get(Manifest, (site, device, manifest.index - 1))
    if before is not None and before.hash != manifest.prev:
        problems.append(f"index {manifest.index} does not follow index {manifest.index - 1}")
    after = session.get(Manifest, (site, device, manifest.index + 1))
    if after is not None and after.prev != digest:
        problems.append(f"index {manifest.index + 1} does not follow index {manifest.index}")
    return problems


def raise_alarm(
    session: Session, site: str, device: str, kind: str, detail: dict[str, Any]
) -> None:
    """Add an open alarm unless one with the same kind and detail is open already."""
    for open_alarm in session.scalars(
        select(Alarm).where(
            Alarm.site == site,
            Alarm.device == device,
            Alarm.kind == kind,
            Alarm.cleared_at.is_(None),
        )
    ):
        if open_alarm.detail == detail:
            return
    log.warning("alarm %s for %s/%s: %s", kind, site, device, detail)
    session.add(Alarm(site=site, device=device, kind=kind, detail=detail, raised_at=utcnow()))


def chain_report(session: Session, site: str, device: str) -> dict[str, Any]:
    """Walk a device's stored chain: length, holes (indices not received) and broken links."""
    rows = session.scalars(
        select(Manifest)
        .where(Manifest.site == site, Manifest.device == device)
        .order_by(Manifest.idx)
    ).all()
    holes: list[list[int]] = []
    breaks: list[int] = []
    expected, prev_hash = 1, GENESIS
    for row in rows:
        if row.idx > expected:
            holes.append([expected, row.idx - 1])
        elif row.prev != prev_hash:
            breaks.append(row.idx)
        expected, prev_hash = row.idx + 1, row.hash
    last: datetime | None = rows[-1].received_at if rows else None
    return {
        "site": site,
        "device": device,
        "links": len(rows),
        "top": rows[-1].idx if rows else 0,
        "holes": holes,
        "breaks": breaks,
        "last_received": last.isoformat() if last else None,
    }
