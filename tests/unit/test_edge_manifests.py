"""The edge signs a manifest for every clip it queues, chained in the order they were queued."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from edge.manifests import ManifestSigner
from edge.store import Store
from edge.timeutil import now
from wire.errors import ConfigError, WireError
from wire.manifest import (
    GENESIS,
    load_or_create_private_key,
    load_private_key,
    manifest_hash,
    parse,
    verify,
)


def _add(store: Store, file_id: str, event_id: str | None = "EV1") -> None:
    start = now()
    store.add_clip(
        file_id, event_id, "cam1", Path(f"/clips/{file_id}.mp4"), start,
        start + timedelta(seconds=20), 1234, "ab" * 32, [], 20,
    )  # fmt: skip


def test_clips_are_signed_and_chained(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    with Store(tmp_path / "edge.db", signer=ManifestSigner(key, "site1", "edge1")) as store:
        _add(store, "F1")
        _add(store, "F2", event_id=None)
        first, second = store.manifest("F1"), store.manifest("F2")
    assert first is not None and second is not None
    for signed in (first, second):
        assert verify(signed.body, signed.signature, key.public_key())
        assert signed.hash == manifest_hash(signed.body)
    one, two = parse(first.body), parse(second.body)
    assert (one.index, one.prev) == (1, GENESIS)
    assert (two.index, two.prev) == (2, first.hash)
    assert (one.site, one.device, one.file_id, one.size) == ("site1", "edge1", "F1", 1234)
    assert one.event_ids == ["EV1"] and two.event_ids == []
    assert one.name == "F1.mp4" and one.kind == "clip"


def test_a_store_without_signer_queues_unsigned(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store:
        _add(store, "F1")
        assert store.manifest("F1") is None
        assert store.outbox_item("file", "F1") is not None


def test_signing_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.key"
    key = load_or_create_private_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_or_create_private_key(path)
    assert again.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    path.write_text("not a key")
    with pytest.raises(ConfigError, match="not a PEM private key"):
        load_private_key(path)


@given(st.text(max_size=300))
def test_manifest_parser_rejects_garbage_with_a_wire_error(text: str) -> None:
    try:
        parse(text)
    except WireError as exc:
        assert str(exc).startswith("manifest")
