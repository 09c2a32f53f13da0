"""The C heap on the CPU: large activations reused instead of mapped anew, freed memory returned.

glibc serves every block over 32 MiB (its largest mmap threshold) with a fresh memory map and
unmaps it on free, and a thread's own heap holds at most 64 MiB and is unmapped when it
empties. A forward at 720p allocates many such blocks (IFRNet-S's 72-channel half-size
features are 33 MB each, three times that with three timesteps in one batch), so each has
its pages faulted in and zeroed again: 60,000-170,000 page faults per synthesized frame.
The **policy**: no memory maps for large blocks, up to :data:`KEEP_BYTES` kept free at the top
of the heap, one heap shared by all threads; the engine returns freed memory to the system
every so often (:class:`Trimmer`), so what the process keeps is bounded by its peak.

Set while a process runs (:func:`apply_policy`, what the engine does before it loads its
model: :func:`vsslomo.engine.claim_heap`) it covers the main thread and, where no other
thread has allocated yet, the threads that start afterwards; a thread that already has its
own heap keeps it (glibc fixes a thread's heap, and how many heaps there may be, when first
needed), and a heap whose thread ended is handed to the next new thread. Set in
the environment before the process starts (:data:`ENVIRONMENT`, :func:`environment_active`)
it covers every thread; the ``vsslomo`` command does that for itself and everything it
starts (:func:`reexec_with_policy`). ``benchmarks/cpu_heap.py`` measures both.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Callable

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
"""glibc ``mallopt`` parameters (``<malloc.h>``)."""

KEEP_BYTES = 2**30
"""Free memory the heap may keep at its top before ``free`` gives it back."""

ENVIRONMENT = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(KEEP_BYTES)}
"""The policy as glibc reads it at process start."""

OPT_OUT = "VSSLOMO_SYSTEM_HEAP"
"""Set (to anything) to keep glibc's defaults: the command then does not re-run itself."""

_REEXECUTED = "VSSLOMO_HEAP_REEXEC"
"""Marks a process the command re-ran with the policy (so it never re-runs twice)."""


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist (glibc)
    except (OSError, AttributeError):
        return None
    return libc


def available() -> bool:
    """Whether this process's C heap is glibc's (elsewhere the policy does nothing)."""
    return _glibc() is not None


def apply_policy() -> bool:
    """Set the policy in this running process; returns whether it could (glibc)."""
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    libc.mallopt(M_ARENA_MAX, 1)
    return True


def environment_active() -> bool:
    """Whether the environment holds the policy (as glibc read it when this process started)."""
    return all(os.environ.get(k) == v for k, v in ENVIRONMENT.items())


def reexec_with_policy() -> None:
    """Re-run this process's command line in place (same process id) with the policy in the environment.

    For the ``vsslomo`` executable only (:func:`vsslomo.cli.run`). Does nothing where the heap
    is not glibc's, where the policy is already in the environment, after one re-run, or when
    :data:`OPT_OUT` is set; returns only when it does nothing.
    """
    if os.environ.get(OPT_OUT) or os.environ.get(_REEXECUTED) or environment_active() or not available():
        return
    env = {**os.environ, **ENVIRONMENT, _REEXECUTED: "1"}
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None without a console (pythonw)
            stream.flush()
    os.execve(sys.executable, sys.orig_argv, env)


def environment_prefix() -> str:
    """The policy as shell assignments to put in front of a command (e.g. ``vspipe``)."""
    return " ".join(f"{k}={v}" for k, v in ENVIRONMENT.items())


def describe() -> str:
    """One line for ``vsslomo info``: which heap and whether the policy covers every thread."""
    if not available():
        return "not glibc: left as it is"
    if environment_active():
        return "glibc, large buffers reused in every thread (policy in the environment)"
    return f"glibc, large buffers reused in threads started after the model loads (every thread: {environment_prefix()})"


class Trimmer:
    """Gives freed heap memory back to the system every ``every`` calls of :meth:`tick`.

    Every frame allocates and frees buffers (VapourSynth frames, host arrays, tensors) from
    many threads, glibc keeps what they free, and the resident size of a long render crept
    up by 5-30 KB per output frame although nothing was leaked (``benchmarks/soak.py``).
    ``malloc_trim`` returns it; it costs about a millisecond.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._count = 0
        libc = _glibc()
        self._trim: Callable[[int], int] | None = libc.malloc_trim if libc is not None else None

    def tick(self) -> None:
        if self._trim is None:
            return
        with self._lock:
            self._count += 1
            due = self._count % self.every == 0
        if due:
            self._trim(0)
