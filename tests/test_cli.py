"""The ``vsslomo`` command end to end: real files made with ffmpeg, real RIFE on the CPU.

Inputs are generated here (ffmpeg ``testsrc2`` video plus a ``sine`` tone), rendered through
``python -m vsslomo`` in a subprocess, and checked with ffprobe.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import sigint_default, sigint_state

from vsslomo import evaluate, heap
from vsslomo.render import encode, ffmpeg, probe
from vsslomo.render import streams as side_streams

REPO = Path(__file__).resolve().parents[1]
FFMPEG = ffmpeg.find_ffmpeg()
FFPROBE = ffmpeg.find_ffprobe(FFMPEG)

pytestmark = pytest.mark.skipif(FFPROBE is None, reason="needs ffprobe to check the results")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("VSSLOMO_DEBUG", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


def vsslomo(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the command as users do (``python -m vsslomo``) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "vsslomo", *map(str, args)],
        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
    )


def make_clip(path: Path, *, rate: int = 10, seconds: float = 1.0, size: str = "64x48", audio: str = "aac", subtitles: bool = False) -> Path:
    """A short testsrc2 video with a 440 Hz tone (and optionally a subtitle track)."""
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    maps = ["-map", "0:v", "-map", "1:a"]
    if subtitles:
        srt = path.with_suffix(".srt")
        srt.write_text("1\n00:00:00,000 --> 00:00:00,500\nhello\n\n")
        cmd += ["-i", str(srt)]
        maps += ["-map", "2:s"]
    cmd += maps + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5", "-c:a", audio]
    cmd += ["-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
    if subtitles:
        cmd += ["-c:s", "srt"]
    subprocess.run(cmd + [str(path)], check=True)
    if subtitles:
        path.with_suffix(".srt").unlink()
    return path


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-count_frames", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def streams(info: dict, kind: str) -> list[dict]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


def leftovers(folder: Path) -> list[str]:
    """Temporary files a render may have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if "vsslomo-part" in p.name)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    return {
        "mkv": make_clip(folder / "in.mkv", audio="flac", subtitles=True),
        "mp4": make_clip(folder / "in.mp4", audio="aac"),
    }


# --------------------------------------------------------------------------- render


