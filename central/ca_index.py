"""The CA's index, ``{ca dir}/index.json``: every certificate issued, whether and why it was
revoked, and the last CRL number.

Format, versioned: ``{"version": 2, "crl_number": N, "issued": [entry, ...]}``; an entry holds
kind, name (CN), site (devices), serial (hex), sha256, not_after, issued_at and, once revoked,
``revoked_at`` and ``reason``. Version 1 (no ``crl_number``, no revocations) is read as it is
and written back as version 2; a program that knows only version 1 still reads the entries.
The file is rewritten atomically, under an exclusive lock (``index.lock``) that also covers
writing the CRL, so a timer re-issuing the CRL cannot lose an operator's revocation.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from central import crl
from wire.errors import ReeferWatchError

INDEX_NAME = "index.json"
INDEX_VERSION = 2
READS = (1, INDEX_VERSION)

Entry = dict[str, Any]


class CaError(ReeferWatchError):
    """The CA cannot do what was asked (missing, exists already, bad name, ...)."""


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _when(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


class Index:
    """``index.json`` in ``directory``; ``locked()`` for any read-modify-write."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / INDEX_NAME
        self._lock_file = directory / "index.lock"

    def load(self) -> dict[str, Any]:
        """The whole document (an empty one when no certificate was issued yet)."""
        if not self.file.exists():
            return {"version": INDEX_VERSION, "crl_number": 0, "issued": []}
        try:
            doc = json.loads(self.file.read_text())
            version = doc["version"]
            entries = list(doc["issued"])
            number = int(doc.get("crl_number", 0))
        except (ValueError, KeyError, TypeError) as exc:
            raise CaError(f"{self.file} is not a CA index: {exc!r}") from exc
        if version not in READS:
            raise CaError(
                f"{self.file} is index version {version}; this program reads versions {READS}"
            )
        return {"version": INDEX_VERSION, "crl_number": number, "issued": entries}

    def save(self, doc: dict[str, Any]) -> None:
        crl.write_atomic(self.file, (json.dumps(doc, indent=2) + "\n").encode(), 0o644)

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """The document, loaded under the lock; the caller ``save``s what it changed."""
        with open(self._lock_file, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            yield self.load()

    def entries(self) -> list[Entry]:
        return list(self.load()["issued"])

    def append(self, entry: Entry) -> None:
        with self.locked() as doc:
            doc["issued"].append(entry)
            self.save(doc)

    def has_valid(self, name: str) -> bool:
        """Whether a certificate named ``name`` is neither revoked nor expired."""
        at = now()
        return any(
            e["name"] == name and "revoked_at" not in e and _when(e["not_after"]) > at
            for e in self.entries()
        )


def mark_revoked(
    doc: dict[str, Any], match: Callable[[Entry], bool], what: str, reason: str
) -> list[Entry]:
    """Mark the unrevoked entries of ``doc`` that ``match`` as revoked for ``reason``."""
    if reason not in crl.REASONS:
        raise CaError(f"unknown revocation reason {reason!r}; one of {sorted(crl.REASONS)}")
    found = [entry for entry in doc["issued"] if match(entry)]
    if not found:
        raise CaError(f"no certificate with {what} in the CA index")
    revoked = [entry for entry in found if "revoked_at" not in entry]
    if not revoked:
        last = found[-1]
        raise CaError(
            f"every certificate with {what} is revoked already "
            f"(serial {last['serial']}: {last['revoked_at']}, {last['reason']})"
        )
    at = now().isoformat(timespec="seconds")
    for entry in revoked:
        entry.update(revoked_at=at, reason=reason)
    return revoked


def crl_entries(doc: dict[str, Any]) -> list[crl.Revoked]:
    """What the CRL lists: revoked certificates that have not expired (an expired one is
    refused anyway)."""
    at = now()
    return [
        crl.Revoked(int(e["serial"], 16), _when(e["revoked_at"]), e["reason"])
        for e in doc["issued"]
        if "revoked_at" in e and _when(e["not_after"]) > at
    ]
