"""Chunk planning, manifests, encoder checks and the numerics policy: the pure parts of the
chunked render, no worker started."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from vsslomo import numerics, timing
from vsslomo.render import encode
from vsslomo.render.chunks import Chunk, boundaries, longest_first, output_start, plan_chunks, timing_plan
from vsslomo.render.errors import RenderError
from vsslomo.render.ffmpeg import find_ffmpeg
from vsslomo.render.manifest import Manifest, differences, settings_key
from vsslomo.render.plan import RenderRequest
from vsslomo.render.settings import placement_kind, render_settings

PLANS = {
    "factor 2": timing.resolve(50, Fraction(24), factor=2),
    "factor 5/2": timing.resolve(37, Fraction(24000, 1001), factor_num=5, factor_den=2),
    "23.976 -> 59.94": timing.resolve(41, Fraction(24000, 1001), fps_num=60000, fps_den=1001),
    "24 -> 25 (barely above 1)": timing.resolve(60, Fraction(24), fps_num=25),
    "variable rate -> 30": timing.resolve(
        23, None, fps_num=30, durations=[Fraction(1, 24) if k % 3 else Fraction(1, 10) for k in range(23)]
    ),
    "variable rate with frames shorter than an output frame": timing.resolve(
        30, None, fps_num=10, durations=[Fraction(1, 100) if k % 4 else Fraction(1, 5) for k in range(30)]
    ),
}


@pytest.mark.parametrize("name", sorted(PLANS))
@pytest.mark.parametrize("max_frames", [1, 4, 7, 1000])
def test_chunks_add_up_to_the_single_process_output(name: str, max_frames: int) -> None:
    plan = PLANS[name]
    cuts = [5, 6, 17, 18, 19]  # a one-frame shot, and consecutive cuts
    chunks = plan_chunks(plan, cuts, max_frames)
    # contiguous, in order, covering every output frame exactly once
    assert chunks[0].output_start == 0 and chunks[-1].output_stop == plan.num_frames
    for a, b in zip(chunks, chunks[1:]):
        assert a.output_stop == b.output_start and a.source_stop <= b.source_start
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert 0 < c.frames and c.source_stop - c.source_start <= max_frames
        # a chunk emits exactly the output frames whose left source frame is one of its own
        lefts = {plan.step(n).left for n in range(c.output_start, c.output_stop)}
        assert lefts <= set(range(c.source_start, c.source_stop))
        outside = [n for n in range(plan.num_frames) if not c.output_start <= n < c.output_stop]
        assert all(not c.source_start <= plan.step(n).left < c.source_stop for n in outside)


def test_output_start_is_the_first_frame_of_a_source_frame() -> None:
    for plan in PLANS.values():
        for s in range(plan.source_frames + 1):
            expected = next((n for n in range(plan.num_frames) if plan.step(n).left >= s), plan.num_frames)
            assert output_start(plan, s) == expected


def test_chunks_end_at_cuts_and_pack_short_shots() -> None:
    # shots: 0-9 (10), 10-11 (2), 12-14 (3), 15-39 (25), 40-41 (2)
    cuts = [9, 11, 14, 39]
    edges = boundaries(42, cuts, 8)
    shot_edges = {0, 10, 12, 15, 40, 42}
    # every chunk ends at a cut, or inside a shot longer than the limit
    for a, b in zip(edges, edges[1:]):
        assert b - a <= 8
        assert b in shot_edges or any(s < b < e and e - s > 8 for s, e in [(0, 10), (15, 40)])
    # the two short shots 10-11 and 12-14 share one chunk; the 25-frame shot is split evenly
    assert edges == [0, 5, 10, 15, 21, 27, 33, 40, 42]
    # without cuts: even pieces
    assert boundaries(10, [], 4) == [0, 3, 6, 10]
    assert boundaries(10, [], 10) == [0, 10]
    # a cut after the last frame or before the first is no boundary
    assert boundaries(5, [-1, 4, 7], 10) == [0, 5]


def test_bad_chunk_limits() -> None:
    with pytest.raises(ValueError):
        boundaries(10, [], 0)
    with pytest.raises(ValueError):
        boundaries(0, [], 5)


def test_longest_first() -> None:
    chunks = [Chunk(0, 0, 2, 0, 4), Chunk(1, 2, 6, 4, 12), Chunk(2, 6, 8, 12, 16), Chunk(3, 8, 9, 16, 18)]
    assert [c.index for c in longest_first(chunks)] == [1, 0, 2, 3]


def test_timing_plan_is_the_filters() -> None:
    plan = timing_plan(37, Fraction(24000, 1001), {"factor_num": 5, "factor_den": 2, "model": "rife", "sc": True}, None)
    assert plan == timing.resolve(37, Fraction(24000, 1001), factor_num=5, factor_den=2)
    with pytest.raises(ValueError, match="below"):
        timing_plan(10, Fraction(30), {"fps_num": 24}, None)


# --------------------------------------------------------------------------- manifest and settings


def _settings(tmp_path: Path, **filter_kwargs: object) -> dict:
    src = tmp_path / "in.mkv"
    if not src.exists():
        src.write_bytes(b"x")
    request = RenderRequest(src, tmp_path / "out.mkv", filter_kwargs={"model": "rife", "sc": True, "factor": 2, **filter_kwargs})
    plan = timing.resolve(20, Fraction(10), factor=2)
    chunks = plan_chunks(plan, [9], 6)
    return render_settings(request, placement_kind(request.filter_kwargs, 0), "yuv420p", Fraction(20), plan.num_frames, chunks, 6)


def test_manifest_round_trip_and_settings_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert json.loads(json.dumps(settings)) == settings  # plain JSON, as it comes back from disk
    chunks = [Chunk(0, 0, 4, 0, 8), Chunk(1, 4, 10, 8, 20)]
    m = Manifest(folder=tmp_path, settings=settings, chunks=chunks, done={1: 12})
    m.save()
    back = Manifest.load(tmp_path)
    assert back.settings == settings and back.chunks == chunks and back.done == {1: 12}
    assert back.key == m.key == settings_key(settings)
    assert m.chunk_file(chunks[1]).name == f"chunk-00001-{m.key}.mkv"
    # any setting that changes the bits changes the key, and is named
    other = _settings(tmp_path, factor=3)
    assert settings_key(other) != m.key
    assert differences(settings, other) == ["filter"]
    assert differences(settings, _settings(tmp_path, ensemble=True)) == ["filter"]
    (tmp_path / "in.mkv").write_bytes(b"another source")
    assert differences(settings, _settings(tmp_path)) == ["source"]
    # the device index does not matter, its kind does
    assert _settings(tmp_path, device="cuda:0") != settings
    assert placement_kind({"device": "cuda:1"}, 2) == placement_kind({"device": "cuda:0"}, 2) == ("cuda", True)
    assert placement_kind({}, 0) == ("cpu", False) and placement_kind({"fp16": False}, 1) == ("cuda", False)


def test_unreadable_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RenderError, match="not a readable vsslomo manifest"):
        Manifest.load(tmp_path)


# --------------------------------------------------------------------------- encoder checks


def test_encoder_options_are_checked() -> None:
    ffmpeg = find_ffmpeg()
    x264 = encode.encoder_caps(ffmpeg, "libx264")
    assert x264.crf == (0.0, 51.0) and "veryslow" in (x264.presets or ())
    assert encode.check_quality(x264, None, None) == (18, "medium")
    assert encode.check_quality(x264, 23, "fast") == (23, "fast")
    with pytest.raises(RenderError, match=r"--crf 999 is out of range for libx264: use 0 to 51"):
        encode.check_quality(x264, 999, None)
    with pytest.raises(RenderError, match=r"--preset 'nope' is not a libx264 preset; choose one of ultrafast, "):
        encode.check_quality(x264, None, "nope")
    ffv1 = encode.encoder_caps(ffmpeg, "ffv1")
    assert ffv1.crf is None and ffv1.presets is None
    assert encode.check_quality(ffv1, None, None) == (None, None)
    with pytest.raises(RenderError, match="ffv1 has no constant-quality level"):
        encode.check_quality(ffv1, 18, None)
    with pytest.raises(RenderError, match="ffv1 has no -preset option"):
        encode.check_quality(ffv1, None, "fast")


def test_encoder_help_parsing() -> None:
    vp9 = encode.parse_encoder_help("libvpx-vp9", "  -crf               <int>        E..V....... Select the quality for constant quality mode (from -1 to 63) (default -1)\n")
    assert vp9.crf == (0.0, 63.0) and vp9.presets is None
    svt = encode.parse_encoder_help("libsvtav1", "  -preset            <int>        E..V....... Encoding preset (from -1 to 13) (default -1)\n  -crf               <int>        E..V....... Constant Rate Factor value (from 0 to 63) (default 0)\n")
    assert svt.preset_range == (0, 13) and svt.presets == ()
    assert encode.check_quality(svt, 30, "8") == (30, "8")
    with pytest.raises(RenderError, match="out of range for libsvtav1: use 0 to 13"):
        encode.check_quality(svt, None, "99")
    nvenc = encode.parse_encoder_help(
        "h264_nvenc",
        "  -preset            <int>        E..V....... Set the encoding preset (from 0 to 18) (default p4)\n"
        "     default         0            E..V....... \n"
        "     slow            1            E..V....... hq 2 passes\n"
        "     p7              18           E..V....... slowest (best quality)\n"
        "  -tune              <int>        E..V....... Set the encoding tuning info (from 1 to 4) (default hq)\n",
    )
    assert nvenc.presets == ("default", "slow", "p7") and nvenc.crf is None
    with pytest.raises(RenderError, match="not a h264_nvenc preset"):
        encode.check_quality(nvenc, None, "medium")


# --------------------------------------------------------------------------- numerics


def test_cpu_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(numerics.THREADS_ENV, raising=False)
    assert numerics.cpu_threads() == numerics.DEFAULT_CPU_THREADS
    monkeypatch.setenv(numerics.THREADS_ENV, "3")
    assert numerics.cpu_threads() == 3
    for bad in ("0", "-1", "two", "1000"):
        monkeypatch.setenv(numerics.THREADS_ENV, bad)
        with pytest.raises(ValueError, match=numerics.THREADS_ENV):
            numerics.cpu_threads()


def test_fixed_numerics_sets_and_restores_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(numerics.THREADS_ENV, "3")
    before = torch.get_num_threads()
    seen = []
    with numerics.fixed_numerics(torch.device("cpu")):
        seen.append(torch.get_num_threads())
    assert seen == [3] and torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with numerics.fixed_numerics(torch.device("cpu")):
            raise RuntimeError("a failing forward")
    assert torch.get_num_threads() == before


def test_renders_pin_the_backend_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA cuDNN may pick other algorithms per process: a render asks for fixed ones."""
    import vsslomo
    from vsslomo import backends
    from vsslomo.render import source

    seen: list[object] = []
    monkeypatch.setattr(vsslomo, "interpolate", lambda clip, **kw: seen.append(kw["backend"]) or clip, raising=False)
    for name in (None, "eager", "compile"):
        source.interpolated(object(), {"model": "rife", "backend": name})
    assert [type(b) for b in seen] == [backends.Eager, backends.Eager, backends.Compile]
    assert all(b.deterministic for b in seen)
