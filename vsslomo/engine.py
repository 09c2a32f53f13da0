"""Running a model for the filter: one shared instance, cached stages, chunked timesteps.

VapourSynth asks for output frames from many threads, in any order. For each output frame
``n`` the filter hands :meth:`Renderer.frame` the frame's plan step and two loaders for its
source frames (RGB float arrays); everything below is torch only, no VapourSynth:

* **frames**: a source frame is uploaded, sanitised (non-finite samples become the nearest
  valid value: NaN and -inf 0, +inf 1), padded and encoded (the model's per-frame stage)
  once, and the result serves both pairs that share it (:class:`OnceCache`, bounded);
* **pairs**: the per-pair stage (e.g. Super SloMo's flows) runs once per pair;
* **chunks**: the output frames of a pair are rendered in chunks of at most
  :meth:`Engine.batch_limit` timesteps, sized to a memory budget, so memory per pair does
  not grow with the factor and an absurd factor never allocates per-pair work in
  proportion to it; a chunk is computed once and dropped when all its frames are served.

One :class:`Engine` per (model, checkpoint, device, precision, backend) is built once per
process and shared by every filter instance (:func:`get_engine`). On the CPU several
forwards run side by side (one per core by default), each with a fixed number of intra-op
threads (:mod:`vsslomo.numerics`), so the bits never depend on how many threads ask; on
CUDA up to ``backend.streams`` chunks are in flight, each on its own stream, with uploads
from pinned memory and downloads into pinned memory that only wait for their own results.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils._pytree as pytree

from . import backends as backend_lib
from . import heap, registry
from .device import Placement
from .models import contract
from .models.ensemble import VIEWS, View, merge
from .numerics import cpu_threads, fixed_numerics
from .timing import Step, Timing

MAX_BATCH = 32
"""Upper bound on timesteps per model call, whatever the memory budget allows."""

DEFAULT_BYTES_PER_PIXEL_T = 1024
"""Working memory of one timestep per input pixel when a model does not say
(``bytes_per_pixel_t`` attribute); measured peaks are 200-700 bytes in float32."""

CPU_BUDGET = 4 * 2**30
"""Working memory the chunks of timesteps in flight may take on the CPU together."""

CPU_BATCH_PIXELS = 2**20
"""On the CPU a chunk of a model with independent timesteps holds at most this many
timestep-pixels (one timestep at 720p and above). Batching timesteps saves nothing there
once a frame's convolutions are large, and makes each activation as many times larger, past
the 64 MiB that glibc serves from a thread's own heap, so VapourSynth's threads mapped and
faulted them in anew: IFRNet-S at 720p, 4x, took 0.87 s per frame with its three timesteps
in one batch and 0.65 s one by one (``benchmarks/cpu_heap.py --factor 4``, engine's policy)."""

MAX_CPU_FORWARDS = 8
"""At most this many CPU forwards side by side by default (memory grows with each)."""

TRIM_EVERY = 64
"""Chunks between two returns of freed heap memory to the system (:class:`vsslomo.heap.Trimmer`)."""


# --------------------------------------------------------------------------- caches


class _Entry[V]:
    __slots__ = ("done", "value", "error", "remaining")

    def __init__(self, uses: int | None):
        self.done = threading.Event()
        self.value: V | None = None
        self.error: BaseException | None = None
        self.remaining = uses


class OnceCache[K: Hashable, V]:
    """Thread-safe compute-once cache with an LRU bound and optional use counting.

    The first ``get`` of a key computes; concurrent ones wait for it; later ones read the
    result. With ``uses`` an entry is dropped after that many reads; the cache never holds
    more than ``capacity`` entries. A failed computation is re-raised in every waiting
    thread and forgotten, so a later request retries.
    """

    def __init__(self, capacity: int = 8):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()

    def get(self, key: K, compute: Callable[[], V], uses: int | None = None) -> V:
        """The value for ``key``, computed once; ``uses``: reads expected in all (None: LRU only)."""
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = _Entry(uses)
                self._entries[key] = entry
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if owner:
            try:
                entry.value = compute()
            except BaseException as exc:  # re-raised in every waiting thread, then forgotten
                entry.error = exc
                self._forget(key, entry)
                raise
            finally:
                entry.done.set()
        else:
            entry.done.wait()
            if entry.error is not None:
                raise entry.error
        if entry.remaining is not None:
            with self._lock:
                entry.remaining -= 1
                if entry.remaining <= 0 and self._entries.get(key) is entry:
                    del self._entries[key]
        return entry.value  # type: ignore[return-value]

    def _forget(self, key: K, entry: _Entry[V]) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# --------------------------------------------------------------------------- plan helpers


def interpolated_run(plan: Timing, n: int) -> range:
    """The output frames that share output frame ``n``'s pair and are synthesized (t > 0).

    Output frames are in time order, so they are consecutive; found with O(log N) calls of
    ``plan.step`` and no per-pair work, whatever the factor.
    """
    step = plan.step(n)
    key = (step.left, step.right)

    def before(m: int) -> bool:  # frames before the run
        s = plan.step(m)
        return (s.left, s.right) < key or ((s.left, s.right) == key and s.t == 0)

    lo, hi = 0, n  # first index in [0, n] that is not before the run
    while lo < hi:
        mid = (lo + hi) // 2
        if before(mid):
            lo = mid + 1
        else:
            hi = mid
    start = lo
    lo, hi = n + 1, plan.num_frames  # first index after n outside the run
    while lo < hi:
        mid = (lo + hi) // 2
        s = plan.step(mid)
        if (s.left, s.right) == key and s.t != 0:
            lo = mid + 1
        else:
            hi = mid
    return range(start, lo)


# --------------------------------------------------------------------------- engine


@dataclass
class _Slot:
    stream: Any  # torch.cuda.Stream or None


class Engine:
    """One model on one device, precision and backend, shared by every filter and thread."""

    def __init__(self, module: torch.nn.Module, placement: Placement, backend: backend_lib.Eager, label: str):
        self.placement = placement
        self.device = torch.device(placement.device)
        self.dtype: torch.dtype = getattr(torch, placement.dtype)
        self.backend = backend
        self.label = label
        self.memory_format = torch.channels_last if backend.channels_last else torch.contiguous_format
        module = module.to(device=self.device, dtype=self.dtype).eval()
        if backend.channels_last:
            module = module.to(memory_format=torch.channels_last)
        for p in module.parameters():
            p.requires_grad_(False)
        self.module = module
        self.ensemble_mode = contract.ensemble_mode(module)
        self.independent_timesteps = contract.independent_timesteps(module)
        stages = contract.staged(module)
        wrap = functools.partial(backend.wrap, device=self.device, precision=placement.precision)
        self.encode = wrap(stages.encode, key=f"{label}-encode")
        self.pair = wrap(stages.pair, key=f"{label}-pair")
        self.synthesize = wrap(stages.synthesize, key=f"{label}-synthesize")
        cuda = self.device.type == "cuda"
        if cuda:  # process-wide flags: the last engine built decides
            torch.backends.cudnn.benchmark = not backend.deterministic
            torch.backends.cudnn.deterministic = backend.deterministic
        count = backend.streams if cuda else cpu_forwards(backend)
        self._slots: list[_Slot] = [_Slot(torch.cuda.Stream(self.device) if cuda else None) for _ in range(count)]
        self.parallelism = count
        """How many pairs can be computed at once (execution slots: CPU forwards or CUDA streams)."""
        self._free = threading.Condition()
        claim_heap(placement, backend)
        self._heap = heap.Trimmer(TRIM_EVERY)

    def pad_multiple(self, scale: float) -> int:
        """Multiple that frame sizes are padded to at ``scale``."""
        return contract.pad_multiple(self.module, scale)

    def batch_limit(self, height: int, width: int) -> int:
        """How many timesteps of a ``height`` x ``width`` pair may go through one call."""
        per_t = int(getattr(self.module, "bytes_per_pixel_t", DEFAULT_BYTES_PER_PIXEL_T)) * height * width
        if self.dtype == torch.float16 or self.placement.autocast is not None:
            per_t //= 2
        cuda = self.device.type == "cuda"
        if cuda:
            free, _total = torch.cuda.mem_get_info(self.device)
            budget = free // (4 * len(self._slots))
        else:
            budget = CPU_BUDGET // len(self._slots)
        limit = min(MAX_BATCH, budget // max(1, per_t))
        if not cuda and self.independent_timesteps:
            limit = min(limit, CPU_BATCH_PIXELS // max(1, height * width))
        return max(1, limit)

    @contextmanager
    def slot(self) -> Iterator[_Slot]:
        """Exclusive use of one execution slot (its CUDA stream), in inference mode and autocast."""
        with self._free:
            while not self._slots:
                self._free.wait()
            slot = self._slots.pop()
        try:
            with torch.inference_mode(), fixed_numerics(self.device), self._stream(slot), self._autocast():
                yield slot
        finally:
            with self._free:
                self._slots.append(slot)
                self._free.notify()

    def _stream(self, slot: _Slot) -> Any:
        return torch.cuda.stream(slot.stream) if slot.stream is not None else _null()

    def _autocast(self) -> Any:
        dtype = self.placement.autocast
        if dtype is None:
            return _null()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def upload(self, array: np.ndarray, multiple: int) -> torch.Tensor:
        """A ``(3, H, W)`` float32 host array as the model's padded ``(1, 3, H', W')`` input."""
        host = torch.from_numpy(array)
        if self.device.type == "cuda":
            host = host.pin_memory()
        x = host.to(self.device, non_blocking=True).unsqueeze(0)
        x = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
        x = pad_to_multiple(x, multiple).to(self.dtype)
        return x.contiguous(memory_format=self.memory_format)

    def fence(self) -> Any:
        """A marker of the work queued so far on this slot's stream (``None`` on the CPU)."""
        if self.device.type != "cuda":
            return None
        event = torch.cuda.Event()
        event.record()
        return event

    def adopt(self, fence: Any, *values: Any) -> None:
        """Let this slot's stream use ``values`` made on another stream: wait for their
        ``fence`` and tell the allocator they are in use here too."""
        if fence is None:
            return
        stream = torch.cuda.current_stream(self.device)
        stream.wait_event(fence)
        for leaf in pytree.tree_leaves(values):
            if isinstance(leaf, torch.Tensor) and leaf.is_cuda:
                leaf.record_stream(stream)

    def download(self, frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Model output cropped to the frame size, as float32 on the CPU (pinned from CUDA)."""
        self._heap.tick()
        out = frames[..., :height, :width].float()
        if self.device.type != "cuda":
            return out.contiguous()
        host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(out, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return host


def cpu_forwards(backend: backend_lib.Eager) -> int:
    """How many CPU forwards run side by side: the backend's choice, else one per core (at most 8)."""
    if backend.cpu_forwards is not None:
        return backend.cpu_forwards
    return max(1, min(MAX_CPU_FORWARDS, (os.cpu_count() or 1) // cpu_threads()))


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the right/bottom of ``(N, C, H, W)`` to multiples of ``multiple``.

    Zero padding on the bottom/right matches the RIFE reference inference code, so our
    output equals it on sizes that need padding too.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph))


@functools.cache
def get_engine(name: str, checkpoint: str | None, revision: int, placement: Placement, backend: backend_lib.Eager) -> Engine:
    """Build (once per process) the engine for this model, weights file, placement and backend.

    ``revision`` (e.g. the checkpoint file's mtime) makes a rewritten checkpoint load afresh.
    """
    spec = registry.get_spec(name)
    claim_heap(placement, backend)
    module = spec.load(Path(checkpoint) if checkpoint else None)
    return Engine(module, placement, backend, label=spec.name)


def claim_heap(placement: Placement, backend: backend_lib.Eager) -> None:
    """Set :mod:`vsslomo.heap`'s policy for a CPU engine that reuses memory (``reuse_memory``).

    The filter calls it before it asks for the clip's first frame, and the engine before the
    model loads: a thread that allocates before the policy keeps a heap of its own for good
    (glibc's per-thread arenas), VapourSynth's worker threads among them, and then maps and
    faults in its large blocks afresh in every forward.
    """
    if backend.reuse_memory and torch.device(placement.device).type != "cuda":
        heap.apply_policy()


# --------------------------------------------------------------------------- renderer


@dataclass(frozen=True)
class _FrameState:
    """A source frame ready for the model: views (as given, mirrored) and their features."""

    images: tuple[torch.Tensor, ...]
    features: tuple[Any, ...]
    fence: Any


@dataclass(frozen=True)
class _PairState:
    """The per-pair state of each ensemble view."""

    states: tuple[Any, ...]
    fence: Any


Loader = Callable[[], np.ndarray]
"""Returns a source frame as a ``(3, H, W)`` float32 RGB array (called only on a cache miss)."""


class Renderer:
    """Synthesized frames of one filter instance: its plan, scale, ensemble and caches."""

    def __init__(self, engine: Engine, plan: Timing, scale: float, ensemble: bool, size: tuple[int, int], capacity: int):
        if ensemble and engine.ensemble_mode == "none":
            raise ValueError(f"model {engine.label!r} has no ensemble mode; use ensemble=False")
        self.engine = engine
        self.plan = plan
        self.scale = scale
        self.ensemble = ensemble
        self.height, self.width = size
        self.multiple = engine.pad_multiple(scale)
        padded_h, padded_w = -(-self.height // self.multiple) * self.multiple, -(-self.width // self.multiple) * self.multiple
        self.views = VIEWS if ensemble and engine.ensemble_mode == "tta" else ()
        """The test-time ensemble's questions (empty: the pair as given, or the model's own ensemble)."""
        self.batch = max(1, engine.batch_limit(padded_h, padded_w) // max(1, len(self.views)))
        self.frames: OnceCache[int, _FrameState] = OnceCache(capacity)
        self.pairs: OnceCache[tuple[int, int], _PairState] = OnceCache(capacity)
        self.chunks: OnceCache[tuple[int, int, int], torch.Tensor] = OnceCache(capacity)

    def frame(self, n: int, load_left: Loader, load_right: Loader) -> torch.Tensor:
        """Output frame ``n`` (its step has t > 0) as a ``(3, H, W)`` float32 CPU tensor."""
        step = self.plan.step(n)
        run = interpolated_run(self.plan, n)
        index = (n - run.start) // self.batch
        chunk = range(run.start + index * self.batch, min(run.stop, run.start + (index + 1) * self.batch))
        key = (step.left, step.right, index)
        out = self.chunks.get(key, lambda: self._render(step, chunk, load_left, load_right), uses=len(chunk))
        return out[n - chunk.start]

    def _render(self, step: Step, chunk: range, load_left: Loader, load_right: Loader) -> torch.Tensor:
        times = [float(self.plan.step(m).t) for m in chunk]
        pair = self.pairs.get((step.left, step.right), lambda: self._pair(step, load_left, load_right))
        engine, states = self.engine, pair.states
        with engine.slot():
            engine.adopt(pair.fence, states)
            ts = torch.tensor(times, device=engine.device, dtype=engine.dtype)
            if self.views:
                out = merge(engine.synthesize(state, 1 - ts if view.reverse else ts) for view, state in zip(self.views, states))
            elif self.ensemble:
                out = engine.synthesize(states[0], ts, ensemble=True)
            else:
                out = engine.synthesize(states[0], ts)
            return engine.download(out.clamp(0.0, 1.0), self.height, self.width)

    def _pair(self, step: Step, load_left: Loader, load_right: Loader) -> _PairState:
        a = self.frames.get(step.left, lambda: self._frame(load_left))
        b = self.frames.get(step.right, lambda: self._frame(load_right))
        engine, s = self.engine, self.scale
        with engine.slot():
            engine.adopt(a.fence, a.images, a.features)
            engine.adopt(b.fence, b.images, b.features)
            states = []
            for view in self.views or (View(False, False),):
                first, second = (b, a) if view.reverse else (a, b)
                i = int(view.mirror)
                states.append(engine.pair(first.images[i], second.images[i], first.features[i], second.features[i], s))
            return _PairState(tuple(states), engine.fence())

    def _frame(self, load: Loader) -> _FrameState:
        engine = self.engine
        array = load()
        with engine.slot():
            image = engine.upload(array, self.multiple)
            images = (image, image.flip(-1)) if self.views else (image,)
            features = tuple(engine.encode(x, self.scale) for x in images)
            return _FrameState(images, features, engine.fence())
