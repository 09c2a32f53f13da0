"""``slomo.Interpolate``: the VapourSynth graph between a clip and an interpolation model.

Data flows one way: the output frame number goes through the pure timing plan to a source
pair and a time t; frames at t = 0 (and, at a scene cut, every frame of the pair) are the
source frame itself, bit-exact; the others come from the model through
:class:`vsslomo.engine.Renderer` (cached per-frame and per-pair work, timesteps in
memory-bounded chunks) on RGB tensors converted from and back to the clip's own format
(see :mod:`vsslomo.convert`).

Arguments arrive as real Python types; the native plugin's values are converted in
:mod:`vsslomo._bridge`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import vapoursynth as vs

from . import backends, convert, engine, props, registry, timing
from . import device as devices
from .analysis.cuts import validate_threshold
from .analysis.vsadapter import Dedup, mark_scene_changes

FILTER_NAME = "slomo.Interpolate"
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
MAX_FRAMES = 2**31 - 1
"""VapourSynth's limit on a clip's length."""
MAX_RATE_TERM = 2**63 - 1
"""VapourSynth stores frame rates and durations as int64 numerators and denominators."""


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
    precision: str | None = None,
    backend: str | backends.Eager | None = None,
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

    ``model``: a name from :data:`vsslomo.registry.MODELS` (``"rife"``, ``"superslomo"``,
    ...); ``checkpoint``: a weights file for it (default: the model's own weights).
    ``device``: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (default CUDA when available).
    ``precision``: ``"auto"`` (default: fp16 on CUDA, bf16 on CPUs with native bfloat16,
    fp32 elsewhere), ``"fp32"``, ``"fp16"`` or ``"bf16"``; ``fp16=True/False`` is the older
    spelling of ``precision="fp16"/"fp32"``. ``backend``: ``"eager"`` (default),
    ``"compile"``, ``"tensorrt"`` or a :mod:`vsslomo.backends` object with tuned options.
    ``sc``: scene-cut handling, detected and taken from upstream
    ``_SceneChangeNext/_SceneChangePrev``; across a cut the in-between frames are
    duplicates of the left frame. ``sc_threshold``: detector sensitivity (see
    :func:`vsslomo.analysis.vsadapter.mark_scene_changes`). ``scale``: flow resolution factor (0.5 for
    4K, 0.25 for 8K). ``ensemble``: average the model over time reversal and left-right
    mirroring (RIFE 4.x: the version's own ensemble): better quality, 2-4x the cost.

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
    placement = _check_placement(device, _check_optional_bool("fp16", fp16), precision)
    chosen_backend = _check_backend(backend, placement)
    engine.claim_heap(placement, chosen_backend)  # before VapourSynth's threads first allocate
    first = _first_props(clip)
    spec = _check_model(model)
    scale = _check_scale(scale)
    use_cuts = _check_bool("sc", sc)
    use_ensemble = _check_bool("ensemble", ensemble)
    threshold = _check_threshold(sc_threshold)
    holds = _check_dedup(clip, dedup, dedup_threshold, dedup_max_hold, dedup_file, use_cuts, threshold)
    plan = _plan(clip, first, factor, factor_num, factor_den, fps_num, fps_den, durations=holds.durations if holds else None)
    checkpoint_path = _check_checkpoint(checkpoint)
    revision = Path(checkpoint_path).stat().st_mtime_ns if checkpoint_path else 0
    try:
        shared = engine.get_engine(spec.name, checkpoint_path, revision, placement, chosen_backend)
    except (ValueError, FileNotFoundError, OSError, RuntimeError, KeyError) as exc:
        raise _error(f"cannot load model {spec.name!r}: {_one_line(exc)}") from None
    clip = _cached(clip)
    if holds is not None:  # re-timed between distinct drawings; cuts from the same scan
        try:
            plan, cuts = holds.retime(plan)
        except ValueError as exc:
            raise _error(str(exc)) from None
    else:
        cuts = mark_scene_changes(clip, threshold) if use_cuts else None
    try:
        renderer = engine.Renderer(
            shared, plan, scale, use_ensemble, (clip.height, clip.width), capacity=max(4, 2 * vs.core.num_threads)
        )
    except ValueError as exc:
        raise _error(str(exc)) from None
    return _build(clip, first, plan, renderer, cuts)


# --- argument checking ---------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_clip(clip: Any) -> vs.VideoNode:
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


def _first_props(clip: vs.VideoNode) -> vs.FrameProps:
    """Frame 0's props, read once for every check and conversion that needs them."""
    try:
        return clip.get_frame(0).props
    except vs.Error as exc:
        raise _error(f"the input clip cannot give its first frame ({_one_line(exc)}); fix the filters before Interpolate") from None


def _check_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _error(f"{name} must be True or False, got {value!r}")


def _check_optional_bool(name: str, value: Any) -> bool | None:
    return None if value is None else _check_bool(name, value)


