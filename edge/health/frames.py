"""Sample a closed segment: decode only a few of its keyframes (PyAV) into small luma planes.

Only keyframe packets are handed to the decoder, evenly spread over the segment, so the CPU
cost is a handful of intra-frame decodes per segment. Frames are scaled to ``ANALYSIS_WIDTH``
(full-range grey) so thresholds do not depend on the camera's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from edge.health.image import Luma
from wire.errors import MediaError

ANALYSIS_WIDTH = 320


@dataclass(frozen=True)
class Sample:
    width: int  # decoded size of the stream
    height: int
    frames: list[tuple[float, Luma]]  # (seconds from the segment start, luma plane)


def _spread(items: list[av.Packet], n: int) -> list[av.Packet]:
    if len(items) <= n:
        return items
    if n == 1:
        return [items[0]]
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def sample_segment(path: Path, frames: int) -> Sample:
    """Decode up to ``frames`` keyframes of ``path``; ``MediaError`` if it cannot."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path.name}: no video stream")
            stream = container.streams.video[0]
            keys = [p for p in container.demux(stream) if p.is_keyframe and p.size]
            ctx = stream.codec_context
            origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
            decoded: list[av.VideoFrame] = []
            for packet in _spread(keys, frames):
                decoded.extend(ctx.decode(packet))
            decoded.extend(ctx.decode(None))
            out: list[tuple[float, Luma]] = []
            width = height = 0
            for frame in sorted(decoded, key=lambda f: f.pts or 0):
                width, height = frame.width, frame.height
                scaled_h = max(2, round(height * ANALYSIS_WIDTH / max(width, 1) / 2) * 2)
                grey = frame.reformat(width=ANALYSIS_WIDTH, height=scaled_h, format="gray")
                luma = grey.to_ndarray().astype(np.float32)
                out.append((max(0.0, float(frame.time or 0.0) - origin), luma))
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name}: cannot decode ({exc})") from exc
    except OSError as exc:
        raise MediaError(f"{path.name}: cannot read ({exc})") from exc
    if not out:
        raise MediaError(f"{path.name}: no decodable keyframe")
    return Sample(width, height, out)
