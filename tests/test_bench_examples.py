"""``vsslomo bench --save-examples``, and the bench's colour rules (those of the filter).

The command runs as users run it (``python -m vsslomo``) on a small ffmpeg ``testsrc2`` clip
with real RIFE and Super SloMo on the CPU; the PNGs are decoded with Pillow and checked
against frames computed here independently through :func:`vsslomo.interpolate`.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsslomo
from vsslomo import bench_examples, colour, convert, evaluate
from vsslomo.render import ffmpeg
from vsslomo.render.source import open_source

Image = pytest.importorskip("PIL.Image")

REPO = Path(__file__).resolve().parents[1]
FACTOR, FRAMES, SIZE = 2, 9, (96, 64)
METHODS = ["frame blending", "rife", "superslomo"]


def vsslomo_cmd(*args: str | Path | int, cwd: Path, prepend: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command as users do; ``prepend`` goes first on the module search path."""
    env = dict(os.environ)
    path = [str(p) for p in (prepend, REPO) if p is not None] + [env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path).rstrip(os.pathsep)
    env.pop("VSSLOMO_DEBUG", None)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "vsslomo", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "moving.mp4"
    subprocess.run(
        [ffmpeg.find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=10:duration={FRAMES / 10}",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5", str(path)],
        check=True,
    )
    return path


def _independent_scores(path: Path) -> tuple[dict[int, np.ndarray], dict[str, dict[int, np.ndarray]]]:
    """Truth and rebuilt RGB frames of every method, computed here without the bench code."""
    src = open_source(path, None)[:FRAMES]
    dec = evaluate.decimate(src, FACTOR)
    hidden = evaluate.hidden_indices(FRAMES, FACTOR)
    clips = {
        "frame blending": evaluate.blend_clip(dec, FACTOR),
        "rife": vsslomo.interpolate(dec, factor=FACTOR, model="rife", sc=False, device="cpu"),
        "superslomo": vsslomo.interpolate(dec, factor=FACTOR, model="superslomo", sc=False, device="cpu"),
    }
    truth_rgb = evaluate.to_rgb24(src)
    truth = {j: evaluate.frame_to_rgb(truth_rgb.get_frame(j)) for j in hidden}
    rebuilt = {m: {j: evaluate.frame_to_rgb(evaluate.to_rgb24(c).get_frame(j)) for j in hidden} for m, c in clips.items()}
    return truth, rebuilt


