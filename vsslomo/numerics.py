"""One numerical policy for every model forward, so the bits never depend on the thread layout.

Why: on the CPU, torch's kernels split their reductions by the number of intra-op threads.
Small convolutions (batch 1, 3x3, at most 20,480 input values, e.g. RIFE's coarsest flow
level) go to ``thnn_conv2d``, an im2col + MKL ``sgemm`` whose summation order follows the
thread count; larger ones go to oneDNN, whose ``brgconv`` deconvolutions (RIFE's
``ConvTranspose2d`` heads) partition their work by the thread count as well. Each differs in
the last float bit, and some of those bits survive rounding to 8-bit output: with
``OMP_NUM_THREADS=1`` instead of 2 the filter changed 20 pixel values in 19 of 200 frames.
VapourSynth threads, local worker processes and Ray actors all see different thread counts,
so the policy is a *fixed inference thread layout*: every CPU forward runs with exactly
:func:`cpu_threads` intra-op threads, whatever the process's default, and the thread count
of the calling thread is restored afterwards (torch keeps it per OS thread, like OpenMP).

On CUDA the CPU thread count does not enter the math; what can change bits between runs of
one GPU model is cuDNN choosing its algorithm by timing (``benchmark``) or a
non-deterministic one: ``Eager(deterministic=True)`` pins both (``vsslomo render`` does).

The bits are then a function of the inputs, the versions of torch/vsslomo, the device kind
and :func:`cpu_threads` only; :func:`fingerprint` lists those facts for render manifests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

THREADS_ENV = "VSSLOMO_CPU_THREADS"
"""Environment variable overriding :data:`DEFAULT_CPU_THREADS` (a render passes it to its workers)."""

DEFAULT_CPU_THREADS = 1
"""Intra-op threads of every CPU forward. A constant, not the machine's core count: the
output bits depend on it. One thread has no barrier to wait at, so it never hits OpenMP's
spin-waits on a busy machine (with 2 threads on 2 loaded cores a RIFE forward at 128x96
took 5-6 s instead of 0.13 s); CPU parallelism comes from workers (``--workers``: one per
core by default) and from forwards running side by side. On 2 idle cores one thread
costs about 1.6x against two on one forward (RIFE, 448x256: 0.33 s against 0.19-0.24 s)."""


def cpu_threads() -> int:
    """Intra-op threads every CPU forward runs with (``$VSSLOMO_CPU_THREADS`` or the default).

    Raises ``ValueError`` when the variable is not a whole number from 1 to 256.
    """
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return DEFAULT_CPU_THREADS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise ValueError(f"{THREADS_ENV}={text!r} must be a whole number from 1 to 256")
    return value


@contextmanager
def fixed_numerics(device: "torch.device") -> Iterator[None]:
    """Run the enclosed model forward on the CPU with exactly :func:`cpu_threads` intra-op threads.

    The thread count is the calling thread's (torch keeps it per OS thread, like OpenMP), so
    forwards running side by side in several threads each get their own. On CUDA the CPU
    thread count does not enter the math; which cuDNN algorithms run is the backend's
    choice (:class:`vsslomo.backends.Eager` ``deterministic``), fixed when the engine is built.
    """
    import torch

    if device.type != "cpu":
        yield
        return
    threads = cpu_threads()
    previous = torch.get_num_threads()
    if previous == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fingerprint() -> dict[str, str]:
    """The facts besides the inputs that output bits depend on (for manifests and cluster checks).

    Read from the installed distributions, so that asking does not import torch.
    """
    from importlib.metadata import version

    from . import __version__

    return {
        "vsslomo": __version__,
        "torch": version("torch"),
        "vapoursynth": version("vapoursynth"),
        "cpu_threads": str(cpu_threads()),
    }
