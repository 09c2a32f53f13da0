"""The ``vsslomo`` command: render a video file, print a ``.vpy``, benchmark models, show info.

This module is argparse and one-line errors only; the work is done by :mod:`vsslomo.render`
(and :mod:`vsslomo.evaluate` for ``bench``). Every subcommand goes through the same filter
as scripts do (:func:`vsslomo.interpolate`). User mistakes end as one ``vsslomo: error: ...``
line on stderr and a non-zero exit code; set ``VSSLOMO_DEBUG=1`` to get tracebacks instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__, heap
from . import backends as backends_lib
from .backends import BACKENDS
from .device import PRECISIONS
from .render import Interrupted, RenderError
from .render.plan import EncodeOptions, RenderRequest
from .render.probe import parse_rate

if TYPE_CHECKING:
    import numpy as np
    import vapoursynth as vs

    from .evaluate import MethodScore

PROG = "vsslomo"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MAX_THREADS = 1024


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def _say(kind: str, message: str) -> None:
    print(f"{PROG}: {kind}: {message}", file=sys.stderr, flush=True)


def _note(message: str) -> None:
    _say("note", message)


def _first_line(exc: BaseException) -> str:
    from .render.source import first_line

    return first_line(exc)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are a single line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see `{self.prog} --help`)\n")


# --------------------------------------------------------------------------- argument types


def _rate(text: str) -> Fraction:
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _factor(text: str) -> Fraction:
    value = _rate(text)
    if value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 1")
    return value


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {span}")
        return value

    return parse


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _add_filter_options(p: argparse.ArgumentParser, *, rate: bool = True) -> None:
    from .registry import MODELS

    g = p.add_argument_group("interpolation")
    if rate:
        r = g.add_mutually_exclusive_group()
        r.add_argument("--factor", type=_factor, help="frame-rate multiplier, e.g. 2, 4 or 5/2 (default 2)")
        r.add_argument("--fps", type=_rate, help="target frame rate, e.g. 60, 50 or 60000/1001")
    g.add_argument("--model", default="rife", choices=sorted(MODELS), help="interpolation model (default rife)")
    g.add_argument("--checkpoint", help="weights file for the model (default: its shipped weights)")
    g.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    g.add_argument("--precision", choices=PRECISIONS, help="auto (default: fp16 on CUDA, bf16 on CPUs with native bfloat16, else fp32), fp32, fp16 or bf16")
    g.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None, help="same as --precision fp16 / --precision fp32")
    g.add_argument("--backend", choices=sorted(BACKENDS), help="eager (default), compile (torch.compile) or tensorrt (NVIDIA, pip install 'vsslomo[tensorrt]')")
    g.add_argument("--scale", type=_finite, default=1.0, help="flow resolution: 0.5 for 4K, 0.25 for 8K (default 1)")
    g.add_argument("--ensemble", action="store_true", help="average over time reversal and mirroring: better quality, 4x the model cost")
    g.add_argument("--sc", action=argparse.BooleanOptionalAction, default=True, help="scene-cut handling: no morphing across cuts (default: on; off for bench)")
    g.add_argument("--sc-threshold", type=_finite, help="scene-cut detector sensitivity (see the filter's docs)")
    g.add_argument("--threads", type=_whole(1, MAX_THREADS), help="VapourSynth worker threads (default: all cores)")
    d = p.add_argument_group("animation held on twos and threes")
    d.add_argument("--dedup", action="store_true", help="interpolate between the distinct drawings at their true times (held copies replaced; same length and rate)")
    d.add_argument("--dedup-threshold", type=_finite, help="largest local change of a held copy, in (0, 1] (default 0.05)")
    d.add_argument("--dedup-max-hold", type=_whole(2), help="longer runs of identical frames are real stillness, not holds (default: 2 seconds of frames)")
    d.add_argument("--dedup-file", type=Path, help="keep the scan in this file and reuse it next time (refused if it belongs to another clip)")


def _add_render_parser(sub: Any) -> None:
    from .render.chunked import DEFAULT_CHUNK_FRAMES

    r = sub.add_parser("render", help="interpolate a video file (audio and subtitles kept)", description="Interpolate INPUT and encode it to OUTPUT with ffmpeg; audio and subtitles are carried over in sync.")
    r.add_argument("input", type=Path, metavar="INPUT")
    r.add_argument("output", type=Path, metavar="OUTPUT")
    _add_filter_options(r)
    e = r.add_argument_group("encoding")
    e.add_argument("--codec", help="ffmpeg video encoder (default libx264; libvpx-vp9 for .webm)")
    e.add_argument("--crf", type=_finite, help="constant-quality level where the encoder has one (default 18)")
    e.add_argument("--preset", help="encoder preset where it has one (default medium for x264/x265)")
    e.add_argument("--pix-fmt", help="output pixel format, e.g. yuv420p (default: that of the input)")
    e.add_argument("--encoder-args", default="", help="extra ffmpeg output options, e.g. \"-tune film\"")
    e.add_argument("--slowmo", action="store_true", help="keep the frame rate and play FACTOR times slower (audio dropped unless --stretch-audio)")
    e.add_argument("--stretch-audio", action="store_true", help="with --slowmo: slow the audio down too (pitch kept, re-encoded)")
    e.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists (and start an unfinished chunked render over)")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c = r.add_argument_group("many workers", "Render in chunks (cut at scene changes) on several processes, GPUs or machines; the output is bit-identical to a single-process render.")
    c.add_argument("--workers", nargs="?", const=0, type=_whole(1), metavar="N", help="N local worker processes (no number: one per GPU, or CPU workers)")
    c.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", help="workers are Ray actors: on the cluster at ADDRESS ('auto' or host:port), or on a local cluster started for this render; pip install 'vsslomo[ray]'")
    c.add_argument("--chunk-frames", type=_whole(1), default=DEFAULT_CHUNK_FRAMES, metavar="N", help=f"most source frames in one chunk (default {DEFAULT_CHUNK_FRAMES})")
    c.add_argument("--resume", action="store_true", help="continue an interrupted chunked render, reusing its finished chunks")
    r.set_defaults(func=cmd_render)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vsslomo`` command."""
    parser = _Parser(prog=PROG, description="Neural frame interpolation (RIFE, Super SloMo) for video files, via VapourSynth.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_render_parser(sub)

    s = sub.add_parser("script", help="print a ready-to-edit .vpy doing what render does", description="Print a VapourSynth script that interpolates INPUT like `vsslomo render` would.")
    s.add_argument("input", type=Path, metavar="INPUT")
    _add_filter_options(s)
    s.add_argument("--slowmo", action="store_true", help="keep the source frame rate (slow motion)")
    s.add_argument("-o", "--output", type=Path, help="write the script to this file instead of stdout")
    s.set_defaults(func=cmd_script)

    b = sub.add_parser("bench", help="compare models on your footage (drop-frame protocol)", description="Keep every FACTOR-th frame, rebuild the hidden ones with each model and with frame blending, and print PSNR/SSIM (RGB 8-bit) and seconds per frame.")
    b.add_argument("input", type=Path, metavar="INPUT")
    b.add_argument("--factor", type=_whole(2, 64), default=2, help="keep one frame in FACTOR (default 2)")
    b.add_argument("--models", default="rife,superslomo", help="comma-separated models to compare (default rife,superslomo)")
    b.add_argument("--frames", type=_whole(1), default=60, help="number of source frames to use (default 60)")
    b.add_argument("--start", type=_whole(0), default=0, help="first source frame to use (default 0)")
    b.add_argument("--save-examples", type=Path, metavar="DIR", help="write PNG strips (truth, blending, each model, error maps) of the frames where the methods differ most, and a plot of PSNR per frame, into DIR")
    b.add_argument("--example-frames", type=_whole(1, 100), default=None, metavar="N", help="with --save-examples: how many frames to show (default 3)")
    _add_filter_options(b, rate=False)
    b.set_defaults(func=cmd_bench, sc=False)

    i = sub.add_parser("info", help="versions, devices, models and ffmpeg", description="Show versions, compute devices, models (with where their weights come from) and the ffmpeg in use.")
    i.add_argument("--no-load", action="store_true", help="don't try loading each model's weights")
    i.add_argument("--checkpoint", type=Path, help="say what this weights file is (with --model: the family to read it as)")
    i.add_argument("--model", default=None, help="the model to read --checkpoint as (default: try every family)")
    i.set_defaults(func=cmd_info)

    sub.add_parser("train", help="train a model (see `vsslomo train --help`)", add_help=False)
    return parser


# --------------------------------------------------------------------------- filter arguments


def _filter_kwargs(args: argparse.Namespace, *, rate: bool = True) -> dict[str, Any]:
    """Keyword arguments for :func:`vsslomo.interpolate` from the command-line options."""
    kw: dict[str, Any] = {"model": args.model, "sc": args.sc}
    if rate:
        if args.fps is not None:
            kw["fps_num"], kw["fps_den"] = args.fps.numerator, args.fps.denominator
        elif args.factor is not None:
            if args.factor.denominator == 1:
                kw["factor"] = args.factor.numerator
            else:
                kw["factor_num"], kw["factor_den"] = args.factor.numerator, args.factor.denominator
    for name in ("checkpoint", "device", "fp16", "precision", "backend", "sc_threshold"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.scale != 1.0:
        kw["scale"] = args.scale
    if args.ensemble:
        kw["ensemble"] = True
    tuning = {"dedup_threshold": args.dedup_threshold, "dedup_max_hold": args.dedup_max_hold, "dedup_file": args.dedup_file}
    if args.dedup:
        kw["dedup"] = True
        kw.update({k: (str(v) if isinstance(v, Path) else v) for k, v in tuning.items() if v is not None})
    elif any(v is not None for v in tuning.values()):
        raise CliError("--dedup-threshold, --dedup-max-hold and --dedup-file need --dedup")
    return kw


# --------------------------------------------------------------------------- render


def _render_request(args: argparse.Namespace) -> RenderRequest:
    try:
        extra = tuple(shlex.split(args.encoder_args))
    except ValueError as exc:
        raise CliError(f"--encoder-args: {exc}") from None
    encode = EncodeOptions(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, extra_args=extra)
    return RenderRequest(
        source=args.input,
        output=args.output,
        filter_kwargs=_filter_kwargs(args),
        encode=encode,
        slowmo=args.slowmo,
        stretch_audio=args.stretch_audio,
        overwrite=args.overwrite,
        quiet=args.quiet,
        threads=args.threads,
    )


def cmd_render(args: argparse.Namespace) -> int:
    """``vsslomo render``: interpolate a file and encode it, keeping audio/subtitles in sync."""
    request = _render_request(args)
    if args.workers is None and args.ray is None and not args.resume:
        from .render import single

        debug = (lambda line: _say("debug", line)) if os.environ.get("VSSLOMO_DEBUG") else None
        summary = single.render(request, _note, debug)
    else:
        from .render import chunked

        options = chunked.ClusterOptions(
            workers=args.workers or None,
            ray=args.ray is not None,
            address=args.ray or None,
            chunk_frames=args.chunk_frames,
            resume=args.resume,
        )
        summary = chunked.render(request, options, _note)
    print(summary.line(), file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- script


def cmd_script(args: argparse.Namespace) -> int:
    """``vsslomo script``: print a ``.vpy`` doing what ``render`` would, with checked arguments."""
    from .analysis.sidecar import SUFFIX
    from .render.ffmpeg import find_ffmpeg
    from .render.probe import check_input
    from .render.scan import analyse
    from .render.script import vpy_text
    from .render.source import interpolated, open_source

    info = check_input(args.input, find_ffmpeg())
    if args.slowmo:
        if args.fps is not None:
            raise CliError("--slowmo takes --factor (how many times slower), not --fps")
        if info.fps is None:
            raise CliError(f"{args.input}: frame rate unknown; cannot write a slow-motion script")
    if args.output is not None and args.output.exists() and args.output.resolve() == args.input.resolve():
        raise CliError("--output is the same file as INPUT; choose another name")
    if args.output is not None and not args.output.parent.is_dir():
        raise CliError(f"--output {args.output}: the folder {args.output.parent} does not exist; create it first")
    kw = _filter_kwargs(args)
    src = open_source(args.input, args.threads)
    if kw.get("dedup"):
        kw.setdefault("dedup_file", str(args.input.with_name(args.input.name + SUFFIX)))
        analyse(src, kw)  # the scan, kept in the sidecar the script names
    interpolated(src, kw)  # the arguments are checked by building the graph
    text = vpy_text(args.input, kw, info.fps if args.slowmo else None)
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as exc:
            raise CliError(f"{args.output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    return 0


# --------------------------------------------------------------------------- bench


def cmd_bench(args: argparse.Namespace) -> int:
    """``vsslomo bench``: drop-frame protocol on the user's footage, one table row per method."""
    from . import evaluate
    from .registry import MODELS
    from .render.ffmpeg import find_ffmpeg
    from .render.probe import check_input
    from .render.source import open_source

    if args.frames < args.factor + 1:
        raise CliError(f"--frames must be at least {args.factor + 1} for --factor {args.factor}")
    models = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise CliError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(sorted(MODELS))}")
    _check_examples_args(args)
    check_input(args.input, find_ffmpeg())
    src = open_source(args.input, args.threads)
    if args.start >= src.num_frames:
        raise CliError(f"--start {args.start} is past the end ({src.num_frames} frames)")
    src = src[args.start : args.start + args.frames]
    decimated = evaluate.decimate(src, args.factor)
    indices = evaluate.hidden_indices(src.num_frames, args.factor)
    if not indices:
        raise CliError("the clip is too short to hide any frame")
    truth = evaluate.truth_frames(evaluate.to_rgb24(src), indices)
    print(f"{args.input}: {src.num_frames} frames from {args.start}, {src.width}x{src.height}, keeping 1 in {args.factor}, scoring {len(indices)} hidden frames", flush=True)

    rebuilt = {"frame blending": evaluate.blend_clip(decimated, args.factor)}
    scores = [evaluate.score_clip("frame blending", truth.__getitem__, rebuilt["frame blending"], indices, args.factor)]
    for name in models:
        label, clip, score = _bench_model(args, name, decimated, truth, indices)
        scores.append(score)
        if clip is not None:
            rebuilt[label] = clip
    if all(s.note.startswith("failed: ") for s in scores[1:]):  # nothing to compare: a user error, not a table
        raise CliError(scores[1].note.removeprefix("failed: ") + (" (every model failed)" if len(scores) > 2 else ""))
    title = f"drop-frame test, factor {args.factor} (PSNR/SSIM on RGB 8-bit; * = best PSNR)"
    print(evaluate.format_table(scores, title=title))
    if args.save_examples is not None:
        _save_examples(args, scores, rebuilt, truth)
    return 0


def _bench_model(
    args: argparse.Namespace, name: str, decimated: vs.VideoNode, truth: dict[int, np.ndarray], indices: list[int]
) -> tuple[str, vs.VideoNode | None, MethodScore]:
    """Score one model: its table label, its rebuilt clip (``None`` when it failed) and its score."""
    import vapoursynth as vs

    from . import evaluate
    from .render.source import interpolated

    kw = dict(_filter_kwargs(args, rate=False), model=name, factor=args.factor)
    if name != args.model:
        kw.pop("checkpoint", None)  # a --checkpoint belongs to --model only
    label = f"{name} (ensemble)" if kw.get("ensemble") else name
    try:
        clip = interpolated(decimated, kw)
        return label, clip, evaluate.score_clip(label, truth.__getitem__, clip, indices, args.factor)
    except (RenderError, vs.Error) as exc:
        return label, None, evaluate.MethodScore(label, math.nan, math.nan, math.nan, 0, f"failed: {_first_line(exc)}")


def _check_examples_args(args: argparse.Namespace) -> None:
    """Refuse ``--save-examples`` that cannot be done before any work (Pillow, a writable folder)."""
    from .bench_examples import ExamplesError, check_folder, require_pillow

    if args.save_examples is None:
        if args.example_frames is not None:
            raise CliError("--example-frames needs --save-examples DIR")
        return
    try:
        require_pillow()
        check_folder(args.save_examples)
    except ExamplesError as exc:
        raise CliError(str(exc)) from None


def _save_examples(
    args: argparse.Namespace, scores: list[MethodScore], rebuilt: dict[str, vs.VideoNode], truth: dict[int, np.ndarray]
) -> None:
    """Write the example strips of the frames where the methods differ most, and the PSNR plot."""
    from . import bench_examples, evaluate

    shift = args.start  # pictures and messages count frames as the user's clip does
    series = {s.method: {j + shift: v for j, v in s.frame_psnr.items()} for s in scores if s.method in rebuilt and s.frame_psnr}
    chosen = bench_examples.pick_frames(series, args.example_frames or bench_examples.DEFAULT_COUNT)
    spread = bench_examples.spreads(series)
    rgb = {label: evaluate.to_rgb24(clip) for label, clip in rebuilt.items() if label in series}
    examples = [
        bench_examples.Example(
            frame=n,
            truth=truth[n - shift],
            rebuilt={label: evaluate.frame_to_rgb(clip.get_frame(n - shift)) for label, clip in rgb.items()},
            psnr={label: series[label][n] for label in rgb},
        )
        for n in chosen
    ]
    title = f"PSNR per frame: {args.input.name}, keeping 1 in {args.factor}"
    paths = bench_examples.save(args.save_examples, examples, series, title)
    picked = ", ".join(f"{n} ({spread[n]:.2f} dB)" for n in chosen)
    print(f"examples: frames {picked} (largest PSNR spread between methods) -> {len(paths) - 1} strips and {paths[-1].name} in {args.save_examples}")


# --------------------------------------------------------------------------- info


def _list_models(load: bool) -> None:
    """Every model with where its weights come from; RIFE 4.x as one entry with what is installed."""
    from .models.rife4_versions import FAMILY as RIFE4
    from .models.rife4_weights import find_installed, search_dirs
    from .paths import user_weights_dir
    from .registry import MODELS

    print("models")
    for name, spec in MODELS.items():
        if spec.family == RIFE4:
            continue
        print(f"  {name:<11} {spec.description}")
        print(f"  {'':<11} weights: {spec.weights}")
        if load:
            try:
                status = f"loads: {getattr(spec.load(None), 'summary', 'ok')}"
            except Exception as exc:  # any loader failure is reported, not raised
                status = f"not usable here: {_first_line(exc)}"
            print(f"  {'':<11} status:  {status}")
    versions = [n for n, spec in MODELS.items() if spec.family == RIFE4 and n != RIFE4]
    print(f"  {'rife4.x':<11} RIFE 4.x ({versions[0]} ... {versions[-1]}, lite, heavy): model='rife4.22' etc., or 'rife4' with checkpoint=")
    found = find_installed()
    if found:
        for version, path in found:
            print(f"  {'':<11} found:   {version:<11} {path}")
    else:
        folders = ", ".join(str(f) for f in search_dirs())
        print(f"  {'':<11} found:   none (put flownet_v4.22.pkl etc. into {user_weights_dir(RIFE4)}; looked in {folders})")


def _describe_checkpoint(path: Path, model: str | None) -> None:
    """What a weights file is: the first family that reads it, and its summary."""
    from .registry import MODELS, get_spec

    try:
        specs = [get_spec(model)] if model else [spec for name, spec in MODELS.items() if name == spec.family or name in ("rife", "superslomo")]
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    problems = []
    for spec in specs:
        try:
            module = spec.load(path)
        except (ValueError, FileNotFoundError, OSError) as exc:
            problems.append(f"{spec.name}: {_first_line(exc)}")
            continue
        print(f"{path}: model={spec.name!r} reads it: {getattr(module, 'summary', spec.description)}")
        return
    raise CliError(f"{path}: no model reads it ({'; '.join(problems)})")


def cmd_info(args: argparse.Namespace) -> int:
    """``vsslomo info``: versions, devices, models and ffmpeg."""
    import platform

    from .render.ffmpeg import ffmpeg_version, find_ffmpeg, find_ffprobe

    if args.model is not None and args.checkpoint is None:
        raise CliError("--model names the family to read --checkpoint as; add --checkpoint FILE (or drop --model)")
    print(f"vsslomo     {__version__}")
    print(f"Python      {platform.python_version()} ({sys.executable})")
    try:
        import vapoursynth as vs

        print(f"VapourSynth R{vs.__version__[0]} (core {vs.core.core_version.release_major}, API {vs.__api_version__[0]}.{vs.__api_version__[1]})")
        namespaces = sorted(p.namespace for p in vs.core.plugins())
        print(f"  plugins   {', '.join(namespaces)}")
        print(f"  slomo     {'loaded (core.slomo.Interpolate)' if 'slomo' in namespaces else 'native plugin not installed (vsslomo.interpolate still works)'}")
    except ImportError as exc:
        print(f"VapourSynth not importable: {_first_line(exc)}")
    try:
        import torch
    except ImportError as exc:
        print(f"torch       not importable: {_first_line(exc)}")
        have_torch = False
    else:
        have_torch = True
    if have_torch:
        print(f"torch       {torch.__version__} (CUDA build {torch.version.cuda or 'none'})")
        print("devices")
        if torch.cuda.is_available():
            for n in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(n)
                print(f"  cuda:{n}    {p.name}, {p.total_memory / 2**30:.1f} GiB")
        else:
            print("  CPU only (no CUDA device visible)")
        from .engine import cpu_forwards
        from .numerics import cpu_threads

        print(f"  cpu       {os.cpu_count()} cores: {cpu_forwards(backends_lib.Eager())} forwards side by side, "
              f"{cpu_threads()} intra-op thread(s) each ($VSSLOMO_CPU_THREADS)")
        print(f"  heap      {heap.describe()}")
    if have_torch:
        from .device import cpu_has_native_bf16, resolve

        placement = resolve(None)
        native = "native bf16" if cpu_has_native_bf16() else "no native bf16"
        print(f"precision   default {placement.precision} on {placement.device} (CPU: {native})")
        trt = importlib.util.find_spec("torch_tensorrt") is not None
        print(f"backends    eager, compile (torch.compile), tensorrt ({'installed' if trt else 'not installed'})")
    if args.checkpoint is not None:
        _describe_checkpoint(args.checkpoint, args.model)
        return 0
    _list_models(load=not args.no_load and have_torch)
    try:
        ffmpeg = find_ffmpeg()
        print(f"ffmpeg      {ffmpeg} ({ffmpeg_version(ffmpeg)})")
        print(f"ffprobe     {find_ffprobe(ffmpeg) or 'none (parsing ffmpeg -i instead)'}")
    except RenderError as exc:
        print(f"ffmpeg      {exc}")
    return 0


# --------------------------------------------------------------------------- train


def cmd_train(argv: Sequence[str]) -> int:
    """``vsslomo train ...``: forwarded to :func:`vsslomo.train.main`."""
    import importlib

    try:
        train = importlib.import_module("vsslomo.train")
    except ImportError as exc:
        raise CliError(f"training is not available: {_first_line(exc)}") from None
    entry = getattr(train, "main", None)
    if entry is None:
        raise CliError("training is not available: vsslomo.train has no main()")
    result = entry(list(argv))
    return int(result or 0)


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vsslomo`` command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("VSSLOMO_DEBUG"))
    try:
        if args_list and args_list[0] == "train":
            return cmd_train(args_list[1:])
        args = build_parser().parse_args(args_list)
        return int(args.func(args) or 0)
    except Interrupted as exc:
        _say("error", str(exc) or "interrupted; nothing was written")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _say("error", "interrupted; nothing was written")
        return EXIT_INTERRUPTED
    except (CliError, RenderError) as exc:
        if debug:
            raise
        _say("error", str(exc))
        return EXIT_ERROR
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        _say("error", f"{where}{exc.strerror or _first_line(exc)}")
        return EXIT_ERROR
    except Exception as exc:  # last resort: keep the promise of one line, no traceback
        if debug:
            raise
        if type(exc).__module__ == "vapoursynth":  # vs.Error: the message says it all
            _say("error", _first_line(exc))
        else:
            _say("error", f"{_first_line(exc)} ({type(exc).__name__}; set VSSLOMO_DEBUG=1 for details)")
        return EXIT_ERROR


def run() -> NoReturn:
    """The ``vsslomo`` executable (and ``python -m vsslomo``).

    First re-runs itself once, in place, with the CPU heap policy in the environment, so
    that every thread of it and of what it starts reuses large buffers (:mod:`vsslomo.heap`;
    ``VSSLOMO_SYSTEM_HEAP=1`` keeps glibc's defaults).
    """
    heap.reexec_with_policy()
    sys.exit(main())


if __name__ == "__main__":
    run()