def _check_model(model: Any) -> registry.ModelSpec:
    if not isinstance(model, str):
        raise _error(f"model must be a name such as 'rife', got {model!r}")
    try:
        return registry.get_spec(model)
    except KeyError as exc:
        raise _error(str(exc.args[0])) from None


def _check_scale(scale: Any) -> float:
    ok = isinstance(scale, numbers.Real) and not isinstance(scale, bool) and float(scale) in SCALES
    if not ok:
        raise _error(f"scale={scale!r} is not supported; use one of {', '.join(map(str, SCALES))}")
    return float(scale)


def _check_threshold(threshold: Any) -> float:
    try:
        return validate_threshold(threshold)
    except ValueError as exc:
        raise _error(str(exc)) from None


def _check_placement(device: Any, fp16: bool | None, precision: Any) -> devices.Placement:
    if device is not None and not isinstance(device, str):
        raise _error(f"device must be a string such as 'cpu' or 'cuda:0', got {device!r}")
    try:
        return devices.resolve(device, fp16, precision)
    except ValueError as exc:
        raise _error(str(exc)) from None


def _check_backend(backend: Any, placement: devices.Placement) -> backends.Eager:
    import torch

    try:
        return backends.resolve(backend, torch.device(placement.device))
    except backends.BackendError as exc:
        raise _error(str(exc)) from None


def _check_dedup(
    clip: vs.VideoNode, dedup: Any, threshold: Any, max_hold: Any, path: Any, sc: bool, sc_threshold: float
) -> Dedup | None:
    """The ``dedup`` analysis (arguments checked now; the clip is scanned when first needed)."""
    if not _check_bool("dedup", dedup):
        for name, value in (("dedup_threshold", threshold), ("dedup_max_hold", max_hold), ("dedup_file", path)):
            if value is not None:
                raise _error(f"{name} is given but dedup is off; add dedup=True")
        return None
    try:
        return Dedup(clip, threshold, max_hold, path, sc, sc_threshold)
    except ValueError as exc:
        raise _error(str(exc)) from None


def _check_checkpoint(checkpoint: Any) -> str | None:
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, (str, Path)):
        raise _error(f"checkpoint must be a file path, got {checkpoint!r}")
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        raise _error(f"checkpoint {str(path)!r} is a directory; pass the weights file inside it")
    if not path.is_file():
        raise _error(f"checkpoint file {str(path)!r} does not exist; pass the path of a weights file")
    return str(path.resolve())


def _plan(
    clip: vs.VideoNode, first: vs.FrameProps, *rate: Any, durations: Callable[[], list[Fraction]] | None = None
) -> timing.Timing:
    """The timing plan (``first``: frame 0's props); ``durations`` reads every frame's duration, called only when needed."""
    factor, factor_num, factor_den, fps_num, fps_den = rate
    source_fps = Fraction(clip.fps.numerator, clip.fps.denominator) if clip.fps.numerator else None
    try:
        plan = timing.resolve(
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
    _check_limits(clip, plan)
    if source_fps is None and durations is None and _source_duration(first, 0) is None:
        raise _missing_duration(0)  # refused now, not at every frame
    return plan


def _check_limits(clip: vs.VideoNode, plan: timing.Timing) -> None:
    """Refuse plans whose output VapourSynth cannot represent."""
    if plan.num_frames > MAX_FRAMES:
        count = f"{plan.num_frames}" if plan.num_frames < 10**15 else f"about {float(plan.num_frames):.1e}"
        raise _error(
            f"the output would have {count} frames, more than VapourSynth's limit of {MAX_FRAMES}; "
            "use a smaller factor or target rate (or a shorter clip)"
        )
    if plan.fps is not None and max(plan.fps.numerator, plan.fps.denominator) > MAX_RATE_TERM:
        raise _error(
            f"the output frame rate {plan.fps} does not fit VapourSynth's 64-bit rates; "
            "use a simpler factor or target rate, e.g. factor_num=5, factor_den=2"
        )


def _source_duration(frame_props: vs.FrameProps, n: int) -> Fraction | None:
    """Frame ``n``'s duration from its props; ``None`` if absent; refuses invalid ones."""
    try:
        return props.duration(frame_props)
    except ValueError:
        num, den = frame_props.get(props.DURATION_NUM), frame_props.get(props.DURATION_DEN)
        raise _error(
            f"source frame {n} has duration {num}/{den}; every frame needs a positive "
            "_DurationNum/_DurationDen (fix the source or give the clip a constant rate with core.std.AssumeFPS)"
        ) from None


def _durations(clip: vs.VideoNode) -> list[Fraction]:
    """Every frame's duration, for variable-frame-rate clips converted to a constant rate."""
    durations = []
    for n, frame in enumerate(clip.frames(close=True)):
        duration = _source_duration(frame.props, n)
        if duration is None:
            raise _missing_duration(n)
        durations.append(duration)
    return durations


def _missing_duration(n: int) -> vs.Error:
    return _error(
        f"the clip has a variable frame rate but frame {n} has no _DurationNum/_DurationDen; "
        "use a source filter that sets frame durations, or give the clip a constant rate with core.std.AssumeFPS"
    )


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
    clip: vs.VideoNode, first: vs.FrameProps, plan: timing.Timing, renderer: engine.Renderer, cuts: vs.VideoNode | None
) -> vs.VideoNode:
    length, fps = plan.num_frames, plan.fps

    def left(n: int) -> int:
        return plan.step(n).left

    def right(n: int) -> int:
        return plan.step(n).right

    try:
        info = convert.color_info(clip, first)
    except ValueError as exc:
        raise _error(str(exc)) from None
    # Subsampled YUV goes to RGB through float YUV, so its chroma can be restored exactly.
    finite = convert.finite_samples(clip)  # the model's branches only; copies stay bit-exact
    native = convert.to_float_native(finite, info) if convert.is_subsampled(clip) else None
    rgb = convert.to_model_clip(native if native is not None else finite, info)
    rgb_pair = [_remap(rgb, length, fps, left), _remap(rgb, length, fps, right)]
    if native is not None:
        residual = convert.round_trip_residual(native, rgb, info)
        pair_residual = _blend(_remap(residual, length, fps, left), _remap(residual, length, fps, right), plan)

    def synthesizer() -> vs.VideoNode:
        synth_rgb = vs.core.std.ModifyFrame(_blank(rgb, length, fps), rgb_pair, _Synthesizer(renderer))
        if native is not None:
            return convert.from_model_clip_with_residual(synth_rgb, pair_residual, clip, info)
        return convert.from_model_clip(synth_rgb, clip, info)

    # VapourSynth runs the Python callbacks of one filter instance one at a time: one
    # synthesizer per execution slot, pairs dealt round-robin, lets different pairs' forwards
    # run side by side (the frames of one pair share its work and stay on one instance).
    synths = [synthesizer() for _ in range(renderer.engine.parallelism)]
    source = _remap(clip, length, fps, left)
    pair_cuts = _remap(cuts, length, fps, left) if cuts is not None else None

    def choose(n: int, f: vs.VideoFrame | None = None) -> vs.VideoNode:
        step = plan.step(n)
        if step.t == 0 or (f is not None and f.props[props.SCENE_CHANGE]):
            return source
        return synths[step.left % len(synths)]

    if pair_cuts is None:
        chosen = vs.core.std.FrameEval(_blank(clip, length, fps), choose)
    else:
        chosen = vs.core.std.FrameEval(_blank(clip, length, fps), choose, prop_src=pair_cuts)

    clips = [chosen, source] + ([pair_cuts] if pair_cuts is not None else [])
    return vs.core.std.ModifyFrame(chosen, clips, _Stamper(plan, fps is not None))


