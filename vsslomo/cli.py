"""The ``vsslomo`` command: render a video file, print a ``.vpy``, benchmark models, show info.

Every subcommand goes through the same filter as scripts do (:func:`vsslomo.interpolate`).
User mistakes end as one ``vsslomo: error: ...`` line on stderr and a non-zero exit code;
set ``VSSLOMO_DEBUG=1`` to get tracebacks instead.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from . import __version__, media

if TYPE_CHECKING:
    import vapoursynth as vs

PROG = "vsslomo"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def _say(kind: str, message: str) -> None:
    print(f"{PROG}: {kind}: {message}", file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    """The gist of an exception in one line (for errors raised in Python filter callbacks,
    VapourSynth's message is a whole traceback: its last line is the gist)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are a single line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see `{self.prog} --help`)\n")


# --------------------------------------------------------------------------- arguments


def _rate(text: str) -> Fraction:
    try:
        return media.parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _factor(text: str) -> Fraction:
    value = _rate(text)
    if value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 1")
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
    g.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None, help="half precision (default: on with CUDA)")
    g.add_argument("--scale", type=float, default=1.0, help="flow resolution: 0.5 for 4K, 0.25 for 8K (default 1)")
    g.add_argument("--ensemble", action="store_true", help="average over time reversal and mirroring: better quality, 4x the model cost")
    g.add_argument("--sc", action=argparse.BooleanOptionalAction, default=True, help="scene-cut handling: no morphing across cuts (default: on; off for bench)")
    g.add_argument("--sc-threshold", type=float, help="scene-cut detector sensitivity (see the filter's docs)")
    g.add_argument("--threads", type=int, help="VapourSynth worker threads (default: all cores)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vsslomo`` command."""
    parser = _Parser(prog=PROG, description="Neural frame interpolation (RIFE, Super SloMo) for video files, via VapourSynth.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser("render", help="interpolate a video file (audio and subtitles kept)", description="Interpolate INPUT and encode it to OUTPUT with ffmpeg; audio and subtitles are carried over in sync.")
    r.add_argument("input", type=Path, metavar="INPUT")
    r.add_argument("output", type=Path, metavar="OUTPUT")
    _add_filter_options(r)
    e = r.add_argument_group("encoding")
    e.add_argument("--codec", help="ffmpeg video encoder (default libx264; libvpx-vp9 for .webm)")
    e.add_argument("--crf", type=float, default=18, help="constant-quality level where the encoder has one (default 18)")
    e.add_argument("--preset", default=None, help="encoder preset where it has one (default medium for x264/x265)")
    e.add_argument("--pix-fmt", help="output pixel format, e.g. yuv420p (default: that of the input)")
    e.add_argument("--encoder-args", default="", help="extra ffmpeg output options, e.g. \"-tune film\"")
    e.add_argument("--slowmo", action="store_true", help="keep the frame rate and play FACTOR times slower (audio dropped unless --stretch-audio)")
    e.add_argument("--stretch-audio", action="store_true", help="with --slowmo: slow the audio down too (pitch kept, re-encoded)")
    e.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_render)

    s = sub.add_parser("script", help="print a ready-to-edit .vpy doing what render does", description="Print a VapourSynth script that interpolates INPUT like `vsslomo render` would.")
    s.add_argument("input", type=Path, metavar="INPUT")
    _add_filter_options(s)
    s.add_argument("--slowmo", action="store_true", help="keep the source frame rate (slow motion)")
    s.add_argument("-o", "--output", type=Path, help="write the script to this file instead of stdout")
    s.set_defaults(func=cmd_script)

    b = sub.add_parser("bench", help="compare models on your footage (drop-frame protocol)", description="Keep every FACTOR-th frame, rebuild the hidden ones with each model and with frame blending, and print PSNR/SSIM (RGB 8-bit) and seconds per frame.")
    b.add_argument("input", type=Path, metavar="INPUT")
    b.add_argument("--factor", type=int, default=2, help="keep one frame in FACTOR (default 2)")
    b.add_argument("--models", default="rife,superslomo", help="comma-separated models to compare (default rife,superslomo)")
    b.add_argument("--frames", type=int, default=60, help="number of source frames to use (default 60)")
    b.add_argument("--start", type=int, default=0, help="first source frame to use (default 0)")
    _add_filter_options(b, rate=False)
    b.set_defaults(func=cmd_bench, sc=False)

    i = sub.add_parser("info", help="versions, devices, models and ffmpeg", description="Show versions, compute devices, models (with where their weights come from) and the ffmpeg in use.")
    i.add_argument("--no-load", action="store_true", help="don't try loading each model's weights")
    i.set_defaults(func=cmd_info)

    sub.add_parser("train", help="train a model (see `vsslomo train --help`)", add_help=False)
    return parser


# --------------------------------------------------------------------------- shared helpers


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
    for name in ("checkpoint", "device", "fp16", "sc_threshold"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.scale != 1.0:
        kw["scale"] = args.scale
    if args.ensemble:
        kw["ensemble"] = True
    return kw


def _check_input(path: Path, ffmpeg: str) -> media.MediaInfo:
    info = media.probe(path, ffmpeg)
    if not info.has_video:
        raise CliError(f"{path}: has no video stream")
    return info


def open_source(path: Path, threads: int | None = None) -> "vs.VideoNode":
    """Open a video file with the first source filter available: bestsource, ffms2, then L-SMASH."""
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
        raise CliError("no VapourSynth source filter found: pip install vapoursynth-bestsource")
    errors = []
    for name, make in attempts:
        try:
            return make()
        except vs.Error as exc:
            errors.append(f"{name}: {_first_line(exc)}")
    raise CliError(f"{path}: cannot decode the video ({'; '.join(errors)})")


def _interpolate(clip: "vs.VideoNode", **kwargs: Any) -> "vs.VideoNode":
    import vapoursynth as vs

    from . import interpolate

    try:
        return interpolate(clip, **kwargs)
    except vs.Error as exc:
        raise CliError(_first_line(exc)) from None


# --------------------------------------------------------------------------- render


def _encodable(clip: "vs.VideoNode") -> "vs.VideoNode":
    """Bring the clip to a format that can be piped to ffmpeg as raw video."""
    import vapoursynth as vs

    if clip.format.name in media.PIX_FMTS:
        return clip
    fmt = clip.format
    bits = 8 if fmt.sample_type == vs.INTEGER and fmt.bits_per_sample <= 8 else 16
    target = fmt.replace(sample_type=vs.INTEGER, bits_per_sample=bits)
    if target.name not in media.PIX_FMTS:  # odd subsampling: go to 4:4:4
        target = target.replace(subsampling_w=0, subsampling_h=0)
    return clip.resize.Point(format=target.id)


class _Drain(threading.Thread):
    """Collects the last lines ffmpeg writes on stderr (for the error message)."""

    def __init__(self, stream: Any):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: deque[str] = deque(maxlen=20)

    def run(self) -> None:
        for raw in self.stream:
            line = raw.decode(errors="replace").strip()
            if line:
                self.lines.append(line)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _progress(quiet: bool, total: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    class FpsColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:6.2f} fps" if task.speed else "   ... fps")

    return Progress(
        TextColumn("[bold]render"),
        BarColumn(),
        MofNCompleteColumn(),
        FpsColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
        speed_estimate_period=30.0,
    )


def _fmt_rate(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}" if rate.denominator != 1 else str(rate.numerator)


def cmd_render(args: argparse.Namespace) -> int:
    """``vsslomo render``: interpolate a file and encode it, keeping audio/subtitles in sync."""
    ffmpeg = media.find_ffmpeg()
    src_path: Path = args.input
    out_path: Path = args.output
    info = _check_input(src_path, ffmpeg)

    if out_path.exists() and out_path.is_dir():
        raise CliError(f"{out_path}: is a folder; give an output file name such as {out_path / 'out.mkv'}")
    if out_path.exists() and out_path.resolve() == src_path.resolve():
        raise CliError("OUTPUT is the same file as INPUT; choose another name")
    if out_path.exists() and not args.overwrite:
        raise CliError(f"{out_path}: already exists (add -y to replace it)")
    if not out_path.suffix:
        raise CliError(f"{out_path}: give the output file an extension such as .mkv or .mp4 (it picks the container)")
    out_dir = out_path.parent if str(out_path.parent) else Path(".")
    if not out_dir.is_dir():
        raise CliError(f"{out_dir}: {'is not a folder' if out_dir.exists() else 'output folder does not exist'}")
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise CliError(f"{out_dir}: output folder is not writable")
    if args.slowmo and args.fps is not None:
        raise CliError("--slowmo takes --factor (how many times slower), not --fps")
    if args.stretch_audio and not args.slowmo:
        raise CliError("--stretch-audio only makes sense with --slowmo")

    codec = args.codec or media.default_codec(out_path)
    caps = media.encoder_caps(ffmpeg, codec)
    preset = args.preset if args.preset is not None else ("medium" if codec in ("libx264", "libx265") else None)
    import shlex

    try:
        extra = shlex.split(args.encoder_args)
    except ValueError as exc:
        raise CliError(f"--encoder-args: {exc}") from None

    src = open_source(src_path, args.threads)
    clip = _interpolate(src, **_filter_kwargs(args))
    factor = args.factor if args.factor is not None else Fraction(2)  # slow-down for --slowmo
    notices: list[str] = []
    if args.slowmo:
        if not src.fps.numerator:
            raise CliError("--slowmo needs a constant-frame-rate input")
        clip = clip.std.AssumeFPS(fpsnum=src.fps.numerator, fpsden=src.fps.denominator)
        if args.stretch_audio and info.of_kind("audio"):
            plan = media.plan_side_streams(_without(info, "subtitle"), out_path, audio_filter=media.atempo_chain(1 / factor))
        else:
            plan = media.StreamPlan(args=[], notices=[])
            if info.of_kind("audio"):
                notices.append("--slowmo: audio dropped (add --stretch-audio to slow it down with the video)")
        if info.of_kind("subtitle"):
            notices.append("--slowmo: subtitles dropped (their timing no longer matches)")
    else:
        plan = media.plan_side_streams(info, out_path)
    notices += plan.notices
    if not clip.fps.numerator:
        raise CliError("the interpolated clip has a variable frame rate; pass --fps to get a constant one")

    clip = _encodable(clip)
    pix_fmt, planes = media.PIX_FMTS[clip.format.name]
    props = dict(clip.get_frame(0).props)
    sar = None
    if props.get("_SARNum") and props.get("_SARDen"):
        sar = Fraction(int(props["_SARNum"]), int(props["_SARDen"]))
    fps = Fraction(clip.fps.numerator, clip.fps.denominator)
    extra_video = media.color_args(props) + (["-pix_fmt", args.pix_fmt] if args.pix_fmt else [])

    for note in notices:
        _say("note", note)

    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{out_path.stem}.", suffix=f".vsslomo-part{out_path.suffix}")
    os.close(fd)
    tmp = Path(tmp_name)
    job = media.EncodeJob(
        ffmpeg=ffmpeg, width=clip.width, height=clip.height, pix_fmt=pix_fmt, fps=fps, source=src_path,
        output=tmp, codec=codec, caps=caps, crf=args.crf, preset=preset, side_streams=plan.args,
        extra_video_args=extra_video, extra_args=extra, sar=sar,
    )
    cmd = media.build_encode_command(job)
    if os.environ.get("VSSLOMO_DEBUG"):
        _say("debug", " ".join(cmd))

    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    proc: subprocess.Popen[bytes] | None = None
    done = False
    start = time.perf_counter()
    try:
        # Own process group: a terminal Ctrl-C reaches only us, and we stop ffmpeg ourselves.
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, process_group=0)
        drain = _Drain(proc.stderr)
        drain.start()
        assert proc.stdin is not None
        with _progress(args.quiet, clip.num_frames) as progress:
            task = progress.add_task("render", total=clip.num_frames)
            try:
                for frame in clip.frames(close=True):
                    for p in planes:
                        proc.stdin.write(memoryview(_contiguous(frame[p])))
                    progress.advance(task)
            except BrokenPipeError:
                pass  # ffmpeg died; its message is reported below
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        rc = proc.wait()
        drain.join(timeout=5)
        if rc != 0:
            detail = drain.lines[-1] if drain.lines else f"exit code {rc}"
            raise CliError(f"ffmpeg failed: {detail}")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it normal permissions
        os.replace(tmp, out_path)
        done = True
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if not done:
            tmp.unlink(missing_ok=True)
    elapsed = time.perf_counter() - start
    duration = sum_duration(clip.num_frames, fps)
    print(
        f"{out_path}: {clip.num_frames} frames at {_fmt_rate(fps)} fps ({duration:.3f} s), "
        f"{clip.num_frames / max(elapsed, 1e-9):.2f} fps, {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0


def sum_duration(frames: int, fps: Fraction) -> float:
    """Duration in seconds of ``frames`` frames at a constant ``fps``."""
    return float(frames / fps)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _without(info: media.MediaInfo, kind: str) -> media.MediaInfo:
    return media.MediaInfo(path=info.path, format_name=info.format_name, duration=info.duration, streams=[s for s in info.streams if s.kind != kind], fps=info.fps)


def _contiguous(plane: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(np.asarray(plane))


# --------------------------------------------------------------------------- script


def render_script(args: argparse.Namespace, src_fps: Fraction | None = None) -> str:
    """Text of a ``.vpy`` equivalent to ``vsslomo render`` with these options.

    ``src_fps``: the source frame rate, for slow motion (played back at that rate).
    """
    kw = _filter_kwargs(args)
    lines = [
        "# Generated by `vsslomo script`: neural frame interpolation with VapourSynth.",
        "# Preview with `vspipe --info THIS.vpy`; encode with e.g.",
        "#   vspipe -c y4m THIS.vpy - | ffmpeg -i - -i INPUT -map 0:v -map 1:a? -c:a copy out.mkv",
        "import vapoursynth as vs",
        "",
        "core = vs.core",
        "",
        "# Source filter (pip install vapoursynth-bestsource); core.ffms2.Source or",
        "# core.lsmas.LWLibavSource work too.",
        f"clip = core.bs.VideoSource(source={str(args.input.resolve())!r})",
        "",
        "clip = core.slomo.Interpolate(",
        "    clip,",
    ]
    if "fps_num" in kw:
        lines.append("    # Target frame rate; the duration is kept. Or use factor=N (2, 4, ...) or factor_num/factor_den.")
        lines.append(f"    fps_num={kw['fps_num']}, fps_den={kw['fps_den']},")
    elif "factor_num" in kw:
        lines.append("    # Rational rate multiplier (or factor=N, or fps_num/fps_den for a target rate).")
        lines.append(f"    factor_num={kw['factor_num']}, factor_den={kw['factor_den']},")
    else:
        lines.append("    # Frame-rate multiplier; or fps_num=60000, fps_den=1001 for a target rate.")
        lines.append(f"    factor={kw.get('factor', 2)},")
    lines.append('    # "rife" (RIFE HDv3, best quality) or "superslomo" (cheap extra timesteps).')
    lines.append(f"    model={kw['model']!r},")
    if "checkpoint" in kw:
        lines.append(f"    checkpoint={str(Path(kw['checkpoint']).resolve())!r},  # weights file for the model")
    lines.append('    # "cpu", "cuda", "cuda:1"; None picks CUDA when available.')
    lines.append(f"    device={kw.get('device')!r},")
    lines.append("    # Half precision; None means on for CUDA, off for CPU.")
    lines.append(f"    fp16={kw.get('fp16')!r},")
    lines.append("    # Scene cuts: no morphing across them (the frames before a cut are repeated).")
    lines.append(f"    sc={bool(kw['sc'])!r},")
    if "sc_threshold" in kw:
        lines.append(f"    sc_threshold={kw['sc_threshold']!r},  # detector sensitivity")
    lines.append("    # Flow resolution: 1.0 up to 1080p, 0.5 for 4K, 0.25 for 8K.")
    lines.append(f"    scale={kw.get('scale', 1.0)!r},")
    lines.append("    # Average over time reversal and mirroring: better quality, 4x the model cost.")
    lines.append(f"    ensemble={bool(kw.get('ensemble', False))!r},")
    lines.append(")")
    if src_fps is not None:
        lines += [
            "",
            "# Slow motion: play the new frames at the source's frame rate.",
            f"clip = core.std.AssumeFPS(clip, fpsnum={src_fps.numerator}, fpsden={src_fps.denominator})",
        ]
    lines += ["", "clip.set_output()", ""]
    return "\n".join(lines)


def cmd_script(args: argparse.Namespace) -> int:
    """``vsslomo script``: print a ``.vpy`` doing what ``render`` would."""
    ffmpeg = media.find_ffmpeg()
    info = _check_input(args.input, ffmpeg)
    if args.slowmo:
        if args.fps is not None:
            raise CliError("--slowmo takes --factor (how many times slower), not --fps")
        if info.fps is None:
            raise CliError(f"{args.input}: frame rate unknown; cannot write a slow-motion script")
    text = render_script(args, info.fps if args.slowmo else None)
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

    if args.factor < 2:
        raise CliError("--factor must be at least 2")
    if args.frames < args.factor + 1:
        raise CliError(f"--frames must be at least {args.factor + 1} for --factor {args.factor}")
    models = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise CliError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(sorted(MODELS))}")
    ffmpeg = media.find_ffmpeg()
    _check_input(args.input, ffmpeg)
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

    scores = [evaluate.score_clip("frame blending", truth.__getitem__, evaluate.blend_clip(decimated, args.factor), indices, args.factor)]
    base = _filter_kwargs(args, rate=False)
    for name in models:
        kw = dict(base, model=name, factor=args.factor)
        if name != args.model:
            kw.pop("checkpoint", None)  # a --checkpoint belongs to --model only
        label = f"{name} (ensemble)" if kw.get("ensemble") else name
        try:
            rebuilt = _interpolate(decimated, **kw)
            scores.append(evaluate.score_clip(label, truth.__getitem__, rebuilt, indices, args.factor))
        except (CliError, _vs_error()) as exc:
            scores.append(evaluate.MethodScore(label, math.nan, math.nan, math.nan, 0, f"failed: {_first_line(exc)}"))
    print(evaluate.format_table(scores, title=f"drop-frame test, factor {args.factor} (PSNR/SSIM on RGB 8-bit; * = best PSNR)"))
    return 0


def _vs_error() -> type[Exception]:
    import vapoursynth as vs

    return vs.Error


# --------------------------------------------------------------------------- info


def cmd_info(args: argparse.Namespace) -> int:
    """``vsslomo info``: versions, devices, models and ffmpeg."""
    import platform

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
    torch = None
    try:
        import torch
    except ImportError as exc:
        print(f"torch       not importable: {_first_line(exc)}")
    if torch is not None:
        print(f"torch       {torch.__version__} (CUDA build {torch.version.cuda or 'none'})")
        print("devices")
        if torch.cuda.is_available():
            for n in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(n)
                print(f"  cuda:{n}    {p.name}, {p.total_memory / 2**30:.1f} GiB")
        else:
            print("  CPU only (no CUDA device visible)")
        print(f"  cpu       {os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads")
    from .registry import MODELS

    print("models")
    for name, spec in MODELS.items():
        print(f"  {name:<11} {spec.description}")
        print(f"  {'':<11} weights: {spec.weights}")
        if not args.no_load and torch is not None:
            try:
                spec.load(None)
                status = "found, loads"
            except Exception as exc:  # any loader failure is reported, not raised
                status = f"NOT usable: {_first_line(exc)}"
            print(f"  {'':<11} status:  {status}")
    try:
        ffmpeg = media.find_ffmpeg()
        print(f"ffmpeg      {ffmpeg} ({media.ffmpeg_version(ffmpeg)})")
        print(f"ffprobe     {media.find_ffprobe(ffmpeg) or 'none (parsing ffmpeg -i instead)'}")
    except media.MediaError as exc:
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
    except KeyboardInterrupt:
        _say("error", "interrupted; nothing was written")
        return EXIT_INTERRUPTED
    except (CliError, media.MediaError) as exc:
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


if __name__ == "__main__":
    sys.exit(main())
