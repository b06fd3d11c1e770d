"""Cut a time window out of indexed segments with stream copy (no re-encode).

``cut_window`` writes a concat-demuxer list with ``inpoint``/``outpoint`` per segment and runs
``ffmpeg -f concat -c copy -movflags +faststart``; the result carries site, camera, location
code and ``creation_time`` (= start) as MP4 metadata. The result lists the gaps inside the
window: holes between segments merged with the recorder's ``gaps`` table (outages,
restarts, quarantined segments). With stream copy a cut starts at the
keyframe at or before ``start`` (the recorder makes one every second).
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge import ffmpeg, gaps, procs
from edge.store import Segment, Store
from edge.timeutil import file_stamp
from wire.errors import MediaError, NotCoveredError

log = logging.getLogger(__name__)

GAP_TOLERANCE_S = 0.5
Gap = tuple[datetime, datetime]


@dataclass(frozen=True)
class CutResult:
    path: Path
    start: datetime
    end: datetime
    segments: int
    gaps: list[Gap] = field(default_factory=list)


def clip_name(site: str, camera: str, start: datetime, event_id: str) -> str:
    """``{site}_{camera}_{YYYYmmddTHHMMSS}{±hhmm}_{event_id}.mp4``."""
    return f"{site}_{camera}_{file_stamp(start)}_{event_id}.mp4"


def find_gaps(segments: list[Segment], start: datetime, end: datetime) -> list[Gap]:
    """Parts of ``[start, end]`` that no segment covers (longer than the tolerance)."""
    gaps: list[Gap] = []
    cursor = start
    tolerance = timedelta(seconds=GAP_TOLERANCE_S)
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.start - cursor > tolerance:
            gaps.append((cursor, min(seg.start, end)))
        cursor = max(cursor, seg.end)
        if cursor >= end:
            break
    if end - cursor > tolerance:
        gaps.append((cursor, end))
    return gaps


def merge_gaps(found: list[Gap], start: datetime, end: datetime) -> list[Gap]:
    """Union of overlapping gaps, clipped to ``[start, end]``, oldest first."""
    merged: list[Gap] = []
    for a, b in sorted((max(a, start), min(b, end)) for a, b in found):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def window_gaps(store: Store, camera: str, segments: list[Segment], start: datetime,
                end: datetime) -> list[Gap]:  # fmt: skip
    """Gaps inside the window: holes between the segments and gaps the recorder recorded."""
    recorded = [(g.start, g.end) for g in gaps.gaps(store, camera, start, end)]
    return merge_gaps(find_gaps(segments, start, end) + recorded, start, end)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def cut_window(
    store: Store,
    camera: str,
    start: datetime,
    end: datetime,
    out_path: Path,
    metadata: dict[str, str],
    timeout: float = 120.0,
) -> CutResult:
    """Cut ``[start, end]`` of ``camera`` into ``out_path`` (MP4, stream copy, faststart).

    Raises ``NotCoveredError`` when no indexed segment overlaps the window and
    ``MediaError`` when ffmpeg fails. The result lists the gaps inside the window.
    """
    if end <= start:
        raise MediaError(f"window end {end.isoformat()} is not after start {start.isoformat()}")
    segments = [s for s in store.segments_overlapping(camera, start, end) if s.path.exists()]
    if not segments:
        raise NotCoveredError(
            f"camera {camera}: no segment covers {start.isoformat()} – {end.isoformat()}"
        )
    lines = ["ffconcat version 1.0"]
    for seg in segments:
        lines.append(f"file {_quote(seg.path)}")
        inpoint = (start - seg.start).total_seconds()
        outpoint = (end - seg.start).total_seconds()
        if inpoint > 0:
            lines.append(f"inpoint {inpoint:.3f}")
        if outpoint < seg.duration:
            lines.append(f"outpoint {outpoint:.3f}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    list_path = out_path.with_name(out_path.name + ".ffconcat")
    tmp_path = out_path.with_name(out_path.name + ".part")
    list_path.write_text("\n".join(lines) + "\n")
    meta = dict(metadata)
    meta["creation_time"] = start.astimezone(timezone.utc).isoformat(timespec="microseconds")
    argv = [
        ffmpeg.binary("ffmpeg"),
        "-hide_banner",
        "-loglevel", "error",
        "-nostdin",
        "-y",
        "-f", "concat",
        "-safe", "0",
        "-i", str(list_path),
        "-map", "0:v",
        "-c", "copy",
        "-avoid_negative_ts", "make_zero",
        *ffmpeg.metadata_args(meta),
        "-movflags", "+faststart+use_metadata_tags",
        "-f", "mp4",
        str(tmp_path),
    ]  # fmt: skip
    try:
        proc = procs.spawn(argv, stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            procs.stop(proc)
            raise MediaError(f"{out_path.name}: ffmpeg cut timed out") from exc
        if proc.returncode != 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise MediaError(f"{out_path.name}: ffmpeg cut failed ({detail[0]})")
        with tmp_path.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, out_path)
    finally:
        list_path.unlink(missing_ok=True)
        tmp_path.unlink(missing_ok=True)
    covered_start = max(start, segments[0].start)
    covered_end = min(end, max(s.end for s in segments))
    return CutResult(
        path=out_path,
        start=covered_start,
        end=covered_end,
        segments=len(segments),
        gaps=window_gaps(store, camera, segments, start, end),
    )