class _Synthesizer:
    """ModifyFrame callback: output frame n from the renderer, given its two source frames."""

    def __init__(self, renderer: engine.Renderer):
        self.renderer = renderer

    def __call__(self, n: int, f: Sequence[vs.VideoFrame]) -> vs.VideoFrame:
        left, right = f
        image = self.renderer.frame(n, lambda: convert.frame_to_array(left), lambda: convert.frame_to_array(right))
        return convert.write_array(image.numpy(), left)


class _Stamper:
    """Final ModifyFrame callback: source props, exact durations and provenance props."""

    def __init__(self, plan: timing.Timing, constant_rate: bool):
        self.plan = plan
        self.constant_rate = constant_rate

    def __call__(self, n: int, f: Sequence[vs.VideoFrame]) -> vs.VideoFrame:
        step = self.plan.step(n)
        out = f[0].copy()
        source_props = f[1].props
        cut = bool(f[2].props[props.SCENE_CHANGE]) if len(f) > 2 else False
        frame_props = out.props
        frame_props.clear()
        frame_props.update(source_props)
        if self.constant_rate:  # an unusable duration prop is replaced by the clip's rate
            source_duration = props.usable_duration(source_props)
        else:
            source_duration = _source_duration(source_props, step.left)
            if source_duration is None and self.plan.ratio is not None:
                raise _missing_duration(step.left)
        duration = self.plan.duration(n, source_duration)
        frame_props[props.DURATION_NUM] = duration.numerator
        frame_props[props.DURATION_DEN] = duration.denominator
        frame_props[props.SOURCE_FRAME] = step.left
        frame_props[props.T] = float(step.t)
        frame_props[props.SCENE_CHANGE] = int(cut)
        frame_props.update(props.retiming(self.plan, n))  # dedup: drawings and held copies
        # Scene-change marks move to the output frames that really border the cut.
        if step.t != 0 or (n > 0 and self.plan.step(n - 1).left == step.left):  # dedup: copies of one drawing
            frame_props.pop(props.SCENE_CHANGE_PREV, None)
        last_of_pair = n + 1 >= self.plan.num_frames or self.plan.step(n + 1).left != step.left
        if not last_of_pair:
            frame_props.pop(props.SCENE_CHANGE_NEXT, None)
        elif cut:
            frame_props[props.SCENE_CHANGE_NEXT] = 1
        return out

