"""ffmpeg/ffprobe: locate the binaries, build the recorder commands, probe media files."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wire.errors import ExternalProgramMissing, MediaError


def binary(name: str) -> str:
    """Path of ``ffmpeg``/``ffprobe``; falls back to imageio-ffmpeg's ffmpeg if installed."""
    found = shutil.which(name)
    if found:
        return found
    if name == "ffmpeg":
        try:
            import imageio_ffmpeg

            return str(imageio_ffmpeg.get_ffmpeg_exe())
        except ImportError:
            pass
    raise ExternalProgramMissing(f"{name} is not installed (apt install ffmpeg)")


def metadata_args(metadata: dict[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in metadata.items():
        args += ["-metadata", f"{key}={value}"]
    return args


def testsrc_command(width: int, height: int, fps: int, bitrate_kbps: int) -> list[str]:
    """The camera of the demo and CI: lavfi testsrc2 encoded in real time to MPEG-TS on stdout."""
    return [
        binary("ffmpeg"),
        "-hide_banner",
        "-loglevel", "error",
        "-nostdin",
        "-re",
        "-f", "lavfi",
        "-i", f"testsrc2=size={width}x{height}:rate={fps}",
        "-an",
        "-c:v", "libx264",
        "-preset", "ultrafast",
        "-tune", "zerolatency",
        "-pix_fmt", "yuv420p",
        "-b:v", f"{bitrate_kbps}k",
        "-maxrate", f"{bitrate_kbps}k",
        "-bufsize", f"{bitrate_kbps * 2}k",
        "-g", str(fps),
        "-keyint_min", str(fps),
        "-sc_threshold", "0",
        "-f", "mpegts",
        "pipe:1",
    ]  # fmt: skip


def segmenter_command(
    segment_seconds: int,
    pattern: Path,
    segment_list: Path,
    metadata: dict[str, str],
) -> list[str]:
    """Read MPEG-TS on stdin and write clock-aligned MP4 segments with stream copy."""
    return [
        binary("ffmpeg"),
        "-hide_banner",
        "-loglevel", "error",
        "-fflags", "+genpts+nobuffer",
        "-probesize", "65536",
        "-analyzeduration", "500000",
        "-f", "mpegts",
        "-i", "pipe:0",
        "-map", "0:v",
        "-c", "copy",
        *metadata_args(metadata),
        "-f", "segment",
        "-segment_time", str(segment_seconds),
        "-segment_atclocktime", "1",
        "-reset_timestamps", "1",
        "-strftime", "1",
        "-segment_format", "mp4",
        "-segment_format_options", "movflags=+use_metadata_tags",
        "-segment_list", str(segment_list),
        "-segment_list_type", "csv",
        str(pattern),
    ]  # fmt: skip


@dataclass(frozen=True)
class Probe:
    duration: float
    video_codec: str | None
    tags: dict[str, str]


def probe(path: Path, timeout: float = 20.0) -> Probe:
    """Duration, video codec and container tags of ``path``; ``MediaError`` if unreadable."""
    argv = [
        binary("ffprobe"),
        "-v", "error",
        "-show_entries", "format=duration:format_tags:stream=codec_name,codec_type",
        "-of", "json",
        str(path),
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{path.name}: ffprobe timed out") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise MediaError(f"{path.name}: ffprobe failed ({detail[0]})")
    try:
        info = json.loads(done.stdout)
        fmt = info.get("format", {})
        duration = float(fmt.get("duration", "nan"))
    except (ValueError, TypeError) as exc:
        raise MediaError(f"{path.name}: ffprobe gave no duration") from exc
    if not duration > 0:
        raise MediaError(f"{path.name}: no playable duration")
    codec = next(
        (s.get("codec_name") for s in info.get("streams", []) if s.get("codec_type") == "video"),
        None,
    )
    tags = {str(k): str(v) for k, v in (fmt.get("tags") or {}).items()}
    return Probe(duration=duration, video_codec=codec, tags=tags)