def test_render_factor2_keeps_audio_subtitles_and_duration(clips: dict[str, Path], tmp_path: Path) -> None:
    src = ffprobe(clips["mkv"])
    out = tmp_path / "out.mkv"
    r = vsslomo("render", clips["mkv"], out, "--factor", "2", "--model", "rife", "--device", "cpu", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = ffprobe(out)
    (video,) = streams(info, "video")
    assert int(video["nb_read_frames"]) == 2 * int(streams(src, "video")[0]["nb_read_frames"]) == 20
    assert Fraction(video["r_frame_rate"]) == 20
    assert float(info["format"]["duration"]) == pytest.approx(float(src["format"]["duration"]), abs=0.06)
    # mkv holds anything: audio and subtitles are copied untouched
    assert [s["codec_name"] for s in streams(info, "audio")] == ["flac"]
    assert [s["codec_name"] for s in streams(info, "subtitle")] == ["subrip"]
    assert int(streams(info, "audio")[0]["nb_read_frames"]) == int(streams(src, "audio")[0]["nb_read_frames"])
    assert leftovers(tmp_path) == []


def test_render_fps_to_mp4(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    r = vsslomo("render", clips["mp4"], out, "--fps", "25", "--device", "cpu", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = ffprobe(out)
    (video,) = streams(info, "video")
    assert Fraction(video["r_frame_rate"]) == 25
    assert int(video["nb_read_frames"]) == 25  # ceil(10 frames * 2.5)
    assert float(video["duration"]) == pytest.approx(1.0, abs=0.05)
    (audio,) = streams(info, "audio")
    assert audio["codec_name"] == "aac"
    assert float(audio["duration"]) == pytest.approx(1.0, abs=0.06)
    # the colour description of the input is carried over
    assert (video["color_range"], video["color_space"], video["color_primaries"]) == ("tv", "bt709", "bt709")


def test_render_to_mp4_converts_what_mp4_cannot_hold(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    r = vsslomo("render", clips["mkv"], out, "--fps", "30000/1001", "--device", "cpu", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "re-encoding it to aac" in r.stderr and "mov_text" in r.stderr
    info = ffprobe(out)
    assert Fraction(streams(info, "video")[0]["r_frame_rate"]) == Fraction(30000, 1001)
    assert [s["codec_name"] for s in streams(info, "audio")] == ["aac"]
    assert [s["codec_name"] for s in streams(info, "subtitle")] == ["mov_text"]
    assert float(info["format"]["duration"]) == pytest.approx(1.0, abs=0.06)


def test_slowmo_keeps_rate_and_stretches_time(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "slow.mkv"
    r = vsslomo("render", clips["mp4"], out, "--factor", "2", "--slowmo", "--device", "cpu", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "audio dropped" in r.stderr
    info = ffprobe(out)
    (video,) = streams(info, "video")
    assert Fraction(video["r_frame_rate"]) == 10
    assert int(video["nb_read_frames"]) == 20
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.06)
    assert streams(info, "audio") == []

    out2 = tmp_path / "slow_audio.mkv"
    r = vsslomo("render", clips["mp4"], out2, "--factor", "2", "--slowmo", "--stretch-audio", "--device", "cpu", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (audio,) = streams(ffprobe(out2), "audio")
    assert float(audio.get("duration") or ffprobe(out2)["format"]["duration"]) == pytest.approx(2.0, abs=0.1)


# --------------------------------------------------------------------------- script


def test_script_is_a_working_vpy(clips: dict[str, Path], tmp_path: Path) -> None:
    r = vsslomo("script", clips["mp4"], "--factor", "3", "--model", "rife", "--device", "cpu", "--no-sc", "--ensemble", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "core.slomo.Interpolate(" in text and "factor=3" in text and "sc=False" in text and "ensemble=True" in text
    compile(text, "generated.vpy", "exec")
    import vapoursynth as vs

    if not hasattr(vs.core, "slomo"):
        pytest.skip("native slomo plugin not installed here; the script was only compiled")
    script = tmp_path / "gen.vpy"
    script.write_text(text)
    vspipe = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe")
    assert vspipe, "vspipe not found"
    info = subprocess.run([vspipe, "--info", str(script)], capture_output=True, text=True, env=_env(), timeout=120)
    assert info.returncode == 0, info.stderr
    assert re.search(r"Frames:\s*30\b", info.stdout), info.stdout
    assert re.search(r"FPS:\s*30\b", info.stdout), info.stdout


# --------------------------------------------------------------------------- bench and info


def test_bench_prints_finite_scores(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "moving.mp4", rate=10, seconds=0.9, size="96x64")
    r = vsslomo("bench", clip, "--factor", "2", "--models", "rife", "--frames", "9", "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(frame blending|rife)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)", line)
        if m:
            rows[m.group(1)] = tuple(float(v) for v in m.group(2, 3, 4, 5))
    assert set(rows) == {"frame blending", "rife"}, r.stdout
    for name, (p, s, spf, n) in rows.items():
        assert math.isfinite(p) and 10 < p < 100, (name, p)
        assert 0 < s <= 1, (name, s)
        assert spf >= 0 and n == 4  # frames 1, 3, 5, 7 are hidden with neighbours on both sides


def test_info_lists_versions_models_and_ffmpeg(tmp_path: Path) -> None:
    r = vsslomo("info", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for needle in ("vsslomo", "VapourSynth", "torch", "Python", "rife", "superslomo", "ffmpeg"):
        assert needle in r.stdout
    assert "CPU only" in r.stdout or "cuda:0" in r.stdout


@pytest.mark.skipif(not heap.available(), reason="the heap policy is glibc's")
def test_command_reruns_itself_once_with_the_heap_policy_in_the_environment(tmp_path: Path) -> None:
    probe = tmp_path / "env.py"
    probe.write_text("import os, sys, vsslomo.cli\n"
                     "print('pid', os.getpid(), 'policy', all(os.environ.get(k) == v for k, v in vsslomo.heap.ENVIRONMENT.items()))\n")
    clean = {k: v for k, v in _env().items() if k not in heap.ENVIRONMENT}
    # The executable's own entry point, on a script that prints what the re-run process sees.
    code = ("import os, runpy, sys; from vsslomo import heap; print('first', os.getpid()); sys.stdout.flush(); "
            "heap.reexec_with_policy(); runpy.run_path(sys.argv[1])")
    r = subprocess.run([sys.executable, "-c", code, str(probe)], env=clean, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pid = r.stdout.split()[1]
    # Ran twice (not more), in the same process, the second time with the policy.
    assert r.stdout.splitlines() == [f"first {pid}", f"first {pid}", f"pid {pid} policy True"]

    r = vsslomo("info", "--no-load", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "policy in the environment" in r.stdout
    opted_out = subprocess.run([sys.executable, "-m", "vsslomo", "info", "--no-load"], cwd=tmp_path,
                               env={**clean, heap.OPT_OUT: "1"}, capture_output=True, text=True, timeout=120)
    assert "threads started after the model loads" in opted_out.stdout


# --------------------------------------------------------------------------- errors


def _error_cases(tmp: Path, clip: Path) -> list[tuple[str, list[str]]]:
    (tmp / "notvideo.mp4").write_text("this is not a video\n")
    (tmp / "a_file").write_text("x")
    (tmp / "exists.mkv").write_text("keep me")
    return [
        ("missing input", ["render", str(tmp / "nope.mkv"), str(tmp / "o.mkv")]),
        ("not a video", ["render", str(tmp / "notvideo.mp4"), str(tmp / "o.mkv")]),
        ("output folder missing", ["render", str(clip), str(tmp / "no" / "dir" / "o.mkv")]),
        ("output folder is a file", ["render", str(clip), str(tmp / "a_file" / "o.mkv")]),
        ("unknown codec", ["render", str(clip), str(tmp / "o.mkv"), "--codec", "nosuchcodec"]),
        ("audio codec", ["render", str(clip), str(tmp / "o.mkv"), "--codec", "aac"]),
        ("bad fps", ["render", str(clip), str(tmp / "o.mkv"), "--fps", "sixty"]),
        ("existing output", ["render", str(clip), str(tmp / "exists.mkv")]),
        ("bad checkpoint", ["render", str(clip), str(tmp / "o.mkv"), "--checkpoint", str(tmp / "none.pt"), "--device", "cpu"]),
        ("ffmpeg rejects options", ["render", str(clip), str(tmp / "o.mkv"), "--encoder-args", "-nosuchoption 1", "--device", "cpu"]),
        ("bench missing input", ["bench", str(tmp / "nope.mkv")]),
        # issue 14's values (--threads -1, --crf 999, --preset nope, bench --start -100 ...) are in test_bad_input.py
    ]


def _script_error_cases(tmp: Path, clip: Path) -> list[tuple[str, list[str], str]]:
    """``vsslomo script`` checks every value it writes by building the filter graph first."""
    return [
        ("unsupported scale", ["--scale", "3"], "slomo.Interpolate: scale=3.0 is not supported"),
        ("threshold out of range", ["--sc-threshold", "5"], "scene-change threshold must be in (0, 1]"),
        ("fps below the source", ["--fps", "5"], "below the source fps"),
    ]


def test_errors_are_one_line_and_leave_nothing(clips: dict[str, Path], tmp_path: Path) -> None:
    for name, args in _error_cases(tmp_path, clips["mp4"]):
        before = sorted(os.listdir(tmp_path))
        r = vsslomo(*args, cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0, name
        assert "Traceback" not in r.stderr, (name, r.stderr)
        # the progress bar may have drawn a line before ffmpeg refused its options
        assert lines and lines[-1].startswith("vsslomo: error: "), (name, r.stderr)
        assert len([ln for ln in lines if ln.startswith("vsslomo:")]) == 1, (name, r.stderr)
        assert sorted(os.listdir(tmp_path)) == before, name
    assert (tmp_path / "exists.mkv").read_text() == "keep me"


def test_script_checks_what_it_writes(clips: dict[str, Path], tmp_path: Path) -> None:
    for name, extra, message in _script_error_cases(tmp_path, clips["mp4"]):
        out = tmp_path / "gen.vpy"
        r = vsslomo("script", clips["mp4"], "--device", "cpu", "-o", out, *extra, cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and "Traceback" not in r.stderr, (name, r.stderr)
        assert lines[-1].startswith("vsslomo: error: ") and message in lines[-1], (name, r.stderr)
        assert r.stdout == "" and not out.exists(), name


def test_sigint_stops_cleanly(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mkv", rate=25, seconds=20, size="64x48")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "result.mkv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vsslomo", "render", str(clip), str(out), "--factor", "4", "--device", "cpu", "-q"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_default,
    )
    try:
        deadline = time.monotonic() + 120
        while not leftovers(out_dir) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "render finished before it could be interrupted"
        assert leftovers(out_dir), "render never started writing"
        time.sleep(1.5)  # let it write some frames
        state = sigint_state(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"render still running 60 s after SIGINT; {state}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, f"{err}\n{state}"
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("vsslomo: error: interrupted")
    assert os.listdir(out_dir) == []


# --------------------------------------------------------------------------- building blocks


def test_parse_rate() -> None:
    assert probe.parse_rate("60000/1001") == Fraction(60000, 1001)
    assert probe.parse_rate("59.94") == Fraction(60000, 1001)
    assert probe.parse_rate("23.976") == Fraction(24000, 1001)
    assert probe.parse_rate("50") == 50
    assert probe.parse_rate("2.5") == Fraction(5, 2)
    for bad in ("sixty", "0", "-2", "1/0"):
        with pytest.raises(ValueError):
            probe.parse_rate(bad)


def test_banner_parser_matches_ffprobe(clips: dict[str, Path]) -> None:
    """Without ffprobe (imageio-ffmpeg), probing parses ``ffmpeg -i``; it must agree with ffprobe."""
    banner = subprocess.run([FFMPEG, "-hide_banner", "-i", str(clips["mkv"])], capture_output=True, text=True).stderr
    parsed = probe.parse_ffmpeg_banner(banner, clips["mkv"])
    probed = probe.probe(clips["mkv"], FFMPEG)
    assert [(s.index, s.kind, s.codec) for s in parsed.streams] == [(s.index, s.kind, s.codec) for s in probed.streams]
    assert [s.kind for s in parsed.streams] == ["video", "audio", "subtitle"]
    assert parsed.fps == probed.fps == 10
    assert parsed.duration == pytest.approx(probed.duration, abs=0.01)


def test_color_args_follow_frame_props() -> None:
    assert encode.color_args({"_Range": 0, "_Matrix": 1}) == ["-colorspace", "bt709", "-color_range", "tv"]
    assert encode.color_args({"_Range": 1}) == ["-color_range", "pc"]
    assert encode.color_args({"_ColorRange": 1}) == ["-color_range", "tv"]  # pre-R74 meaning
    assert encode.color_args({"_Matrix": 2, "_Transfer": 2}) == []  # unspecified: no tags


def test_atempo_chain_multiplies_to_speed() -> None:
    for speed in (Fraction(1, 2), Fraction(1, 4), Fraction(2, 5), Fraction(1, 8)):
        stages = [float(s.split("=")[1]) for s in side_streams.atempo_chain(speed).split(",")]
        assert all(0.5 <= s <= 2.0 for s in stages)
        assert math.prod(stages) == pytest.approx(float(speed))


def test_metrics() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert evaluate.psnr(img, img) == math.inf
    assert evaluate.ssim(img, img) == pytest.approx(1.0)
    noisy = np.clip(img.astype(int) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
    noisier = np.clip(img.astype(int) + rng.integers(-40, 41, img.shape), 0, 255).astype(np.uint8)
    assert 25 < evaluate.psnr(img, noisy) < 40
    assert evaluate.psnr(img, noisier) < evaluate.psnr(img, noisy)
    assert evaluate.ssim(img, noisier) < evaluate.ssim(img, noisy) < 1.0
    # MSE of exactly 1 on 8-bit: 10*log10(255^2)
    assert evaluate.psnr(np.zeros((4, 4)), np.ones((4, 4))) == pytest.approx(48.1308, abs=1e-3)


def test_hidden_indices() -> None:
    assert evaluate.hidden_indices(9, 2) == [1, 3, 5, 7]
    assert evaluate.hidden_indices(10, 2) == [1, 3, 5, 7]  # frame 9 has no right neighbour
    assert evaluate.hidden_indices(9, 4) == [1, 2, 3, 5, 6, 7]
