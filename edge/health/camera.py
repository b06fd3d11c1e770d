"""Per-camera health: frozen, dark, blurred, bitrate drop and resolution drop.

``CameraChecker.check`` takes one closed segment and its sampled keyframes and raises or
clears faults (``edge.faults``) on the camera:

- ``dark``: the median mean luma of the sampled frames is below ``dark_luma``;
- ``blurred``: the median variance of the Laplacian is below ``blur_threshold``;
- ``frozen``: consecutive sampled frames stay within ``frozen_tolerance`` (mean absolute
  difference) for at least ``frozen_seconds``, across contiguous segments;
- ``bitrate_drop``: the segment's bitrate is below ``bitrate_drop_ratio`` × the median of the
  camera's previous ``baseline_segments`` segments (needs 3 of them);
- ``resolution_drop``: the decoded size has fewer pixels than the most common size of the
  previous sampled segments (needs 3 of them).

A dark image says nothing about sharpness or motion, so frozen and blurred keep their state
while the image is dark; bitrate is judged only on an otherwise healthy image (a dark, frozen
or blurred picture compresses to fewer bits by nature). A drop is measured against the recent
baseline, so a lasting change becomes the new baseline after about half the baseline window.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from typing import Any

from edge.config import HealthConfig
from edge.faults import Faults
from edge.health.frames import Sample
from edge.health.image import Luma, laplacian_variance, mean_abs_diff, mean_luma
from edge.store import Segment, Store

CAMERA_FAULTS = ("frozen", "dark", "blurred", "bitrate_drop", "resolution_drop")
MIN_BASELINE = 3


class CameraChecker:
    """Health state of one camera between segments; used by one thread."""

    def __init__(self, camera: str, config: HealthConfig, faults: Faults, store: Store) -> None:
        self.camera = camera
        self.config = config
        self.faults = faults
        self.store = store
        self._prev: tuple[float, Luma] | None = None  # last sampled frame (abs ts, luma)
        self._still_since: float | None = None
        self._prev_end: float | None = None
        self._sizes: deque[tuple[int, int]] = deque(maxlen=config.baseline_segments)

    def check(self, segment: Segment, sample: Sample) -> dict[str, bool]:
        """Evaluate one segment; return the conditions judged (name → faulty)."""
        cfg = self.config
        start = segment.start.timestamp()
        if self._prev_end is not None and start - self._prev_end > max(2.0, segment.duration):
            self._prev, self._still_since = None, None  # not contiguous: a gap in recording
        self._prev_end = segment.end.timestamp()
        lumas = [luma for _, luma in sample.frames]
        brightness = statistics.median(mean_luma(luma) for luma in lumas)
        judged: dict[str, bool] = {"dark": brightness < cfg.dark_luma}
        details: dict[str, dict[str, Any]] = {"dark": {"mean_luma": brightness}}
        if judged["dark"]:
            self._prev, self._still_since = None, None
        else:
            sharpness = statistics.median(laplacian_variance(luma) for luma in lumas)
            judged["blurred"] = sharpness < cfg.blur_threshold
            details["blurred"] = {"laplacian_variance": sharpness}
            still = self._still_seconds(start, sample)
            judged["frozen"] = still >= cfg.frozen_seconds
            details["frozen"] = {"seconds": still}
            if not any(judged.values()):
                self._judge_bitrate(segment, judged, details)
        self._judge_resolution(sample, judged, details)
        for name, faulty in judged.items():
            self.faults.set_fault(self.camera, name, faulty, details.get(name))
        return judged

    def _still_seconds(self, start: float, sample: Sample) -> float:
        """Length of the current run of identical sampled frames, in seconds."""
        tolerance = self.config.frozen_tolerance
        for offset, luma in sample.frames:
            ts = start + offset
            if self._prev is not None and mean_abs_diff(self._prev[1], luma) <= tolerance:
                if self._still_since is None:
                    self._still_since = self._prev[0]
            else:
                self._still_since = None
            self._prev = (ts, luma)
        if self._still_since is None or self._prev is None:
            return 0.0
        return self._prev[0] - self._still_since

    def _judge_bitrate(
        self, segment: Segment, judged: dict[str, bool], details: dict[str, dict[str, Any]]
    ) -> None:
        if segment.duration <= 0:
            return
        rows = self.store.query(
            "SELECT bytes, duration FROM segments WHERE camera = ? AND end_ts < ? AND duration > 0"
            " ORDER BY end_ts DESC LIMIT ?",
            (self.camera, segment.end.timestamp() - 0.001, self.config.baseline_segments),
        )
        rates = [8 * r["bytes"] / r["duration"] for r in rows if r["bytes"]]
        if len(rates) < MIN_BASELINE:
            return
        baseline = statistics.median(rates)
        rate = 8 * segment.bytes / segment.duration
        judged["bitrate_drop"] = rate < self.config.bitrate_drop_ratio * baseline
        details["bitrate_drop"] = {"bps": rate, "baseline_bps": baseline}

    def _judge_resolution(
        self, sample: Sample, judged: dict[str, bool], details: dict[str, dict[str, Any]]
    ) -> None:
        size = (sample.width, sample.height)
        if len(self._sizes) >= MIN_BASELINE:
            usual = Counter(self._sizes).most_common(1)[0][0]
            judged["resolution_drop"] = size[0] * size[1] < usual[0] * usual[1]
            details["resolution_drop"] = {
                "size": f"{size[0]}x{size[1]}",
                "baseline": f"{usual[0]}x{usual[1]}",
            }
        self._sizes.append(size)
