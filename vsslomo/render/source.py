"""Opening the input file as a VapourSynth clip, and running the filter on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RenderError

if TYPE_CHECKING:
    import vapoursynth as vs


def first_line(exc: BaseException) -> str:
    """The gist of an exception in one line (for errors raised in Python filter callbacks,
    VapourSynth's message is a whole traceback: its last line is the gist)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def open_source(path: Path, threads: int | None = None) -> "vs.VideoNode":
    """Open a video file with the first source filter available: bestsource, ffms2, then L-SMASH.

    ``threads`` sets VapourSynth's worker threads (default: all cores).
    """
    import vapoursynth as vs

    core = vs.core
    if threads:
        core.num_threads = threads
    attempts = []
    if hasattr(core, "bs"):
        attempts.append(("bs.VideoSource", lambda: core.bs.VideoSource(source=str(path), showprogress=0)))
    if hasattr(core, "ffms2"):
        attempts.append(("ffms2.Source", lambda: core.ffms2.Source(source=str(path))))
    if hasattr(core, "lsmas"):
        attempts.append(("lsmas.LWLibavSource", lambda: core.lsmas.LWLibavSource(source=str(path))))
    if not attempts:
        raise RenderError("no VapourSynth source filter found: pip install vapoursynth-bestsource")
    errors = []
    for name, make in attempts:
        try:
            return make()
        except vs.Error as exc:
            errors.append(f"{name}: {first_line(exc)}")
    raise RenderError(f"{path}: cannot decode the video ({'; '.join(errors)})")


def interpolated(clip: "vs.VideoNode", filter_kwargs: dict[str, Any]) -> "vs.VideoNode":
    """``vsslomo.interpolate(clip, **filter_kwargs)``, its errors as :class:`RenderError`.

    Renders run the backend deterministic (cuDNN algorithms chosen without timing), so that
    every process, GPU and chunk layout computes the same bits.
    """
    import vapoursynth as vs

    from .. import backends, interpolate

    try:
        backend = backends.with_options(backends.parse(filter_kwargs.get("backend")), deterministic=True)
    except backends.BackendError as exc:
        raise RenderError(f"--backend: {exc}") from None
    try:
        return interpolate(clip, **{**filter_kwargs, "backend": backend})
    except vs.Error as exc:
        raise RenderError(first_line(exc)) from None