def test_save_examples_writes_strips_of_the_max_spread_frames_and_a_plot(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "examples"  # missing folders are created
    r = vsslomo_cmd("bench", clip, "--factor", FACTOR, "--models", "rife,superslomo", "--frames", FRAMES,
                    "--device", "cpu", "--save-examples", out, "--example-frames", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^examples: frames (\d+) \([\d.]+ dB\), (\d+) \([\d.]+ dB\) ", r.stdout, re.M)
    assert m, r.stdout
    chosen = [int(m.group(1)), int(m.group(2))]

    truth, rebuilt = _independent_scores(clip)
    spread = {j: max(evaluate.psnr(truth[j], rebuilt[k][j]) for k in METHODS) - min(evaluate.psnr(truth[j], rebuilt[k][j]) for k in METHODS) for j in truth}
    expected = sorted(spread, key=lambda j: (-spread[j], j))[:2]
    assert chosen == expected, (chosen, spread)

    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([bench_examples.strip_name(j) for j in chosen] + [bench_examples.PLOT_NAME]), names  # no temporary files left
    k = bench_examples.tile_scale(SIZE[0])
    tw, th, cap = SIZE[0] * k, SIZE[1] * k, bench_examples.label_height(SIZE[0] * k)
    for j in chosen:
        with Image.open(out / bench_examples.strip_name(j)) as im:
            assert im.format == "PNG"
            strip = np.asarray(im.convert("RGB"))
        cols = 1 + len(METHODS)
        assert strip.shape == (2 * (cap + th) + bench_examples.GAP, cols * tw + (cols - 1) * bench_examples.GAP, 3)
        # top row: truth then each method, side by side, enlarged by whole pixels; bottom row: error maps
        tiles = [strip[cap : cap + th, c * (tw + bench_examples.GAP) : c * (tw + bench_examples.GAP) + tw][::k, ::k] for c in range(cols)]
        np.testing.assert_array_equal(tiles[0], truth[j])
        for c, method in enumerate(METHODS, start=1):
            np.testing.assert_array_equal(tiles[c], rebuilt[method][j])
            y = 2 * cap + th + bench_examples.GAP
            err = strip[y : y + th, c * (tw + bench_examples.GAP) : c * (tw + bench_examples.GAP) + tw][::k, ::k]
            np.testing.assert_array_equal(err, bench_examples.error_map(truth[j], rebuilt[method][j]))
    with Image.open(out / bench_examples.PLOT_NAME) as im:
        assert im.format == "PNG" and im.size == bench_examples.PLOT_SIZE
        plot = np.asarray(im.convert("RGB"))
    for colour_rgb in bench_examples._PALETTE[: len(METHODS)]:  # one line per method
        assert (plot == colour_rgb).all(axis=-1).sum() > 50, colour_rgb


def test_example_strips_of_an_offset_clip_name_the_users_frame_numbers(clip: Path, tmp_path: Path) -> None:
    r = vsslomo_cmd("bench", clip, "--models", "rife", "--frames", "5", "--start", "3", "--device", "cpu",
                    "--save-examples", tmp_path, "--example-frames", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^examples: frames (\d+) ", r.stdout, re.M)
    assert m and int(m.group(1)) in (4, 6), r.stdout  # source frames 4 and 6 are the hidden ones of 3..7
    assert (tmp_path / bench_examples.strip_name(int(m.group(1)))).is_file()
    with Image.open(tmp_path / bench_examples.strip_name(int(m.group(1)))) as im:
        assert im.width == 3 * SIZE[0] * bench_examples.tile_scale(SIZE[0]) + 2 * bench_examples.GAP  # truth, blending, rife


def test_unwritable_or_unusable_folders_are_refused_before_any_work(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    cases = {
        "/proc/vsslomo-examples": "cannot write in /proc",
        str(tmp_path / "a_file" / "sub"): "is not a folder",
        str(tmp_path / "a_file"): "is not a folder",
    }
    for folder, message in cases.items():
        before = sorted(os.listdir(tmp_path))
        r = vsslomo_cmd("bench", clip, "--device", "cpu", "--save-examples", folder, cwd=tmp_path)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (folder, r.stderr)
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith("vsslomo: error: --save-examples"), r.stderr
        assert message in r.stderr, r.stderr
        assert r.stdout == "", r.stdout  # refused before the clip was even opened
        assert sorted(os.listdir(tmp_path)) == before
    r = vsslomo_cmd("bench", clip, "--example-frames", "2", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == "vsslomo: error: --example-frames needs --save-examples DIR", r.stderr


def test_missing_pillow_gives_the_install_hint(clip: Path, tmp_path: Path) -> None:
    fake = tmp_path / "nopil" / "PIL"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named PIL')\n")
    r = vsslomo_cmd("bench", clip, "--save-examples", tmp_path / "out", cwd=tmp_path, prepend=fake.parent)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == f"vsslomo: error: --save-examples needs Pillow: {bench_examples.INSTALL_HINT}"
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- choosing frames


def test_pick_frames_takes_the_largest_spread_over_frames_all_methods_scored() -> None:
    series = {
        "frame blending": {1: 20.0, 3: 25.0, 5: 30.0, 7: 22.0},
        "rife": {1: 30.0, 3: 26.0, 5: math.inf, 7: 23.0},
        "superslomo": {1: 29.0, 3: 24.0, 5: 31.0, 9: 10.0},  # 9: not scored by the others, 7: missing here
    }
    assert bench_examples.spreads(series) == {1: 10.0, 3: 2.0, 5: 70.0}  # inf counts as evaluate.PSNR_CAP
    assert bench_examples.pick_frames(series, 2) == [5, 1]
    assert bench_examples.pick_frames(series, 10) == [5, 1, 3]
    assert bench_examples.pick_frames({"a": {1: 5.0, 2: 5.0}, "b": {1: 6.0, 2: 6.0}}, 1) == [1]  # ties: earlier frame
    assert bench_examples.pick_frames({"frame blending": {1: 30.0, 3: 20.0, 5: 25.0}}, 2) == [3, 5]  # alone: hardest first
    assert bench_examples.pick_frames({}, 3) == []


def test_error_map_is_black_where_exact_and_saturates_at_full_scale() -> None:
    a = np.zeros((2, 3, 3), dtype=np.uint8)
    b = a.copy()
    b[0, 0] = 255
    b[0, 1] = 255 // bench_examples.ERROR_GAIN // 2  # about half scale
    m = bench_examples.error_map(a, b)
    assert m.shape == (2, 3, 3) and m.dtype == np.uint8
    np.testing.assert_array_equal(m[1, 0], bench_examples.colour_map(np.array(0.0)))
    np.testing.assert_array_equal(m[0, 0], bench_examples.colour_map(np.array(1.0)))
    assert 0 < m[0, 1].astype(int).sum() < m[0, 0].astype(int).sum()


# --------------------------------------------------------------------------- colours: the filter's rules


def _yuv(width: int, height: int, **props: int) -> vs.VideoNode:
    c = vs.core.std.BlankClip(width=width, height=height, format=vs.YUV444P8, color=[100, 90, 180], length=1)
    c = vs.core.std.RemoveFrameProps(c, ["_Matrix", "_Range"])
    return vs.core.std.SetFrameProps(c, **props) if props else c


def _rgb_pixel(clip: vs.VideoNode) -> tuple[int, ...]:
    return tuple(int(v) for v in evaluate.frame_to_rgb(clip.get_frame(0))[0, 0])


def test_bench_reads_untagged_yuv_with_the_filters_matrix() -> None:
    """1280x544 is HD by width: BT.709 in the filter, so in the bench too (it once went by height)."""
    clip = _yuv(1280, 544)
    info = convert.color_info(clip, clip.get_frame(0).props)
    assert info.matrix == colour.default_matrix(1280, 544) == colour.BT709
    scored = _rgb_pixel(evaluate.to_rgb24(clip))
    as709 = _rgb_pixel(clip.resize.Bicubic(format=vs.RGB24, matrix_in=colour.BT709, range_in_s="limited", dither_type="none"))
    as601 = _rgb_pixel(clip.resize.Bicubic(format=vs.RGB24, matrix_in=colour.BT601, range_in_s="limited", dither_type="none"))
    assert as709 != as601
    assert all(abs(s - t) <= 1 for s, t in zip(scored, as709, strict=True)), (scored, as709)
    sd = _yuv(720, 480)
    as601_sd = _rgb_pixel(sd.resize.Bicubic(format=vs.RGB24, matrix_in=colour.BT601, range_in_s="limited", dither_type="none"))
    assert all(abs(s - t) <= 1 for s, t in zip(_rgb_pixel(evaluate.to_rgb24(sd)), as601_sd, strict=True))


def test_bench_follows_range_and_ignores_unusable_tags_like_the_filter() -> None:
    full = _rgb_pixel(evaluate.to_rgb24(_yuv(64, 48, _Range=1)))
    limited = _rgb_pixel(evaluate.to_rgb24(_yuv(64, 48, _Range=0)))
    assert full != limited
    assert _rgb_pixel(evaluate.to_rgb24(_yuv(64, 48))) == limited  # untagged YUV is limited range
    # a matrix zimg cannot use falls back to the default (the filter's rule), it does not fail
    assert _rgb_pixel(evaluate.to_rgb24(_yuv(64, 48, _Matrix=100))) == _rgb_pixel(evaluate.to_rgb24(_yuv(64, 48, _Matrix=6)))
