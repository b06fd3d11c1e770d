"""The data volume: its size and free space, the retention quota, and the bytes in use."""

from __future__ import annotations

import os
from pathlib import Path

from edge.config import EdgeConfig
from edge.store import Store


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def volume(config: EdgeConfig) -> tuple[int, int]:
    """(total, free) bytes of the volume holding the data directory."""
    st = os.statvfs(_existing(config.data_dir))
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def quota_bytes(config: EdgeConfig, total: int | None = None) -> int:
    total = volume(config)[0] if total is None else total
    quota = int(total * config.retention.max_percent / 100)
    if config.retention.max_bytes:
        quota = min(quota, config.retention.max_bytes)
    return quota


def used_bytes(store: Store) -> int:
    segs = store.query("SELECT COALESCE(SUM(bytes), 0) FROM segments")[0][0]
    clips = store.query("SELECT COALESCE(SUM(size), 0) FROM clips WHERE deleted_at IS NULL")[0][0]
    return int(segs) + int(clips)
