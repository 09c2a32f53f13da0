"""Shared helpers for the test suite: small real clips with known content."""

from __future__ import annotations

import numpy as np
import pytest


def frame_planes(frame) -> list[np.ndarray]:
    """A VapourSynth frame's planes as numpy copies."""
    return [np.array(frame[p], copy=True) for p in range(frame.format.num_planes)]


def frames_equal(a, b) -> bool:
    """Bit-exact comparison of two VapourSynth frames."""
    return all(np.array_equal(x, y) for x, y in zip(frame_planes(a), frame_planes(b)))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


@pytest.fixture
def core():
    """The VapourSynth core of this environment."""
    import vapoursynth as vs

    return vs.core
