"""Content-addressed clip storage: ``{data_dir}/blobs/sha256/ab/cd/<hex>``, plus the
partial-transfer and quarantine directories that live beside it."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from wire.errors import StoreError

_SHA = re.compile(r"^[0-9a-f]{64}$")
IN_USE_S = 3600.0  # a blob refreshed this recently is in use: ``retire`` keeps it
RETIRING = ".retiring"  # suffix of a blob moved aside by ``retire``
Retired = Literal["removed", "in use", "absent"]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(sha256: str) -> str:
    if not _SHA.match(sha256):
        raise StoreError(f"sha256: {sha256!r} is not 64 lowercase hex digits")
    return sha256


class BlobStore(Protocol):
    """What the rest of central needs from a blob store."""

    def put_file(self, path: Path, sha256: str) -> str: ...
    def open(self, sha256: str) -> BinaryIO: ...
    def path(self, sha256: str) -> Path: ...
    def exists(self, sha256: str) -> bool: ...
    def refresh(self, sha256: str) -> bool: ...


class FileBlobStore:
    """Filesystem blob store; ``put_file`` moves the file in with fsync + atomic rename."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "blobs" / "sha256"
        self.partial_dir = data_dir / "partial"
        self.quarantine_dir = data_dir / "quarantine"
        for directory in (self.root, self.partial_dir, self.quarantine_dir):
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        _check(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError as exc:
            raise StoreError(f"blob {sha256} is missing from {self.root}") from exc

    def put_file(self, path: Path, sha256: str) -> str:
        """Take ownership of ``path`` (already hashed by the caller) and return its key.

        The file is fsynced, renamed atomically into place and the directory fsynced. If the
        blob already exists it is marked as just used (``refresh``, so a retention sweep
        spares it until the caller's row is committed) and the source is removed: content
        addressing makes it a copy.
        """
        target = self.path(sha256)
        if self.refresh(sha256):
            path.unlink(missing_ok=True)
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != 18:  # EXDEV: partial dir on another filesystem
                raise StoreError(f"cannot move {path} into the blob store: {exc}") from exc
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(path, tmp)
            with tmp.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            path.unlink()
        os.chmod(target, 0o444)
        fsync_dir(target.parent)
        return sha256

    def refresh(self, sha256: str) -> bool:
        """Mark the blob as just used (its modification time); False if there is none.
        ``retire`` never removes a blob used within ``IN_USE_S``."""
        try:
            os.utime(self.path(sha256))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"cannot mark blob {sha256} as used: {exc}") from exc
        return True

    def retire(self, sha256: str) -> Retired:
        """Remove a blob no row names any more, unless it was used within ``IN_USE_S``
        (a new clip with the same content, whose row is not committed yet).

        The blob is first renamed aside, then its time is read: an ingest that refreshed it
        before the rename is seen (the blob goes back), one that tries after the rename
        finds no blob and installs its own copy. Either way the new clip keeps its file."""
        target = self.path(sha256)
        aside = target.with_name(sha256 + RETIRING)
        try:
            os.replace(target, aside)
        except FileNotFoundError:
            return "absent"
        except OSError as exc:
            raise StoreError(f"cannot retire blob {sha256}: {exc}") from exc
        try:
            if time.time() - aside.stat().st_mtime < IN_USE_S:
                os.replace(aside, target)  # an ingest's own copy there is the same bytes
                return "in use"
            aside.unlink()
        except OSError as exc:
            raise StoreError(f"cannot retire blob {sha256}: {exc}") from exc
        fsync_dir(target.parent)
        return "removed"

    def recover_retiring(self) -> int:
        """Put back the blobs a ``retire`` interrupted (a crash) left aside; how many."""
        count = 0
        for aside in self.root.glob(f"*/*/*{RETIRING}"):
            os.replace(aside, aside.with_name(aside.name.removesuffix(RETIRING)))
            count += 1
        return count

    # -- transfer scratch space -------------------------------------------------------

    def partial_path(self, file_id: str) -> Path:
        return self.partial_dir / f"{file_id}.part"

    def quarantine(self, file_id: str, reason: str) -> Path | None:
        """Move a partial file to quarantine (kept as evidence) with a reason beside it."""
        source = self.partial_path(file_id)
        if not source.exists():
            return None
        stem = f"{file_id}.{os.urandom(4).hex()}"
        target = self.quarantine_dir / f"{stem}.part"
        os.replace(source, target)
        (self.quarantine_dir / f"{stem}.reason.txt").write_text(reason + "\n")
        fsync_dir(self.quarantine_dir)
        return target
