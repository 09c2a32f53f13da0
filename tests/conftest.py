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


@pytest.fixture
def core():
    """The VapourSynth core of this environment."""
    import vapoursynth as vs

    return vs.core


@pytest.fixture(scope="module")
def one_thread():
    """Tiny frames gain nothing from threads; on a shared machine they only contend (``usefixtures`` per module)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
