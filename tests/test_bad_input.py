"""Every bad input a new or a hostile user would try (issue 14), each with its exact outcome.

Three surfaces, each a table of cases (data, not functions):

* the Python filter ``vsslomo.interpolate`` (in this process);
* the native plugin ``core.slomo.Interpolate`` in a real VSScript host: one ``vspipe`` run
  evaluates every plugin case of :data:`PLUGIN_CASES` in a ``.vpy`` and writes what each call
  gave, and a few cases run as their own ``.vpy`` so that vspipe's exit code and report are
  checked too;
* every subcommand of ``python -m vsslomo`` (render, script, bench, info, train), run as
  subprocesses side by side (:func:`cli_results`), each in its own working folder.

The contract (:func:`assert_one_line_error`): a non-zero exit code (argparse's 2 for usage
errors), no traceback, and one error line that names the filter (``slomo.Interpolate: ...``)
or the command (``vsslomo: error: ...``) and the fix; nothing is left in the working folder
(no output file, no stray temporary file). vspipe always prints the script's own Python
traceback after ``Python exception: MESSAGE``; there the message must be our one line and no
frame of vsslomo's code may show. A degenerate but legal input is a case too: its result
is checked instead. Every subprocess has a timeout, so a hang fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsslomo
from vsslomo.demo import demo_clip
from vsslomo.render.ffmpeg import find_ffmpeg

core = vs.core
REPO = Path(__file__).resolve().parents[1]
FILTER = "slomo.Interpolate: "
COMMAND = "vsslomo: error: "
TRAIN = "vsslomo train: error: "
TIMEOUT = 300
"""Seconds any subprocess may take (a loaded 2-core machine); past it the case has hung."""
NO_CUDA = not torch.cuda.is_available()
needs_no_cuda = pytest.mark.skipif(not NO_CUDA, reason="a CUDA device is visible: nothing to refuse")


# --------------------------------------------------------------------------- the contract


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; a hang past :data:`TIMEOUT` is a failure, not a stuck test run."""
    try:
        return subprocess.run(argv, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{argv[1:4]} hung for {TIMEOUT} s: {exc.stderr!r}") from None


def assert_one_line_error(result: subprocess.CompletedProcess[str], prefix: str, needle: str, code: int | None = None) -> str:
    """The error contract of a command; returns the error line."""
    err = result.stderr
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, f"exit {result.returncode} without a message"
    errors = [ln for ln in lines if ln.startswith(prefix) or ln.startswith(COMMAND)]
    assert errors == [lines[-1]], f"want one {prefix!r} line, last: {err}"
    assert lines[-1].startswith(prefix), err
    assert needle in lines[-1], (needle, lines[-1])
    assert result.returncode != 0, err
    if code is not None:
        assert result.returncode == code, (result.returncode, err)
    return lines[-1]


def assert_filter_message(message: str, needle: str) -> None:
    assert message.startswith(FILTER), message
    assert "\n" not in message and "Traceback" not in message and "internal error" not in message, message
    assert "weights_only" not in message, message  # never advice to turn the safe loader off
    assert needle in message, (needle, message)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("VSSLOMO_DEBUG", None)
    env["OMP_NUM_THREADS"] = "1"
    env["VSSLOMO_CPU_THREADS"] = "1"
    return env


# --------------------------------------------------------------------------- shared inputs


class _Evil:
    def __reduce__(self):  # a plain unpickle would run this
        return (os.system, ("touch PWNED",))


def _truncated(path: Path) -> None:
    torch.save({"w": torch.zeros(256)}, path)
    path.write_bytes(path.read_bytes()[:60])


CHECKPOINTS: dict[str, tuple[Callable[[Path], Any], str]] = {
    # name: (how to make it, what the message says)
    "empty": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "random-bytes": (lambda p: p.write_bytes(bytes(range(256)) * 8), "not a PyTorch weights file"),
    "pickled-list": (lambda p: p.write_bytes(pickle.dumps([1, 2], protocol=4)), "not a PyTorch weights file"),
    "pickled-tensor": (lambda p: torch.save(torch.zeros(3), p), "expected a"),
    "malicious-pickle": (lambda p: torch.save({"w": _Evil()}, p), "does not load for safety"),
    "malicious-plain-pickle": (lambda p: p.write_bytes(pickle.dumps(_Evil())), "not a PyTorch weights file"),
    "truncated": (_truncated, "truncated or damaged"),
    "directory": (lambda p: p.mkdir(), "is a directory"),
}
"""Damaged and hostile weight files, tried on every model family."""

FAMILIES = ["rife", "superslomo", "ifrnet-s", "ifrnet-l", "rife4"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of inputs shared by the subprocess cases (nothing may be written here)."""
    root = tmp_path_factory.mktemp("inputs")
    ff = find_ffmpeg()
    quiet = [ff, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run(quiet + ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-f", "lavfi", "-i",
                            "sine=duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                            str(root / "in.mp4")], check=True, timeout=TIMEOUT)
    subprocess.run(quiet + ["-f", "lavfi", "-i", "sine=duration=1", str(root / "audio.wav")], check=True, timeout=TIMEOUT)
    (root / "notvideo.mp4").write_text("this is not a video\n")
    (root / "afile").write_text("x")
    for name, (make, _) in CHECKPOINTS.items():
        make(root / f"{name}.pt")
    return root


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# =========================================================================== the filter

FilterCase = tuple[str, str, dict[str, Any], str]
"""(id, clip, keyword arguments, what the message says)."""


def _clip(kind: str) -> Any:
    blank = dict(format=vs.YUV420P8, width=64, height=48)
    vfr = core.std.BlankClip(length=3, fpsnum=0, fpsden=1, **blank)
    clips: dict[str, Callable[[], Any]] = {
        "yuv": lambda: core.std.BlankClip(length=3, **blank),
        "ten": lambda: core.std.BlankClip(length=10, **blank),
        "long": lambda: core.std.BlankClip(length=2**30, **blank),
        "vfr-no-durations": lambda: vfr,
        "vfr-negative-duration": lambda: core.std.SetFrameProps(vfr, _DurationNum=-1, _DurationDen=24),
        "vfr-zero-denominator": lambda: core.std.SetFrameProps(vfr, _DurationNum=1, _DurationDen=0),
        "vfr-text-duration": lambda: core.std.SetFrameProps(vfr, _DurationNum="a", _DurationDen=24),
        "audio": lambda: core.std.BlankAudio(),
        "number": lambda: 5,
        "gray32": lambda: core.std.BlankClip(format=vs.GRAY32, width=64, height=48, length=3),
        # an RGB source converted with a YUV matrix: the user's chain fails on every frame
        "broken-chain": lambda: core.resize.Bicubic(core.std.BlankClip(length=3, width=64, height=48), format=vs.RGBS, matrix_in_s="709"),
    }
    return clips[kind]()


FILTER_CASES: list[FilterCase] = [
    # absurd rates (issue 14 #1) and non-integer factors (#6)
    ("factor-1e9", "ten", {"factor": 10**9}, "VapourSynth's limit"),
    ("fps-2**62", "yuv", {"fps_num": 2**62}, "VapourSynth's limit"),
    ("fps-2**63", "yuv", {"fps_num": 2**63}, "VapourSynth's limit"),
    ("fps-1e300", "yuv", {"fps_num": 10**300}, "would have about 1.3e+299 frames, more than"),
    ("factor-overflows-rate", "yuv", {"factor_num": 2**62, "factor_den": 2**62 - 1}, "64-bit"),
    ("long-clip-times-3", "long", {"factor": 3}, "VapourSynth's limit"),
    ("factor-2.5", "yuv", {"factor": 2.5}, "factor_num=5, factor_den=2"),
    ("factor-True", "yuv", {"factor": True}, "factor must be a whole number, got True; pass an int"),
    ("factor-text", "yuv", {"factor": "2"}, "factor must be a whole number"),
    ("factor-nan", "yuv", {"factor": float("nan")}, "pass an int"),
    ("factor-inf", "yuv", {"factor": float("inf")}, "pass an int"),
    ("factor-negative", "yuv", {"factor": -2}, "factor=2"),
    ("factor-den-zero", "yuv", {"factor_num": 2, "factor_den": 0}, "factor_num=5, factor_den=2"),
    ("fps-den-zero", "yuv", {"fps_num": 60, "fps_den": 0}, "fps_num=60000, fps_den=1001"),
    ("fps-negative", "yuv", {"fps_num": -60}, "must be positive"),
    ("fps-float", "yuv", {"fps_num": 59.94}, "fps_num=60000, fps_den=1001"),
    ("fps-den-alone", "yuv", {"fps_den": 1001}, "fps_den needs fps_num"),
    # booleans take only booleans (#5)
    ("ensemble-no", "yuv", {"ensemble": "no"}, "ensemble must be True or False, got 'no'"),
    ("sc-no", "yuv", {"sc": "no"}, "sc must be True or False, got 'no'"),
    ("ensemble-1", "yuv", {"ensemble": 1}, "ensemble must be True or False"),
    ("fp16-1", "yuv", {"fp16": 1}, "fp16 must be True or False"),
    ("dedup-yes", "yuv", {"dedup": "yes"}, "dedup must be True or False"),
    ("scale-True", "yuv", {"scale": True}, "use one of 0.25, 0.5"),
    # wrong types and values
    ("model-number", "yuv", {"model": 3}, "model must be a name such as 'rife'"),
    ("model-empty", "yuv", {"model": ""}, "choose one of"),
    ("device-number", "yuv", {"device": 0}, "device must be a string such as 'cpu'"),
    ("device-tpu", "yuv", {"device": "tpu"}, "use 'cpu', 'cuda' or 'cuda:N'"),
    ("device-cuda-negative", "yuv", {"device": "cuda:-1"}, "use 'cpu', 'cuda' or 'cuda:N'"),
    ("precision-number", "yuv", {"precision": 16}, "precision must be one of"),
    ("scale-text", "yuv", {"scale": "0.5"}, "use one of 0.25, 0.5"),
    ("scale-nan", "yuv", {"scale": float("nan")}, "use one of 0.25, 0.5"),
    ("threshold-text", "yuv", {"sc_threshold": "a"}, "threshold must be a number in (0, 1]"),
    ("threshold-nan", "yuv", {"sc_threshold": float("nan")}, "threshold must be in (0, 1]"),
    ("threshold-2", "yuv", {"sc_threshold": 2.0}, "threshold must be in (0, 1]"),
    ("checkpoint-number", "yuv", {"checkpoint": 5}, "checkpoint must be a file path"),
    ("checkpoint-root", "yuv", {"checkpoint": "/"}, "is a directory; pass the weights file inside it"),
    ("checkpoint-empty-name", "yuv", {"checkpoint": ""}, "is a directory"),
    ("dedup-threshold-alone", "yuv", {"dedup_threshold": 0.1}, "add dedup=True"),
    ("dedup-threshold-5", "yuv", {"dedup": True, "dedup_threshold": 5.0}, "dedup_threshold must be a number in (0, 1]"),
    ("dedup-max-hold-0", "yuv", {"dedup": True, "dedup_max_hold": 0}, "dedup_max_hold must be a whole number of frames >= 2"),
    ("dedup-file-folder", "yuv", {"dedup": True, "dedup_file": "/"}, "is a folder; give a file name"),
    ("clip-audio", "audio", {}, "expected a video clip, got AudioNode"),
    ("clip-number", "number", {}, "expected a video clip, got int"),
    ("clip-gray32", "gray32", {}, "use 8 to 16-bit integer or float"),
    ("clip-broken-chain", "broken-chain", {}, "cannot give its first frame (Resize error"),
    # durations (#9, #10): refused when the filter is created, in both modes
    ("vfr-without-durations-factor", "vfr-no-durations", {"factor": 2}, "_DurationNum/_DurationDen"),
    ("vfr-without-durations-fps", "vfr-no-durations", {"fps_num": 24}, "core.std.AssumeFPS"),
    ("negative-duration-factor", "vfr-negative-duration", {"factor": 2}, "needs a positive _DurationNum"),
    ("negative-duration-fps", "vfr-negative-duration", {"fps_num": 60}, "needs a positive _DurationNum"),
    ("zero-denominator-duration", "vfr-zero-denominator", {"factor": 2}, "needs a positive _DurationNum"),
    ("text-duration", "vfr-text-duration", {"fps_num": 60}, "needs a positive _DurationNum"),
]


@pytest.mark.parametrize(("clip", "kwargs", "needle"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter_refuses_with_one_line(clip: str, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(vs.Error) as info:
        vsslomo.interpolate(_clip(clip), **{"device": "cpu", **kwargs})
    assert_filter_message(str(info.value), needle)


@needs_no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:99"])
def test_filter_cuda_without_a_gpu_says_what_is_missing(device: str) -> None:
    with pytest.raises(vs.Error) as info:
        vsslomo.interpolate(_clip("yuv"), device=device)
    assert_filter_message(str(info.value), f"device={device!r} was requested but")
    assert "or use device='cpu'" in str(info.value)
    if torch.version.cuda:  # a CUDA build already: the fix is not "install a CUDA build"
        assert "install a CUDA build" not in str(info.value)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("damage", list(CHECKPOINTS))
def test_damaged_checkpoints_of_every_family(family: str, damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make, needle = CHECKPOINTS[damage]
    path = tmp_path / "weights.pt"
    make(path)
    monkeypatch.chdir(tmp_path)  # a malicious pickle would leave PWNED here
    with pytest.raises(vs.Error) as info:
        vsslomo.interpolate(_clip("yuv"), model=family, checkpoint=str(path), device="cpu")
    assert_filter_message(str(info.value), needle)
    if damage != "directory":
        assert f"cannot load model {family!r}" in str(info.value) and str(path) in str(info.value)
    assert not (tmp_path / "PWNED").exists()


# --- degenerate but legal inputs: the result is checked ----------------------------


def _planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p], copy=True) for p in range(frame.format.num_planes)]


def _same_frames(a: vs.VideoNode, b: vs.VideoNode) -> bool:
    return a.num_frames == b.num_frames and all(
        all(np.array_equal(x, y, equal_nan=True) for x, y in zip(_planes(f), _planes(g)))
        for f, g in zip(a.frames(close=True), b.frames(close=True))
    )


def _moving(fmt: int = vs.YUV420P8, frames: int = 3) -> vs.VideoNode:
    clip = demo_clip(64, 48, frames)
    family = core.get_video_format(fmt).color_family
    return core.resize.Bicubic(clip, format=fmt, **({"matrix_s": "709"} if family != vs.RGB else {}))


@pytest.mark.parametrize(
    ("fmt", "tags"),
    [(vs.YUV420P8, {"_Matrix": 100}), (vs.RGB24, {"_Matrix": 1}), (vs.YUV420P8, {"_Range": 7}),
     (vs.YUV420P8, {"_Matrix": "bt709"}), (vs.YUV444P16, {"_Matrix": 2, "_Transfer": 99, "_Primaries": -4})],
    ids=["matrix-100", "rgb-tagged-bt709", "range-7", "matrix-text", "unknown-transfer"],
)
def test_unusable_colour_tags_fall_back_to_the_defaults(fmt: int, tags: dict[str, Any]) -> None:
    """Bad _Matrix/_Range tags (#12) are read as missing: the same frames as an untagged clip."""
    clip = _moving(fmt)
    untagged = core.std.RemoveFrameProps(clip, ["_Matrix", "_Range", "_Transfer", "_Primaries"])
    tagged = core.std.SetFrameProps(untagged, **tags)
    got = vsslomo.interpolate(tagged, factor=2, device="cpu")
    assert _same_frames(got, vsslomo.interpolate(untagged, factor=2, device="cpu"))
    key, value = next(iter(tags.items()))
    kept = got.get_frame(1).props[key]  # output frames keep the source's own tags
    assert (kept.decode() if isinstance(kept, bytes) else kept) == value


NON_FINITE = [float("nan"), float("inf"), float("-inf")]


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("fmt", [vs.RGBS, vs.RGBH, vs.YUV420PS, vs.YUV444PS, vs.GRAYS],
                         ids=lambda f: core.get_video_format(f).name)
def test_non_finite_pixels_stay_where_they_are(fmt: int, value: float) -> None:
    """NaN/inf samples (#4): in-betweens stay finite, no cut is seen, copies stay bit-exact."""
    clean = _moving(fmt, frames=4)

    def spoil(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        if n != 1:
            return f
        out = f.copy()
        for p in range(out.format.num_planes):
            plane = np.asarray(out[p])
            plane[4, 4] = value
            plane[10, 20:30] = value
        return out

    dirty = core.std.ModifyFrame(clean, clean, spoil)
    got = vsslomo.interpolate(dirty, factor=2, device="cpu")
    want = vsslomo.interpolate(clean, factor=2, device="cpu")
    for n, (frame, reference) in enumerate(zip(got.frames(close=True), want.frames(close=True))):
        assert frame.props["SlomoSceneChange"] == 0, n  # one bad pixel is not a cut
        if frame.props["SlomoT"] == 0:
            assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(_planes(frame), _planes(dirty.get_frame(n // 2))))
            continue
        for a, b in zip(_planes(frame), _planes(reference)):
            assert np.isfinite(a).all(), n
            assert np.abs(a.astype(np.float64) - b).mean() < 0.01, n  # only the bad pixels' surroundings differ


@pytest.mark.parametrize(
    ("make", "kwargs", "check"),
    [
        (lambda: _moving(), {"factor": 1}, "identity"),
        (lambda: _moving(), {"fps_num": 24}, "identity"),
        (lambda: _moving(frames=1), {"factor": 2}, "copies"),
        (lambda: core.std.BlankClip(format=vs.RGB24, width=1, height=1, length=2, color=[9, 99, 199]), {"factor": 2}, "copies"),
        (lambda: _moving(vs.YUV410P8), {"factor": 2}, "format"),
        (lambda: _moving(), {"factor": 2, "model": "RIFE"}, "format"),
        (lambda: core.std.SetFrameProps(_moving(), _DurationNum=-1, _DurationDen=24), {"factor": 2}, "rate-durations"),
        (lambda: _moving(), {"factor_num": 3}, "factor-3"),
    ],
    ids=["factor-1", "fps-of-the-source", "one-frame", "one-pixel", "yuv410", "model-name-case", "cfr-negative-duration",
         "factor-num-alone"],
)
def test_degenerate_but_legal_inputs_give_the_right_clip(make, kwargs: dict[str, Any], check: str) -> None:
    clip = make()
    out = vsslomo.interpolate(clip, device="cpu", **kwargs)
    assert (out.format.id, out.width, out.height) == (clip.format.id, clip.width, clip.height)
    frames = [dict(f.props) for f in out.frames(close=True)]
    if check == "identity":  # nothing to synthesize: the source, bit-exact, at its own rate
        assert out.fps == clip.fps and _same_frames(out, clip)
    elif check == "copies":  # nothing to interpolate towards: copies of the last frame
        assert out.num_frames == 2 * clip.num_frames
        assert all(_same_frames(out[n], clip[-1]) for n in range(out.num_frames - 2, out.num_frames))
    elif check == "format":
        assert out.num_frames == 6 and frames[1]["SlomoT"] == 0.5
    elif check == "rate-durations":  # unusable durations of a constant-rate clip: the clip's rate
        assert {(f["_DurationNum"], f["_DurationDen"]) for f in frames} == {(1, 48)}
    elif check == "factor-3":  # factor_num alone: factor_den defaults to 1
        assert out.fps == Fraction(72) and [round(f["SlomoT"], 6) for f in frames[:3]] == [0.0, 0.333333, 0.666667]


# =========================================================================== the plugin via vspipe

PLUGIN_CASES: list[tuple[str, str, str]] = [
    # (id, the call in the script, what it must give: "error: NEEDLE", "vs: NEEDLE" (VapourSynth's
    # own check, before the plugin runs) or "frames: N" / "same" (a legal call))
    ("factor-2.5", "src.slomo.Interpolate(factor=2.5)", "error: factor_num=5, factor_den=2"),
    ("factor-True", "src.slomo.Interpolate(factor=True)", "error: factor must be a number, got 'True'; pass a number"),
    ("factor-text", "src.slomo.Interpolate(factor='two')", "error: factor must be a number, got 'two'"),
    ("factor-nan", "src.slomo.Interpolate(factor=float('nan'))", "error: pass an int"),
    ("factor-negative", "src.slomo.Interpolate(factor=-3)", "error: factor must be at least 1"),
    ("factor-1e9", "src.slomo.Interpolate(factor=10**9)", "error: VapourSynth's limit"),
    ("fps-2**62", "src.slomo.Interpolate(fps_num=2**62)", "error: VapourSynth's limit"),
    ("factor-overflows-rate", "src.slomo.Interpolate(factor_num=2**62, factor_den=2**62 - 1)", "error: 64-bit"),
    ("sc-maybe", "src.slomo.Interpolate(sc='maybe')", "error: sc must be True or False (1 or 0), got 'maybe'"),
    ("ensemble-no", "src.slomo.Interpolate(ensemble='no')", "error: ensemble must be True or False (1 or 0), got 'no'"),
    ("ensemble-yes", "src.slomo.Interpolate(ensemble='yes')", "error: ensemble must be True or False (1 or 0)"),
    ("ensemble-2", "src.slomo.Interpolate(ensemble=2)", "error: ensemble must be True or False (1 or 0), got '2'"),
    ("fp16-text", "src.slomo.Interpolate(fp16='yes please')", "error: fp16 must be True or False (1 or 0)"),
    ("dedup-text", "src.slomo.Interpolate(dedup='perhaps')", "error: dedup must be True or False (1 or 0)"),
    ("scale-text", "src.slomo.Interpolate(scale='big')", "error: scale must be a number"),
    ("model-number", "src.slomo.Interpolate(model=5)", "error: unknown model '5'; choose one of"),
    ("precision-fp8", "src.slomo.Interpolate(precision='fp8')", "error: precision must be one of"),
    ("backend-tensorrt", "src.slomo.Interpolate(backend='tensorrt')", "error: NVIDIA GPU"),
    ("device-tpu", "src.slomo.Interpolate(device='tpu')", "error: use 'cpu', 'cuda' or 'cuda:N'"),
    ("threshold-negative", "src.slomo.Interpolate(sc_threshold=-1)", "error: threshold must be in (0, 1]"),
    ("no-clip", "core.slomo.Interpolate(factor=2)", "error: no clip given"),
    ("checkpoint-folder", "src.slomo.Interpolate(checkpoint=MEDIA)", "error: is a directory"),
    ("checkpoint-empty", "src.slomo.Interpolate(checkpoint=MEDIA + '/empty.pt')", "error: is empty (0 bytes)"),
    ("checkpoint-random", "src.slomo.Interpolate(checkpoint=MEDIA + '/random-bytes.pt')", "error: not a PyTorch weights file"),
    ("checkpoint-list", "src.slomo.Interpolate(checkpoint=MEDIA + '/pickled-list.pt')", "error: not a PyTorch weights file"),
    ("checkpoint-tensor", "src.slomo.Interpolate(checkpoint=MEDIA + '/pickled-tensor.pt')", "error: holds a single tensor"),
    ("checkpoint-malicious", "src.slomo.Interpolate(checkpoint=MEDIA + '/malicious-pickle.pt')", "error: does not load for safety"),
    ("vfr-without-durations", "vfr.slomo.Interpolate(factor=2)", "error: _DurationNum/_DurationDen"),
    ("negative-duration-factor", "vfr.std.SetFrameProps(_DurationNum=-1, _DurationDen=24).slomo.Interpolate(factor=2)",
     "error: needs a positive _DurationNum"),
    ("negative-duration-fps", "vfr.std.SetFrameProps(_DurationNum=-1, _DurationDen=24).slomo.Interpolate(fps_num=60)",
     "error: needs a positive _DurationNum"),
    ("array-factor", "src.slomo.Interpolate(factor=[2, 3])", "vs: argument factor is not of array type"),
    ("misspelt-argument", "src.slomo.Interpolate(factr=2)", "vs: does not take argument(s) named factr"),
    ("audio-clip", "core.slomo.Interpolate(core.std.BlankAudio())", "vs: argument clip was passed an unsupported type"),
    ("booleans-as-0-1", "src.slomo.Interpolate(sc=1, ensemble=0)", "frames: 6"),
    ("booleans-as-python", "src.slomo.Interpolate(sc=True, ensemble=False, factor=3)", "frames: 9"),
    ("matrix-100", "src.std.SetFrameProps(_Matrix=100).slomo.Interpolate()", "same"),
    ("range-7", "src.std.SetFrameProps(_Range=7).slomo.Interpolate()", "same"),
    ("rgb-tagged-bt709", "rgb.std.SetFrameProps(_Matrix=1).slomo.Interpolate()", "same"),
]
if NO_CUDA:
    PLUGIN_CASES.append(("cuda-without-gpu", "src.slomo.Interpolate(device='cuda')", "error: or use device='cpu'"))

PLUGIN_SCRIPT = """
import json, numpy as np, vapoursynth as vs, torch
torch.set_num_threads(1)
core = vs.core
MEDIA = {media!r}
src = core.std.BlankClip(width=64, height=48, length=3, format=vs.YUV420P8, color=[40, 100, 160])
src = core.std.Splice([src[0], src[1].std.BlankClip(color=[120, 90, 140]), src[2]])
rgb = core.resize.Bicubic(src, format=vs.RGB24, matrix_in_s="709")
vfr = core.std.BlankClip(src, fpsnum=0, fpsden=1)
reference = {{id(src): src.slomo.Interpolate(device="cpu"), id(rgb): rgb.slomo.Interpolate(device="cpu")}}

def same(a, b):
    return a.num_frames == b.num_frames and all(
        all(np.array_equal(np.asarray(f[p]), np.asarray(g[p])) for p in range(f.format.num_planes))
        for f, g in zip(a.frames(), b.frames()))

results = {{}}
for name, call in {cases!r}:
    if "device=" not in call and "BlankAudio" not in call:
        head = call[:-1]
        call = head + ("" if head.endswith("(") else ", ") + "device='cpu')"
    try:
        out = eval(call)
        base = rgb if call.startswith("rgb") else src
        results[name] = {{"frames": out.num_frames, "same": same(out, reference[id(base)])}}
    except vs.Error as exc:
        results[name] = {{"error": str(exc)}}
with open({result!r}, "w") as f:
    json.dump(results, f)
src.set_output()
"""


def _vspipe() -> str:
    exe = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe")
    if exe is None or not hasattr(core, "slomo"):
        pytest.skip("vspipe or the native slomo plugin is not installed")
    return exe


def _vspipe_env(folder: Path) -> dict[str, str]:
    env = _env()
    env["XDG_CONFIG_HOME"] = str(folder / "config")  # vspipe uses this Python (its `vapoursynth config`)
    subprocess.run([sys.executable, "-m", "vapoursynth", "config"], env=env, check=True, capture_output=True, timeout=TIMEOUT)
    return env


@pytest.fixture(scope="module")
def plugin_results(media: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What each call of :data:`PLUGIN_CASES` gave inside one real vspipe run."""
    vspipe = _vspipe()
    folder = tmp_path_factory.mktemp("plugin")
    result = folder / "results.json"
    script = folder / "cases.vpy"
    cases = [(name, call) for name, call, _ in PLUGIN_CASES]
    script.write_text(PLUGIN_SCRIPT.format(media=str(media), cases=cases, result=str(result)))
    done = run([vspipe, "--info", str(script)], cwd=folder, env=_vspipe_env(folder))
    assert done.returncode == 0, done.stderr
    return json.loads(result.read_text())


@pytest.mark.parametrize(("name", "expected"), [(c[0], c[2]) for c in PLUGIN_CASES], ids=[c[0] for c in PLUGIN_CASES])
def test_plugin_through_vspipe(plugin_results: dict[str, dict[str, Any]], name: str, expected: str) -> None:
    got = plugin_results[name]
    kind, _, value = expected.partition(": ")
    if kind == "error":
        assert "error" in got, got
        assert_filter_message(got["error"], value)
    elif kind == "vs":  # VapourSynth checks names, arity and node types before the plugin is called
        assert "error" in got and got["error"].startswith("Interpolate: ") and value in got["error"], got
    elif kind == "frames":
        assert got.get("frames") == int(value), got
    else:  # a legal call whose bad colour tags fall back: the frames of the untagged clip
        assert got.get("same") is True, got


VSPIPE_RUNS = [
    ("factor-2.5", "src.slomo.Interpolate(factor=2.5, device='cpu')", "factor_num=5, factor_den=2"),
    ("ensemble-no", "src.slomo.Interpolate(ensemble='no', device='cpu')", "ensemble must be True or False (1 or 0)"),
    ("checkpoint-random", "src.slomo.Interpolate(checkpoint=MEDIA + '/random-bytes.pt', device='cpu')",
     "not a PyTorch weights file"),
    ("negative-duration", "vfr.std.SetFrameProps(_DurationNum=-1, _DurationDen=24).slomo.Interpolate(factor=2, device='cpu')",
     "needs a positive _DurationNum"),
]


@pytest.mark.parametrize(("call", "needle"), [c[1:] for c in VSPIPE_RUNS], ids=[c[0] for c in VSPIPE_RUNS])
def test_vspipe_reports_one_filter_line_and_fails(media: Path, tmp_path: Path, call: str, needle: str) -> None:
    """vspipe's own report: exit 1, ``Python exception: slomo.Interpolate: ...``, no vsslomo frames."""
    script = tmp_path / "bad.vpy"
    script.write_text(textwrap.dedent(f"""
        import vapoursynth as vs
        core = vs.core
        MEDIA = {str(media)!r}
        src = core.std.BlankClip(width=64, height=48, length=3, format=vs.YUV420P8)
        vfr = core.std.BlankClip(src, fpsnum=0, fpsden=1)
        {call}.set_output()
    """))
    out = tmp_path / "out.raw"
    done = run([_vspipe(), "-p", str(script), str(out)], cwd=tmp_path, env=_vspipe_env(tmp_path))
    assert done.returncode == 1, done.stderr
    reported = [ln for ln in done.stderr.splitlines() if ln.startswith("Python exception: ")]
    assert len(reported) == 1, done.stderr
    assert_filter_message(reported[0].removeprefix("Python exception: "), needle)
    assert "vsslomo" not in done.stderr.split("Traceback", 1)[-1], done.stderr  # only the script's frames
    assert not out.exists() or out.stat().st_size == 0


# =========================================================================== the command

CliCase = tuple[str, list[str], str, str, int | None]
"""(id, arguments ({M}: the inputs folder, {W}: the case's own working folder), prefix, needle, exit code)."""

IN, OUT = "{M}/in.mp4", "{W}/o.mkv"
CLI_CASES: list[CliCase] = [
    # usage errors (argparse, exit 2)
    ("no-command", [], COMMAND, "required: COMMAND", 2),
    ("unknown-command", ["frobnicate"], COMMAND, "invalid choice: 'frobnicate'", 2),
    ("render-threads--1", ["render", IN, OUT, "--threads", "-1"], COMMAND, "--threads: '-1' must be from 1 to 1024", 2),
    ("render-threads-99999", ["render", IN, OUT, "--threads", "99999"], COMMAND, "must be from 1 to 1024", 2),
    ("render-factor-1", ["render", IN, OUT, "--factor", "1"], COMMAND, "'1' must be greater than 1", 2),
    ("render-factor-text", ["render", IN, OUT, "--factor", "two"], COMMAND, "--factor", 2),
    ("render-fps-0", ["render", IN, OUT, "--fps", "0"], COMMAND, "must be positive", 2),
    ("render-fps-inf", ["render", IN, OUT, "--fps", "inf"], COMMAND, "like 60000/1001", 2),
    ("render-fps-nan", ["render", IN, OUT, "--fps", "nan"], COMMAND, "like 60000/1001", 2),
    ("render-fps-and-factor", ["render", IN, OUT, "--fps", "30", "--factor", "2"], COMMAND, "not allowed with", 2),
    ("render-scale-nan", ["render", IN, OUT, "--scale", "nan"], COMMAND, "not a finite number", 2),
    ("render-crf-nan", ["render", IN, OUT, "--crf", "nan"], COMMAND, "not a finite number", 2),
    ("render-model-nope", ["render", IN, OUT, "--model", "nope"], COMMAND, "invalid choice: 'nope'", 2),
    ("render-precision-fp8", ["render", IN, OUT, "--precision", "fp8"], COMMAND, "invalid choice: 'fp8'", 2),
    ("render-workers-0", ["render", IN, OUT, "--workers", "0"], COMMAND, "must be at least 1", 2),
    ("render-chunk-frames-0", ["render", IN, OUT, "--workers", "2", "--chunk-frames", "0"], COMMAND, "must be at least 1", 2),
    ("render-dedup-max-hold-1", ["render", IN, OUT, "--dedup", "--dedup-max-hold", "1"], COMMAND, "must be at least 2", 2),
    ("render-missing-output", ["render", IN], COMMAND, "required: OUTPUT", 2),
    ("script-threads-0", ["script", IN, "--threads", "0"], COMMAND, "must be from 1 to 1024", 2),
    ("bench-start--100", ["bench", IN, "--start", "-100"], COMMAND, "--start: '-100' must be at least 0", 2),
    ("bench-start--3", ["bench", IN, "--start", "-3"], COMMAND, "--start: '-3' must be at least 0", 2),
    ("bench-factor-1", ["bench", IN, "--factor", "1"], COMMAND, "must be from 2 to 64", 2),
    ("bench-factor-65", ["bench", IN, "--factor", "65"], COMMAND, "must be from 2 to 64", 2),
    ("bench-frames-0", ["bench", IN, "--frames", "0"], COMMAND, "must be at least 1", 2),
    # checked before any frame (exit 1)
    ("render-crf-999", ["render", IN, OUT, "--crf", "999"], COMMAND, "--crf 999 is out of range for libx264: use 0 to 51", 1),
    ("render-crf--5", ["render", IN, OUT, "--crf", "-5"], COMMAND, "use 0 to 51", 1),
    ("render-crf-for-ffv1", ["render", IN, OUT, "--codec", "ffv1", "--crf", "10"], COMMAND, "drop --crf", 1),
    ("render-preset-nope", ["render", IN, OUT, "--preset", "nope"], COMMAND, "is not a libx264 preset; choose one of", 1),
    ("render-pix-fmt-nope", ["render", IN, OUT, "--pix-fmt", "nope"], COMMAND, "cannot be written by libx264; choose one of", 1),
    ("render-unknown-extension", ["render", IN, "{W}/o.xyz"], COMMAND, "no container for '.xyz' files", 1),
    ("render-no-extension", ["render", IN, "{W}/o"], COMMAND, "give the output file an extension", 1),
    ("render-unclosed-quote", ["render", IN, OUT, "--encoder-args", "-tune 'film"], COMMAND, "No closing quotation", 1),
    ("render-output-is-input", ["render", IN, IN, "-y"], COMMAND, "same file as INPUT", 1),
    ("render-input-folder", ["render", "{M}", OUT], COMMAND, "is a folder, not a video file", 1),
    ("render-output-folder", ["render", IN, "{W}"], COMMAND, "is a folder; give an output file name", 1),
    ("render-audio-only", ["render", "{M}/audio.wav", OUT], COMMAND, "has no video stream", 1),
    ("render-not-a-video", ["render", "{M}/notvideo.mp4", OUT], COMMAND, "", 1),
    ("render-slowmo-fps", ["render", IN, OUT, "--slowmo", "--fps", "30"], COMMAND, "--slowmo takes --factor", 1),
    ("render-stretch-alone", ["render", IN, OUT, "--stretch-audio"], COMMAND, "only makes sense with --slowmo", 1),
    ("render-dedup-option-alone", ["render", IN, OUT, "--dedup-threshold", "0.1"], COMMAND, "need --dedup", 1),
    ("script-output-is-input", ["script", IN, "-o", IN], COMMAND, "same file as INPUT", 1),
    ("script-output-folder-missing", ["script", IN, "-o", "{W}/no/x.vpy"], COMMAND, "does not exist; create it first", 1),
    ("script-slowmo-fps", ["script", IN, "--slowmo", "--fps", "30"], COMMAND, "--slowmo takes --factor", 1),
    ("script-audio-only", ["script", "{M}/audio.wav"], COMMAND, "has no video stream", 1),
    ("bench-start-past-end", ["bench", IN, "--start", "100"], COMMAND, "--start 100 is past the end (10 frames)", 1),
    ("bench-models-nope", ["bench", IN, "--models", "nope"], COMMAND, "unknown model(s) nope; choose from", 1),
    ("bench-models-none", ["bench", IN, "--models", ",,"], COMMAND, "(none given)", 1),
    ("bench-frames-2", ["bench", IN, "--frames", "2"], COMMAND, "--frames must be at least 3 for --factor 2", 1),
    ("bench-audio-only", ["bench", "{M}/audio.wav"], COMMAND, "has no video stream", 1),
    ("info-model-alone", ["info", "--model", "rife"], COMMAND, "add --checkpoint FILE", 1),
    ("info-model-nope", ["info", "--checkpoint", "{M}/empty.pt", "--model", "nope"], COMMAND, "unknown model 'nope'", 1),
    # found by building the filter graph (the filter's message, through the command)
    ("render-factor-1e9", ["render", IN, OUT, "--factor", "1000000000", "--device", "cpu"], COMMAND + FILTER, "VapourSynth's limit", 1),
    ("render-checkpoint-malicious", ["render", IN, OUT, "--checkpoint", "{M}/malicious-pickle.pt", "--device", "cpu"],
     COMMAND + FILTER, "does not load for safety", 1),
    ("script-scale-3", ["script", IN, "--scale", "3", "--device", "cpu", "-o", "{W}/s.vpy"], COMMAND + FILTER, "scale=3.0 is not supported", 1),
    ("script-checkpoint-random", ["script", IN, "--checkpoint", "{M}/random-bytes.pt", "--device", "cpu", "-o", "{W}/s.vpy"],
     COMMAND + FILTER, "not a PyTorch weights file", 1),
    ("bench-checkpoint-tensor", ["bench", IN, "--models", "rife", "--checkpoint", "{M}/pickled-tensor.pt", "--device", "cpu",
                                 "--frames", "5"], COMMAND + FILTER, "holds a single tensor", 1),
    ("info-checkpoint-empty", ["info", "--checkpoint", "{M}/empty.pt", "--model", "rife"], COMMAND, "is empty (0 bytes)", 1),
    ("info-checkpoint-malicious", ["info", "--checkpoint", "{M}/malicious-pickle.pt", "--model", "superslomo"], COMMAND,
     "does not load for safety", 1),
    ("info-checkpoint-folder", ["info", "--checkpoint", "{M}", "--model", "ifrnet-s"], COMMAND, "is a directory", 1),
    # train: every input checked before the first step (exit 2)
    ("train-audio-only", ["train", "{M}/audio.wav", "--out", "{W}/run"], TRAIN, "has no video stream (an audio-only file?)", 2),
    ("train-out-unwritable", ["train", IN, "--out", "{M}/afile/run"], TRAIN, "is not writable", 2),
    ("train-out-is-a-file", ["train", IN, "--out", "{M}/afile"], TRAIN, "is a file; pass a folder", 2),
    ("train-device-tpu", ["train", IN, "--out", "{W}/run", "--device", "tpu"], TRAIN, "use cpu, cuda or cuda:N", 2),
    ("train-threads--1", ["train", IN, "--out", "{W}/run", "--threads", "-1"], TRAIN, "--threads must not be negative", 2),
    ("train-lr-nan", ["train", IN, "--out", "{W}/run", "--lr", "nan"], TRAIN, "learning rates must be positive", 2),
    ("train-still-fraction-2", ["train", IN, "--out", "{W}/run", "--still-fraction", "2"], TRAIN,
     "--still-fraction must lie in [0, 1], got 2.0", 2),
    ("train-texture-fraction-negative", ["train", IN, "--out", "{W}/run", "--texture-fraction", "-0.1"], TRAIN,
     "--texture-fraction must lie in [0, 1], got -0.1", 2),
    ("train-wavelength-reversed", ["train", IN, "--out", "{W}/run", "--wavelength", "20", "4"], TRAIN,
     "--wavelength needs 2 <= MIN <= MAX <= 1024 (photo pixels), got 20.0 4.0", 2),
    ("train-sensor-noise-negative", ["train", IN, "--out", "{W}/run", "--sensor-noise", "-1"], TRAIN,
     "--sensor-noise must lie in [0, 64] (8-bit levels), got -1.0", 2),
    ("train-sprites-reversed", ["train", IN, "--out", "{W}/run", "--sprites", "5", "2"], TRAIN,
     "--sprites needs 0 <= MIN <= MAX <= 64, got 5 2", 2),
    ("train-init-malicious", ["train", IN, "--out", "{W}/run", "--init", "{M}/malicious-pickle.pt"], TRAIN,
     "does not load for safety", 2),
    ("train-no-out", ["train"], TRAIN, "--out DIR is required", 2),
]
if NO_CUDA:
    CLI_CASES += [
        ("render-cuda", ["render", IN, OUT, "--device", "cuda"], COMMAND + FILTER, "or use device='cpu'", 1),
        ("bench-cuda", ["bench", IN, "--models", "rife", "--device", "cuda", "--frames", "5"], COMMAND + FILTER,
         "or use device='cpu'", 1),
        ("train-cuda", ["train", IN, "--out", "{W}/run", "--device", "cuda"], TRAIN, "or use --device cpu", 2),
    ]


@pytest.fixture(scope="module")
def cli_results(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, list[str], Future]]]:
    """Every :data:`CLI_CASES` command, started side by side; each test waits for its own."""
    root = tmp_path_factory.mktemp("cli")
    pool = ThreadPoolExecutor(max_workers=4)
    started = {}
    for name, args, *_ in CLI_CASES:
        work = root / name
        work.mkdir()
        argv = [sys.executable, "-m", "vsslomo", *(a.format(M=media, W=work) for a in args)]
        started[name] = (work, _listing(media), pool.submit(run, argv, work))
    yield started
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize(("name", "prefix", "needle", "code"), [(c[0], *c[2:]) for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_command_refuses_with_one_line(cli_results, media: Path, name: str, prefix: str, needle: str, code: int) -> None:
    work, inputs_before, future = cli_results[name]
    result = future.result()
    assert_one_line_error(result, prefix, needle, code)
    assert "weights_only" not in result.stderr
    assert _listing(work) == [], _listing(work)  # no output, no temporary file, no PWNED
    assert _listing(media) == inputs_before
