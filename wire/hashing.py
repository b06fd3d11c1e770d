"""SHA-256 of a file, read in blocks: the hash both ends compare to prove a file arrived intact."""

from __future__ import annotations

import hashlib
from pathlib import Path

HASH_BLOCK = 1024 * 1024


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``, without reading it into memory whole."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
