"""Where the workers of a chunked render run: how many, on which devices, with what."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import RenderError
from .job import RenderJob
from .plan import Prepared, RenderRequest
from .pool import Pool
from .settings import placement_kind

if TYPE_CHECKING:
    from .chunked import ChunkPlan, ClusterOptions


def _local_gpus(device: Any) -> int:
    """CUDA devices of this machine (not asked, which would import torch, when the user chose the CPU)."""
    if device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _numerics_threads() -> int:
    from .. import numerics

    try:
        return numerics.cpu_threads()
    except ValueError as exc:
        raise RenderError(str(exc)) from None


@dataclass(frozen=True)
class Layout:
    """The decided shape of the worker pool."""

    ray: bool
    size: int
    kind: tuple[str, bool]
    """Device kind and fp16 (see :func:`.settings.placement_kind`)."""
    devices: tuple[str | None, ...]
    """Local workers: the device of each (``None``: the filter's own choice)."""
    threads: int | None
    """VapourSynth threads of each local worker."""
    cpus: int
    """Ray: CPUs each actor asks for."""

    @property
    def what(self) -> str:
        return "Ray actors" if self.ray else ("local workers" if self.size != 1 else "local worker")

    @classmethod
    def decide(cls, request: RenderRequest, options: "ClusterOptions") -> "Layout":
        """One worker per GPU by default, else CPU workers by the numerics threads."""
        if options.workers is not None and options.workers < 1:
            raise RenderError(f"--workers {options.workers}: give at least 1")
        threads = _numerics_threads()
        if options.ray:
            from .cluster import cluster_resources

            cpus, gpus = cluster_resources()
        else:
            cpus, gpus = os.cpu_count() or 1, _local_gpus(request.filter_kwargs.get("device"))
        kind = placement_kind(request.filter_kwargs, gpus)
        if kind[0] == "cuda" and gpus == 0:
            where = "the Ray cluster has" if options.ray else "this machine has"
            raise RenderError(f"--device {request.filter_kwargs.get('device')}: {where} no CUDA GPU; use --device cpu")
        default = gpus if kind[0] == "cuda" else max(1, cpus // threads)
        size = options.workers or default
        return cls(
            ray=options.ray,
            size=size,
            kind=kind,
            devices=_devices(request.filter_kwargs.get("device"), kind[0], gpus, size),
            threads=request.threads or max(1, (os.cpu_count() or 1) // size),
            cpus=1 if kind[0] == "cuda" else max(1, min(threads, cpus // size)),
        )

    def job(self, prepared: Prepared, plan: "ChunkPlan") -> RenderJob:
        """What every worker of this layout is told."""
        from .. import numerics

        return RenderJob(
            source=str(prepared.request.source.resolve()),
            filter_kwargs=dict(prepared.request.filter_kwargs),
            ffmpeg=prepared.ffmpeg,
            pix_fmt=plan.pix_fmt,
            fps=plan.fps,
            num_frames=plan.frames,
            fingerprint=numerics.fingerprint(),
            threads=None if self.ray else self.threads,
            environment={numerics.THREADS_ENV: str(_numerics_threads())},
        )

    def pool(self, job: RenderJob) -> Pool:
        """The pool of workers, not started yet."""
        if self.ray:
            from .cluster import RayPool

            return RayPool(job, self.size, gpus=1 if self.kind[0] == "cuda" else 0, cpus=self.cpus)
        from .workers import LocalPool

        return LocalPool(job, list(self.devices))


def _devices(device: Any, kind: str, gpus: int, size: int) -> tuple[str | None, ...]:
    """Local workers' devices: ``cuda:0 .. cuda:G-1`` in turn unless one GPU was named."""
    if kind != "cuda":
        return (device,) * size
    if device is not None and ":" in str(device):
        return (str(device),) * size
    return tuple(f"cuda:{i % gpus}" for i in range(size))
