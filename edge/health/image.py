"""Image metrics on a luma plane (2-D ``uint8``/float array, 0-255), with numpy only."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Luma = npt.NDArray[np.float32]


def mean_luma(luma: Luma) -> float:
    return float(luma.mean())


def laplacian_variance(luma: Luma) -> float:
    """Variance of the 4-neighbour Laplacian: low when the image has no sharp edges."""
    if luma.shape[0] < 3 or luma.shape[1] < 3:
        return 0.0
    lap = (
        luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * luma[1:-1, 1:-1]
    )
    return float(lap.var())


def mean_abs_diff(a: Luma, b: Luma) -> float:
    """Mean absolute difference of two planes; infinite when their sizes differ."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).mean())
