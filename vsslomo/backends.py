"""Execution backends: how a loaded model's stages are run on a device.

A backend is a small frozen description, shared by the filter (``backend=``), the command
(``--backend``) and the benchmarks. Pass a name (``"eager"``, ``"compile"``, ``"tensorrt"``)
or an instance with tuned fields, e.g. ``Compile(mode="max-autotune")``.

==========  ==========================================================================
eager       Plain PyTorch. Works everywhere; the reference for every other backend.
compile     ``torch.compile`` (Inductor): fused kernels, CUDA graphs in the
            ``"reduce-overhead"``/``"max-autotune"`` modes on GPU. Compiles once per
            input shape on first use (seconds to minutes); CPU and CUDA.
tensorrt    NVIDIA TensorRT through ``torch-tensorrt`` (``pip install vsslomo[tensorrt]``):
            the fastest on NVIDIA GPUs. Engines are built once per (GPU, TensorRT version,
            frame size, scale, precision) and cached on disk. CUDA only.
==========  ==========================================================================

Every backend keeps ``channels_last`` on by default: convolutions run faster in NHWC on
both oneDNN (CPU) and cuDNN (GPU).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .paths import cache_dir

if TYPE_CHECKING:  # torch is imported when a backend is used, so that naming them is cheap
    import torch


class BackendError(ValueError):
    """A backend that is unknown, not installed or not usable on the chosen device."""


@dataclass(frozen=True)
class Eager:
    """Plain PyTorch eager execution.

    ``channels_last``: NHWC memory format for the model and its inputs (faster convolutions
    on oneDNN and cuDNN; turn off only to compare). ``streams`` (CUDA only): how many pairs
    may be in flight at once, each on its own CUDA stream, so uploads, compute and downloads
    of different pairs overlap; 2 keeps a GPU busy at 1080p, more helps small frames.
    ``deterministic`` (CUDA only): pin cuDNN to deterministic algorithms, chosen without
    timing, so every GPU of one model gives the same bits (``vsslomo render`` uses it, so
    that a render split over workers is bit-identical to one in a single process); off,
    cuDNN times its algorithms for each new shape and keeps the fastest.
    ``cpu_forwards`` (CPU only): how many forwards run side by side, each with
    :func:`vsslomo.numerics.cpu_threads` intra-op threads (default: one per core, at
    most 8; each needs its own working memory).
    ``reuse_memory`` (CPU only, glibc): keep large activations in the process heap
    instead of fresh memory maps, whose pages are faulted in and zeroed again for every
    layer (:mod:`vsslomo.heap`; 1.1-1.2x faster at 720p, 1.2-1.5x with the policy in the
    environment, ``benchmarks/cpu_heap.py``). Process-wide from the first CPU engine built
    with it on.
    """

    channels_last: bool = True
    streams: int = 2
    deterministic: bool = False
    cpu_forwards: int | None = None
    reuse_memory: bool = True

    name = "eager"

    def check(self, device: torch.device) -> None:
        """Raise :class:`BackendError` when this backend cannot run on ``device``."""
        _check_streams(self.streams)
        forwards = self.cpu_forwards
        if forwards is not None and (isinstance(forwards, bool) or not isinstance(forwards, int) or not 1 <= forwards <= 64):
            raise BackendError(f"cpu_forwards must be a whole number from 1 to 64 (or None), got {forwards!r}")

    def wrap(self, fn: Callable[..., Any], device: torch.device, precision: str, key: str) -> Callable[..., Any]:
        """The function that runs ``fn`` (one model stage) on this backend."""
        return fn


@dataclass(frozen=True)
class Compile(Eager):
    """``torch.compile`` of each model stage (Inductor).

    ``mode``: ``"default"``, ``"reduce-overhead"`` (CUDA graphs: least per-call overhead on
    GPU, for static shapes) or ``"max-autotune"`` (longest first compile, fastest kernels).
    ``dynamic``: compile shape-generic kernels (``False``: one specialisation per frame
    size, the fastest; a clip has one size). The first frame of each size pays the compile.
    """

    mode: str = "default"
    dynamic: bool = False

    name = "compile"

    def check(self, device: torch.device) -> None:
        super().check(device)
        modes = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
        if self.mode not in modes:
            raise BackendError(f"compile mode {self.mode!r} is not one of {', '.join(modes)}")

    def wrap(self, fn: Callable[..., Any], device: torch.device, precision: str, key: str) -> Callable[..., Any]:
        import torch

        return torch.compile(fn, mode=self.mode, dynamic=self.dynamic, fullgraph=False)


@dataclass(frozen=True)
class TensorRT(Eager):
    """NVIDIA TensorRT engines through ``torch-tensorrt`` (CUDA only).

    ``workspace_gb``: scratch memory TensorRT may use while building (more can find faster
    tactics). ``cache``: folder for built engines (default ``vsslomo.paths.cache_dir("trt")``);
    an engine is reused when GPU, TensorRT version, frame size, scale and precision match.
    ``optimization_level`` (0-5): build effort; 3 is TensorRT's default.
    """

    workspace_gb: float = 4.0
    cache: str | None = None
    optimization_level: int = 3

    name = "tensorrt"

    def check(self, device: torch.device) -> None:
        super().check(device)
        if device.type != "cuda":
            raise BackendError("backend 'tensorrt' needs an NVIDIA GPU; use backend='eager' or 'compile' on the CPU")
        if importlib.util.find_spec("torch_tensorrt") is None:
            raise BackendError("backend 'tensorrt' needs torch-tensorrt: pip install 'vsslomo[tensorrt]'")

    def wrap(self, fn: Callable[..., Any], device: torch.device, precision: str, key: str) -> Callable[..., Any]:
        return _TensorRTStage(self, fn, device, precision, key)


BACKENDS: dict[str, type[Eager]] = {cls.name: cls for cls in (Eager, Compile, TensorRT)}
"""Every backend by name."""

Backend = Eager
"""The type of every backend description (each is an :class:`Eager` subclass)."""


def resolve(backend: str | Eager | None, device: torch.device) -> Eager:
    """The backend for a name, an instance or ``None`` (eager), checked against ``device``."""
    chosen = parse(backend)
    chosen.check(device)
    return chosen


def parse(backend: str | Eager | None) -> Eager:
    """The backend for a name, an instance or ``None`` (eager), not yet checked against a device."""
    if backend is None:
        chosen: Eager = Eager()
    elif isinstance(backend, Eager):
        chosen = backend
    elif isinstance(backend, str):
        try:
            chosen = BACKENDS[backend.strip().lower()]()
        except KeyError:
            raise BackendError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}") from None
    else:
        raise BackendError(f"backend must be a name such as 'eager' or a vsslomo.backends object, got {backend!r}")
    return chosen


def with_options(backend: Eager, **options: Any) -> Eager:
    """``backend`` with some fields changed; unknown field names are a :class:`BackendError`."""
    known = {f.name for f in fields(backend)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise BackendError(f"backend {backend.name!r} has no option {', '.join(unknown)}; it has {', '.join(sorted(known))}")
    return replace(backend, **options)


def _check_streams(streams: int) -> None:
    if isinstance(streams, bool) or not isinstance(streams, int) or not 1 <= streams <= 16:
        raise BackendError(f"streams must be a whole number from 1 to 16, got {streams!r}")


class _TensorRTStage:
    """A model stage compiled with torch-tensorrt on first call for each input signature.

    Stage arguments may be nested (tuples of feature tensors): they are flattened, the
    tensor leaves become the engine's inputs and everything else is baked in. Built engines
    are saved under the backend's cache folder keyed by everything that changes the engine
    (GPU, TensorRT and torch versions, stage, shapes, constants, precision) and loaded from
    there on later runs; the first build says so on stderr.
    """

    def __init__(self, backend: TensorRT, fn: Callable[..., Any], device: torch.device, precision: str, key: str):
        self.backend, self.fn, self.device, self.precision, self.key = backend, fn, device, precision, key
        self.compiled: dict[str, Callable[..., Any]] = {}

    def __call__(self, *args: Any) -> Any:
        import torch
        import torch.utils._pytree as pytree

        leaves, spec = pytree.tree_flatten(args)
        tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
        signature = repr((spec, [(tuple(x.shape), str(x.dtype)) if isinstance(x, torch.Tensor) else x for x in leaves]))
        runner = self.compiled.get(signature)
        if runner is None:
            runner = self._build(leaves, spec, tensors, signature)
            self.compiled[signature] = runner
        return runner(*tensors)

    def _engine_path(self, signature: str) -> Path:
        import torch
        import torch_tensorrt

        gpu = torch.cuda.get_device_name(self.device)
        text = repr((gpu, torch_tensorrt.__version__, torch.__version__, self.key, signature, self.precision))
        folder = Path(self.backend.cache) if self.backend.cache else cache_dir("trt")
        return folder / f"{self.key}-{hashlib.sha256(text.encode()).hexdigest()[:20]}.ep"

    def _build(self, leaves: list[Any], spec: Any, tensors: list[torch.Tensor], signature: str) -> Callable[..., Any]:
        import sys

        import torch
        import torch_tensorrt

        path = self._engine_path(signature)
        if path.is_file():
            return torch_tensorrt.load(str(path)).module()
        shape = next((tuple(t.shape) for t in tensors), ())
        print(f"vsslomo: building a TensorRT engine for {self.key} at {shape} (once; cached in {path.parent})",
              file=sys.stderr, flush=True)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision, torch.float32)
        compiled = torch_tensorrt.compile(
            _TensorLeaves(self.fn, leaves, spec),
            ir="dynamo",
            inputs=tensors,
            enabled_precisions={dtype, torch.float32},
            workspace_size=int(self.backend.workspace_gb * 2**30),
            optimization_level=self.backend.optimization_level,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        torch_tensorrt.save(compiled, str(partial), inputs=tensors)
        os.replace(partial, path)
        return compiled


def _TensorLeaves(fn: Callable[..., Any], leaves: list[Any], spec: Any) -> Any:
    """A stage as a module of its tensor leaves only (the other leaves are constants)."""
    import torch
    import torch.utils._pytree as pytree

    class TensorLeaves(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.is_tensor = [isinstance(leaf, torch.Tensor) for leaf in leaves]
            self.constants = [None if t else leaf for leaf, t in zip(leaves, self.is_tensor)]

        def forward(self, *tensors: torch.Tensor) -> Any:
            it = iter(tensors)
            values = [next(it) if t else c for t, c in zip(self.is_tensor, self.constants)]
            return fn(*pytree.tree_unflatten(values, spec))

    return TensorLeaves()
