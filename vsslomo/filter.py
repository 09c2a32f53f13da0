"""``slomo.Interpolate``: the VapourSynth glue between a clip and an interpolation model.

Data flows one way: the output frame number goes through the pure timing plan to a
source pair and a time t; frames at t = 0 (and, at a scene cut, every frame of the pair)
are the source frame itself, bit-exact; the others come from the model, which renders
all timesteps of a pair in one call (see :mod:`vsslomo.paircache`) on RGB tensors
converted from and back to the clip's own format (see :mod:`vsslomo.convert`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import vapoursynth as vs

from . import convert, device as devices, props as frame_props, registry, timing
from .analysis.vsadapter import Dedup, mark_scene_changes
from .models import contract
from .paircache import PairCache

FILTER_NAME = "slomo.Interpolate"
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def _error(message: str) -> vs.Error:
    return vs.Error(f"{FILTER_NAME}: {message}")


def interpolate(
    clip: vs.VideoNode | None = None,
    factor: int | None = None,
    factor_num: int | None = None,
    factor_den: int | None = None,
    fps_num: int | None = None,
    fps_den: int | None = None,
    model: str = "rife",
    checkpoint: str | None = None,
    device: str | None = None,
    fp16: bool | None = None,
    sc: bool = True,
    sc_threshold: float | None = None,
    scale: float = 1.0,
    ensemble: bool = False,
    dedup: bool = False,
    dedup_threshold: float | None = None,
    dedup_max_hold: int | None = None,
    dedup_file: str | None = None,
) -> vs.VideoNode:
    """Synthesize in-between frames of ``clip`` with a neural model.

    Rate (one of): ``factor`` (integer, default 2), ``factor_num/factor_den`` (rational),
    or a target frame rate ``fps_num/fps_den`` (e.g. 60000/1001). The clip's duration is
    kept: the output has ceil(N * ratio) frames, each lasting its source frame's duration
    divided by the ratio. Variable-frame-rate clips are converted by timestamps when a
    target fps is given.

    ``model``: a name from :data:`vsslomo.registry.MODELS` ("rife", "superslomo");
    ``checkpoint``: a weights file for it (default: the model's shipped weights).
    ``device``: "cpu", "cuda" or "cuda:N" (default CUDA when available); ``fp16``: half
    precision (default on for CUDA). ``sc``: scene-cut handling, detected and taken from
    upstream ``_SceneChangeNext/_SceneChangePrev``; across a cut the in-between frames
    are duplicates of the left frame. ``sc_threshold``: detector sensitivity (see
    :func:`vsslomo.analysis.vsadapter.mark_scene_changes`). ``scale``: flow resolution factor
    (0.5 for 4K, 0.25 for 8K). ``ensemble``: average the model over time reversal and
    left-right mirroring (see :mod:`vsslomo.models.ensemble`): better quality, 4x the cost.

    ``dedup``: animation held on twos/threes is re-timed: held copies are replaced by
    in-betweens of the distinct drawings at their true times (one scan of the clip at
    creation; see :mod:`vsslomo.analysis`). ``dedup_threshold``: largest local change of a
    held copy (see :mod:`vsslomo.analysis.holds`); ``dedup_max_hold``: longer runs of
    identical frames are real stillness; ``dedup_file``: a sidecar file keeping the scan
    (read when it exists, written otherwise).

    Output frames carry ``SlomoSourceFrame``, ``SlomoT`` and ``SlomoSceneChange``, and with
    ``dedup`` also ``SlomoDrawings`` and ``SlomoHeld`` (see :mod:`vsslomo.props`).
    """
    clip = _check_clip(clip)
    spec = _check_model(model)
    scale = _check_scale(_scalar(scale))
    placement = _check_placement(_scalar(device), _optional_bool(fp16))
    # --- dedup (vsslomo.analysis): arguments checked now, the clip scanned when first needed
    holds = None
    if _optional_bool(dedup):
        try:
            holds = Dedup(clip, _scalar(dedup_threshold), _scalar(dedup_max_hold), _scalar(dedup_file),
                          _optional_bool(sc) is not False, _scalar(sc_threshold))
        except ValueError as exc:
            raise _error(str(exc)) from None
    plan = _plan(clip, factor, factor_num, factor_den, fps_num, fps_den, durations=holds.durations if holds else None)
    # --- end dedup
    checkpoint_path = _check_checkpoint(_scalar(checkpoint))
    revision = Path(checkpoint_path).stat().st_mtime_ns if checkpoint_path else 0
    try:
        shared = registry.get_model(spec.name, checkpoint_path, placement.device, placement.dtype, revision)
    except (FileNotFoundError, ValueError, RuntimeError, KeyError, OSError) as exc:
        raise _error(f"cannot load model {spec.name!r}: {exc}") from exc
    clip = _cached(clip)
    cuts = None
    if holds is not None:  # --- dedup: the plan re-timed between drawings, cuts from the same scan
        try:
            plan, cuts = holds.retime(plan)
        except ValueError as exc:
            raise _error(str(exc)) from None
    elif _optional_bool(sc) is not False:
        try:
            cuts = mark_scene_changes(clip, _scalar(sc_threshold))
        except ValueError as exc:
            raise _error(str(exc)) from exc
    return _build(clip, plan, shared, contract.pad_multiple(shared.module, scale), scale, bool(_optional_bool(ensemble)), cuts)


# --- argument checking ---------------------------------------------------------------


def _scalar(value: Any) -> Any:
    """Unwrap one-element lists and bytes, as values arrive through the native plugin."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (bytes, bytearray)):
        value = value.decode()
    return value


def _optional_bool(value: Any) -> bool | None:
    value = _scalar(value)
    return None if value is None else bool(value)


def _check_clip(clip: Any) -> vs.VideoNode:
    clip = _scalar(clip)
    if clip is None:
        raise _error("no clip given; pass the video clip to interpolate as the first argument")
    if not isinstance(clip, vs.VideoNode):
        raise _error(f"expected a video clip, got {type(clip).__name__}; pass a vs.VideoNode")
    if clip.format is None or clip.format.id == vs.NONE or clip.width == 0 or clip.height == 0:
        raise _error(
            "clip has a variable format or size; make it constant first, "
            "e.g. clip = core.resize.Bicubic(clip, width=W, height=H, format=vs.YUV420P8)"
        )
    if clip.num_frames < 1:
        raise _error("clip has no frames")
    fmt = clip.format
    if fmt.color_family not in (vs.YUV, vs.RGB, vs.GRAY):
        raise _error(f"unsupported colour family of {fmt.name}; convert to YUV, RGB or GRAY")
    if fmt.sample_type == vs.INTEGER and not 8 <= fmt.bits_per_sample <= 16:
        raise _error(f"{fmt.name} has {fmt.bits_per_sample}-bit samples; use 8 to 16-bit integer or float")
    return clip


def _check_model(model: Any) -> registry.ModelSpec:
    name = _scalar(model)
    if not isinstance(name, str):
        raise _error(f"model must be a name such as 'rife', got {name!r}")
    try:
        return registry.get_spec(name)
    except KeyError as exc:
        raise _error(str(exc.args[0])) from None


def _check_scale(scale: Any) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if value not in SCALES:
        raise _error(f"scale={scale!r} is not supported; use one of {', '.join(map(str, SCALES))}")
    return value


def _check_placement(device: Any, fp16: bool | None) -> devices.Placement:
    if device is not None and not isinstance(device, str):
        raise _error(f"device must be a string such as 'cpu' or 'cuda:0', got {device!r}")
    try:
        return devices.resolve(device, fp16)
    except ValueError as exc:
        raise _error(str(exc)) from None


def _check_checkpoint(checkpoint: Any) -> str | None:
    if checkpoint is None:
        return None
    path = Path(str(checkpoint)).expanduser()
    if not path.is_file():
        raise _error(f"checkpoint file {str(path)!r} does not exist; pass the path of a weights file")
    return str(path.resolve())


def _plan(clip: vs.VideoNode, *rate: Any, durations: Callable[[], list[Fraction]] | None = None) -> timing.Timing:
    """The timing plan; ``durations`` reads every frame's duration, called only when needed."""
    factor, factor_num, factor_den, fps_num, fps_den = (_scalar(v) for v in rate)
    source_fps = Fraction(clip.fps.numerator, clip.fps.denominator) if clip.fps.numerator else None
    try:
        return timing.resolve(
            clip.num_frames,
            source_fps,
            factor=factor,
            factor_num=factor_num,
            factor_den=factor_den,
            fps_num=fps_num,
            fps_den=fps_den,
            durations=durations or (lambda: _durations(clip)),
        )
    except ValueError as exc:
        raise _error(str(exc)) from None


def _durations(clip: vs.VideoNode) -> list[Fraction]:
    """Every frame's duration, for variable-frame-rate clips converted to a constant rate."""
    durations = []
    for n, frame in enumerate(clip.frames(close=True)):
        num, den = frame.props.get("_DurationNum"), frame.props.get("_DurationDen")
        if not num or not den:
            raise _error(
                f"the clip has a variable frame rate but frame {n} has no _DurationNum/_DurationDen; "
                "use a source filter that sets frame durations, or give the clip a constant rate "
                "with core.std.AssumeFPS"
            )
        durations.append(Fraction(int(num), int(den)))
    return durations


# --- graph --------------------------------------------------------------------------


def _cached(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` behind a cache of our own.

    Every source frame is read by several branches (the model's pair, the chroma residual,
    the copies at t = 0, cut detection); without a cache that always holds the recent frames,
    an upstream chain (a denoiser, a deinterlacer) would run up to six times per frame.
    """
    cached = vs.core.std.Trim(clip, 0, clip.num_frames - 1)
    vs.core.std.SetVideoCache(cached, mode=1, maxsize=2 * vs.core.num_threads + 8)
    return cached


def _remap(clip: vs.VideoNode, length: int, fps: Fraction | None, index: Callable[[int], int]) -> vs.VideoNode:
    """A clip whose frame n is ``clip``'s frame ``index(n)``."""
    base = _blank(clip, length, fps)
    return vs.core.std.FrameEval(base, lambda n: clip[index(n)])


def _blank(like: vs.VideoNode, length: int, fps: Fraction | None) -> vs.VideoNode:
    num, den = (fps.numerator, fps.denominator) if fps else (0, 1)
    return vs.core.std.BlankClip(like, length=length, fpsnum=num, fpsden=den, keep=True)


def _blend(left: vs.VideoNode, right: vs.VideoNode, plan: timing.Timing) -> vs.VideoNode:
    """Frame n is ``(1 - t) left + t right`` at output frame n's t (one Merge node per distinct t)."""
    merges: dict[Fraction, vs.VideoNode] = {}

    def select(n: int) -> vs.VideoNode:
        t = plan.step(n).t
        if t not in merges:  # a race only builds an identical node twice
            merges[t] = vs.core.std.Merge(left, right, weight=float(t))
        return merges[t]

    return vs.core.std.FrameEval(left, select)


def _build(
    clip: vs.VideoNode,
    plan: timing.Timing,
    shared: registry.SharedModel,
    multiple: int,
    scale: float,
    ensemble: bool,
    cuts: vs.VideoNode | None,
) -> vs.VideoNode:
    length, fps = plan.num_frames, plan.fps

    def left(n: int) -> int:
        return plan.step(n).left

    def right(n: int) -> int:
        return plan.step(n).right

    info = convert.color_info(clip, clip.get_frame(0).props)
    # Subsampled YUV goes to RGB through float YUV, so its chroma can be restored exactly.
    native = convert.to_float_native(clip, info) if convert.is_subsampled(clip) else None
    rgb = convert.to_model_clip(native if native is not None else clip, info)
    renderer = _Renderer(plan, shared, multiple, scale, ensemble, capacity=max(4, 2 * vs.core.num_threads))
    rgb_pair = [_remap(rgb, length, fps, left), _remap(rgb, length, fps, right)]
    synth_rgb = vs.core.std.ModifyFrame(_blank(rgb, length, fps), rgb_pair, renderer)
    if native is not None:
        residual = convert.round_trip_residual(native, rgb, info)
        pair_residual = _blend(_remap(residual, length, fps, left), _remap(residual, length, fps, right), plan)
        synth = convert.from_model_clip_with_residual(synth_rgb, pair_residual, clip, info)
    else:
        synth = convert.from_model_clip(synth_rgb, clip, info)
    source = _remap(clip, length, fps, left)
    pair_cuts = _remap(cuts, length, fps, left) if cuts is not None else None

    def choose(n: int, f: vs.VideoFrame | None = None) -> vs.VideoNode:
        if plan.step(n).t == 0 or (f is not None and f.props["SlomoSceneChange"]):
            return source
        return synth

    if pair_cuts is None:
        chosen = vs.core.std.FrameEval(_blank(clip, length, fps), choose)
    else:
        chosen = vs.core.std.FrameEval(_blank(clip, length, fps), choose, prop_src=pair_cuts)

    stamp = _Stamper(plan)
    clips = [chosen, source] + ([pair_cuts] if pair_cuts is not None else [])
    return vs.core.std.ModifyFrame(chosen, clips, stamp)


class _Renderer:
    """ModifyFrame callback producing model frames; all timesteps of a pair in one call."""

    def __init__(
        self,
        plan: timing.Timing,
        shared: registry.SharedModel,
        multiple: int,
        scale: float,
        ensemble: bool,
        capacity: int,
    ):
        self.plan = plan
        self.shared = shared
        self.multiple = multiple
        self.scale = scale
        self.ensemble = ensemble
        self.cache: PairCache[int, torch.Tensor] = PairCache(capacity)

    def __call__(self, n: int, f: Sequence[vs.VideoFrame]) -> vs.VideoFrame:
        step = self.plan.step(n)
        times = self.plan.timesteps(step.left)
        left, right = f
        frames = self.cache.get(step.left, len(times), lambda: self._render(left, right, times))
        return convert.write_tensor(frames[times.index(step.t)], left)

    def _render(self, a: vs.VideoFrame, b: vs.VideoFrame, times: Sequence[Fraction]) -> torch.Tensor:
        device, dtype = self.shared.device, self.shared.dtype
        img0 = convert.frame_to_tensor(a, device, dtype)
        img1 = convert.frame_to_tensor(b, device, dtype)
        height, width = img0.shape[-2:]
        ts = torch.tensor([float(t) for t in times], device=device, dtype=dtype)
        out = self.shared(
            convert.pad_to_multiple(img0, self.multiple),
            convert.pad_to_multiple(img1, self.multiple),
            ts,
            self.scale,
            self.ensemble,
        )
        return out[..., :height, :width].float().cpu()


class _Stamper:
    """Final ModifyFrame callback: source props, exact durations and provenance props."""

    def __init__(self, plan: timing.Timing):
        self.plan = plan

    def __call__(self, n: int, f: Sequence[vs.VideoFrame]) -> vs.VideoFrame:
        step = self.plan.step(n)
        out = f[0].copy()
        source_props = f[1].props
        cut = bool(f[2].props["SlomoSceneChange"]) if len(f) > 2 else False
        props = out.props
        props.clear()
        props.update(source_props)
        num, den = source_props.get("_DurationNum"), source_props.get("_DurationDen")
        source_duration = Fraction(int(num), int(den)) if num and den else None
        duration = self.plan.duration(n, source_duration)
        props["_DurationNum"] = duration.numerator
        props["_DurationDen"] = duration.denominator
        props["SlomoSourceFrame"] = step.left
        props["SlomoT"] = float(step.t)
        props["SlomoSceneChange"] = int(cut)
        props.update(frame_props.retiming(self.plan, n))  # dedup: drawings and held copies
        # Scene-change marks move to the output frames that really border the cut.
        if step.t != 0 or (n > 0 and self.plan.step(n - 1).left == step.left):  # dedup: copies of one drawing
            props.pop("_SceneChangePrev", None)
        last_of_pair = n + 1 >= self.plan.num_frames or self.plan.step(n + 1).left != step.left
        if not last_of_pair:
            props.pop("_SceneChangeNext", None)
        elif cut:
            props["_SceneChangeNext"] = 1
        return out
