"""ffmpeg: locate the binary, build the recorder commands, probe media files (PyAV)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import av

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


MPEGTS_STDIN = ["-f", "mpegts", "-i", "pipe:0"]
# A fixed-length stand-in for each segment's creation time: the segment muxer copies the
# same metadata into every segment, so ``edge.mp4meta`` patches in the real time later.
CREATION_TIME_PLACEHOLDER = "1970-01-01T00:00:00.000000Z"


def segmenter_command(
    segment_seconds: int,
    pattern: Path,
    segment_list: Path,
    metadata: dict[str, str],
    input_args: list[str] | None = None,
) -> list[str]:
    """Read the source (``input_args``; default MPEG-TS on stdin) and write clock-aligned MP4
    segments with stream copy, never re-encoding."""
    return [
        binary("ffmpeg"),
        "-hide_banner",
        "-loglevel", "error",
        "-fflags", "+genpts+nobuffer",
        "-probesize", "65536",
        "-analyzeduration", "500000",
        *(input_args if input_args is not None else MPEGTS_STDIN),
        "-map", "0:v",
        "-c", "copy",
        *metadata_args({**metadata, "creation_time": CREATION_TIME_PLACEHOLDER}),
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


def probe(path: Path) -> Probe:
    """Duration, video codec and container tags of ``path``; ``MediaError`` if unreadable.

    Read in-process with PyAV (libavformat, as ffprobe uses): a subprocess per segment
    cost about six times the CPU of the whole check.
    """
    try:
        with av.open(str(path)) as container:
            duration = container.duration / av.time_base if container.duration else 0.0
            video = container.streams.video
            codec = video[0].codec_context.name if video else None
            tags = {str(k): str(v) for k, v in container.metadata.items()}
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name}: unreadable ({exc})") from exc
    except OSError as exc:
        raise MediaError(f"{path.name}: cannot read ({exc})") from exc
    if not duration > 0:
        raise MediaError(f"{path.name}: no playable duration")
    return Probe(duration=duration, video_codec=codec, tags=tags)
