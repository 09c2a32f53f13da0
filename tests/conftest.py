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


def sigint_default() -> None:
    """``preexec_fn`` of a child a test will interrupt: SIGINT back at its default disposition.

    A job that a non-interactive shell starts in the background (``pytest ... &``) inherits
    SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler, so the render
    rightly ignores the signal the test sends (the "lost SIGINT" flake of sessions 3-5: it
    came only in full runs started in the background).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_state(pid: int) -> str:
    """How process ``pid`` and this one treat SIGINT (for the messages of tests that send it).

    Reads the ignored / caught / blocked masks of ``/proc/PID/status`` (bit 1 is SIGINT), so
    that a signal that gets lost says whether it was ignored, not caught, or blocked.
    """
    import signal
    from pathlib import Path

    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as exc:
        return f"no status of {pid}: {exc}"
    masks = {k: int(v, 16) for k, _, v in (line.partition(":\t") for line in lines) if k in ("SigIgn", "SigCgt", "SigBlk")}
    child = ", ".join(f"{k} {'yes' if m >> 1 & 1 else 'no'}" for k, m in masks.items())
    return f"SIGINT in {pid}: {child}; this process's handler: {signal.getsignal(signal.SIGINT)!r}"
