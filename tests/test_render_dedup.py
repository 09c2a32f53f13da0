"""``--dedup`` on the command: render (one process and chunked), script and the sidecar file.

The clip is the built-in scene drawn on twos and threes with a cut, 64x48, lossless, so the
held copies are exact and the command's scan finds every drawing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from render_clips import FFMPEG, decoded, probe, vsslomo

pytestmark = pytest.mark.skipif(__import__("render_clips").FFPROBE is None, reason="needs ffprobe to check the results")

CADENCE = (2, 3, 2, 2, 3, 1, 2, 2, 3)
"""Frames each drawing is held for; the cut comes after the fifth drawing."""
ARGS = ("--factor", "2", "--model", "rife", "--device", "cpu", "--codec", "ffv1", "-q")


@pytest.fixture(scope="module")
def held_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vsslomo.demo import render

    frames = []
    for k, hold in enumerate(CADENCE):
        shot = 0 if k < 5 else 1
        picture = (render(float(2 * k), 64, 48, shot) * 255).round().astype(np.uint8)
        frames += [picture] * hold
    raw = b"".join(np.ascontiguousarray(f[..., [1, 2, 0]].transpose(2, 0, 1)).tobytes() for f in frames)
    out = tmp_path_factory.mktemp("held") / "held.mkv"
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gbrp", "-s", "64x48",
           "-framerate", "24000/1001", "-i", "pipe:0", "-c:v", "ffv1", "-pix_fmt", "yuv444p", str(out)]
    subprocess.run(cmd, input=raw, check=True)
    return out


def _same_frames(a: Path, b: Path) -> None:
    assert _frames(a) == _frames(b)
    assert decoded(a) == decoded(b)


def _frames(path: Path) -> int:
    video = [s for s in probe(path)["streams"] if s["codec_type"] == "video"][0]
    return int(video["nb_read_frames"])


def test_dedup_render_keeps_the_length_and_chunks_give_the_same_file(held_clip: Path, tmp_path: Path) -> None:
    single = tmp_path / "single.mkv"
    r = vsslomo("render", held_clip, single, *ARGS, "--dedup", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _frames(single) == 2 * sum(CADENCE)  # the same length as plain interpolation
    plain = tmp_path / "plain.mkv"
    assert vsslomo("render", held_clip, plain, *ARGS, cwd=tmp_path).returncode == 0
    assert decoded(single) != decoded(plain)  # held copies were replaced
    chunked = tmp_path / "chunked.mkv"
    r = vsslomo("render", held_clip, chunked, *ARGS, "--dedup", "--workers", "2", "--chunk-frames", "6", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _same_frames(single, chunked)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunked.mkv", "plain.mkv", "single.mkv"]  # no scan left behind


def test_sidecar_is_kept_reused_and_refused_for_another_clip(held_clip: Path, tmp_path: Path) -> None:
    sidecar = tmp_path / "held.json"
    first = tmp_path / "a.mkv"
    assert vsslomo("render", held_clip, first, *ARGS, "--dedup", "--dedup-file", sidecar, cwd=tmp_path).returncode == 0
    record = json.loads(sidecar.read_text())
    assert record  # the scan, kept for the next run
    stamp = sidecar.stat().st_mtime_ns
    second = tmp_path / "b.mkv"
    assert vsslomo("render", held_clip, second, *ARGS, "--dedup", "--dedup-file", sidecar, cwd=tmp_path).returncode == 0
    assert sidecar.stat().st_mtime_ns == stamp  # read, not scanned again
    _same_frames(first, second)

    other = tmp_path / "other.mkv"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(held_clip), "-vf", "hflip", "-c:v", "ffv1", str(other)], check=True)
    r = vsslomo("render", other, tmp_path / "c.mkv", *ARGS, "--dedup", "--dedup-file", sidecar, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("vsslomo: error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "c.mkv").exists()


def test_script_names_the_sidecar_it_wrote(held_clip: Path, tmp_path: Path) -> None:
    r = vsslomo("script", held_clip, "--dedup", "--dedup-max-hold", "12", "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dedup=True," in r.stdout and "dedup_max_hold=12," in r.stdout
    sidecar = held_clip.with_name(held_clip.name + ".slomo.json")
    assert f"dedup_file={str(sidecar)!r}" in r.stdout and sidecar.is_file()
    compile(r.stdout, "generated.vpy", "exec")


def test_dedup_options_need_dedup(held_clip: Path, tmp_path: Path) -> None:
    r = vsslomo("render", held_clip, tmp_path / "x.mkv", *ARGS, "--dedup-threshold", "0.1", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr == "vsslomo: error: --dedup-threshold, --dedup-max-hold and --dedup-file need --dedup\n"
