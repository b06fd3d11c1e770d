"""Give each recorded MP4 segment its own ``creation_time`` (Art. 19: time on every file).

The segment muxer copies one metadata set into every segment, and ``creation_time=now`` is
written literally as "now" once ``use_metadata_tags`` is on. So the segmenter writes a
fixed-length placeholder (``edge.ffmpeg.CREATION_TIME_PLACEHOLDER``) and ``stamp_creation_time``
patches the segment in place once it is closed: the placeholder string in the metadata and the
creation/modification times of the ``mvhd``, ``tkhd`` and ``mdhd`` boxes. Same lengths, so no
box moves; the file's modification time is kept.
"""

from __future__ import annotations

import os
import struct
from datetime import datetime, timezone
from pathlib import Path

from edge.ffmpeg import CREATION_TIME_PLACEHOLDER

MP4_EPOCH_OFFSET = 2082844800  # seconds from 1904-01-01 to 1970-01-01
CONTAINERS = {b"moov", b"trak", b"mdia"}
TIMED = {b"mvhd", b"tkhd", b"mdhd"}


def _find_moov(fh: object, size: int) -> tuple[int, int] | None:
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)  # type: ignore[attr-defined]
        header = fh.read(16)  # type: ignore[attr-defined]
        length, kind = struct.unpack(">I4s", header[:8])
        if length == 1:
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:
            length = size - pos
        if length < 8:
            return None
        if kind == b"moov":
            return pos, length
        pos += length
    return None


def _patch_times(moov: bytearray, start: int, end: int, stamp: int) -> None:
    pos = start
    while pos + 8 <= end:
        length, kind = struct.unpack(">I4s", moov[pos : pos + 8])
        if length < 8 or pos + length > end:
            return
        if kind in CONTAINERS:
            _patch_times(moov, pos + 8, pos + length, stamp)
        elif kind in TIMED:
            version = moov[pos + 8]
            field = pos + 12
            if version == 1:
                struct.pack_into(">QQ", moov, field, stamp, stamp)
            else:
                struct.pack_into(">II", moov, field, stamp & 0xFFFFFFFF, stamp & 0xFFFFFFFF)
        pos += length


def stamp_creation_time(path: Path, start: datetime) -> bool:
    """Write ``start`` as the creation time of the closed segment at ``path``.

    Returns False (and changes nothing) when the file has no placeholder, e.g. when it was
    already stamped.
    """
    value = start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
    placeholder = CREATION_TIME_PLACEHOLDER.encode()
    assert len(value) == len(placeholder)
    stat = path.stat()
    with path.open("r+b") as fh:
        found = _find_moov(fh, stat.st_size)
        if found is None:
            return False
        offset, length = found
        fh.seek(offset)
        moov = bytearray(fh.read(length))
        at = moov.find(placeholder)
        if at < 0:
            return False
        moov[at : at + len(value)] = value
        _patch_times(moov, 8, len(moov), int(start.timestamp()) + MP4_EPOCH_OFFSET)
        fh.seek(offset)
        fh.write(moov)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return True
