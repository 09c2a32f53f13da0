"""The Interpolate filter end to end on real VapourSynth cores and the real RIFE model (CPU)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import wait
from fractions import Fraction

import numpy as np
import pytest
import vapoursynth as vs
from conftest import frame_planes, frames_equal

import vsslomo
from vsslomo import engine, registry
from vsslomo.demo import demo_clip, render
from vsslomo.evaluate import psnr

core = vs.core


def clip_of(fmt: int = vs.YUV420P8, width: int = 64, height: int = 48, frames: int = 5, fps=(24, 1), **kw):
    """The synthetic demo scene in ``fmt`` with a custom prop per frame."""
    clip = demo_clip(width=width, height=height, frames=frames, fps=fps, **kw)
    fmt_obj = core.get_video_format(fmt)
    if fmt_obj.color_family in (vs.YUV, vs.GRAY):
        clip = core.resize.Bicubic(clip, format=fmt, matrix_s="709")
    else:
        clip = core.resize.Bicubic(clip, format=fmt)
    return core.std.ModifyFrame(clip, clip, _stamp)


def _stamp(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    out = f.copy()
    out.props["Stamp"] = n
    return out


def props_of(clip: vs.VideoNode) -> list[tuple[int, float, int]]:
    return [
        (f.props["SlomoSourceFrame"], f.props["SlomoT"], f.props["SlomoSceneChange"]) for f in clip.frames(close=True)
    ]


def interp(clip: vs.VideoNode, **kw) -> vs.VideoNode:
    kw.setdefault("device", "cpu")
    return vsslomo.interpolate(clip, **kw)


# --- timing ---------------------------------------------------------------------------


def test_factor_two_maps_frames_and_keeps_sources_bit_exact():
    clip = clip_of(frames=5)
    out = interp(clip, factor=2)
    assert out.num_frames == 10
    assert out.fps == Fraction(48, 1)
    assert (out.format.id, out.width, out.height) == (clip.format.id, clip.width, clip.height)
    expected = [(n // 2, 0.5 if n % 2 else 0.0) for n in range(9)] + [(4, 0.0)]  # tail repeats the last frame
    got = [(s, t) for s, t, _ in props_of(out)]
    assert got == expected
    for n in range(0, 10, 2):
        frame = out.get_frame(n)
        assert frames_equal(frame, clip.get_frame(n // 2))
        assert frame.props["Stamp"] == n // 2
        assert (frame.props["_DurationNum"], frame.props["_DurationDen"]) == (1, 48)
    assert frames_equal(out.get_frame(9), clip.get_frame(4))


def test_24000_1001_to_60000_1001_is_exact_and_keeps_duration():
    clip = clip_of(frames=6, fps=(24000, 1001))
    out = interp(clip, fps_num=60000, fps_den=1001)
    assert out.num_frames == 15
    assert out.fps == Fraction(60000, 1001)
    props = props_of(out)
    ts = [round(t, 6) for _, t, _ in props[:5]]
    assert ts == [0.0, 0.4, 0.8, 0.2, 0.6]
    assert [s for s, _, _ in props[:5]] == [0, 0, 0, 1, 1]
    total = sum(Fraction(f.props["_DurationNum"], f.props["_DurationDen"]) for f in out.frames(close=True))
    assert total == Fraction(6 * 1001, 24000)


def test_rational_factor_five_halves():
    clip = clip_of(frames=4)
    out = interp(clip, factor_num=5, factor_den=2)
    assert out.num_frames == 10
    assert out.fps == Fraction(60, 1)
    assert [s for s, _, _ in props_of(out)] == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]


def _vfr_clip(durations: list[Fraction]) -> vs.VideoNode:
    clip = clip_of(frames=len(durations))
    clip = core.std.AssumeFPS(clip, fpsnum=1, fpsden=1)
    blank = core.std.BlankClip(clip, fpsnum=0, fpsden=1)

    def set_duration(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[1].copy()
        out.props["_DurationNum"] = durations[n].numerator
        out.props["_DurationDen"] = durations[n].denominator
        return out

    return core.std.ModifyFrame(blank, [blank, clip], set_duration)


def test_variable_frame_rate_factor_scales_each_duration():
    durations = [Fraction(1, 24), Fraction(1, 30), Fraction(1, 60), Fraction(1, 24)]
    out = interp(_vfr_clip(durations), factor=2)
    assert out.fps == 0
    got = [Fraction(f.props["_DurationNum"], f.props["_DurationDen"]) for f in out.frames(close=True)]
    assert got == [d / 2 for d in durations for _ in range(2)]


def test_variable_frame_rate_to_constant_fps_by_timestamps():
    durations = [Fraction(1, 24), Fraction(1, 12), Fraction(1, 24), Fraction(1, 24)]
    out = interp(_vfr_clip(durations), fps_num=48)
    total = sum(durations)
    assert out.num_frames == -(-total * 48 // 1)
    assert out.fps == 48
    props = props_of(out)
    # Frame 1 lasts twice as long, so it spans four output frames at 48 fps.
    assert [s for s, _, _ in props] == [0, 0, 1, 1, 1, 1, 2, 2, 3, 3]
    assert [round(t, 6) for _, t, _ in props[2:6]] == [0.0, 0.25, 0.5, 0.75]


# --- scene changes --------------------------------------------------------------------


def test_frames_across_a_cut_are_duplicates_of_the_left_frame():
    clip = clip_of(frames=6, cut_at=3, width=96, height=64)
    out = interp(clip, factor=4)
    for n, frame in enumerate(out.frames(close=True)):
        left = frame.props["SlomoSourceFrame"]
        if left == 2:
            assert frame.props["SlomoSceneChange"] == 1
            assert frames_equal(frame, clip.get_frame(2)), n
        else:
            assert frame.props["SlomoSceneChange"] == 0
    assert out.get_frame(11).props.get("_SceneChangeNext") == 1  # last output frame before the cut
    assert not out.get_frame(10).props.get("_SceneChangeNext")


def test_upstream_scene_change_props_are_honoured():
    clip = clip_of(frames=4)
    clip = core.std.SetFrameProps(clip, _SceneChangeNext=0)
    marked = core.std.Splice([clip[:1], core.std.SetFrameProps(clip[1], _SceneChangeNext=1), clip[2:]])
    out = interp(marked, factor=2)
    assert [c for _, _, c in props_of(out)] == [0, 0, 1, 1, 0, 0, 0, 0]
    assert frames_equal(out.get_frame(3), clip.get_frame(1))


def test_sc_false_interpolates_across_cuts():
    clip = clip_of(frames=4, cut_at=2, width=96, height=64)
    out = interp(clip, factor=2, sc=False)
    assert all(c == 0 for _, _, c in props_of(out))
    assert not frames_equal(out.get_frame(3), clip.get_frame(1))


# --- formats and sizes ----------------------------------------------------------------

FORMATS = [
    vs.YUV420P8,
    vs.YUV422P10,
    vs.YUV444P16,
    vs.YUV420PS,
    vs.YUV444PH,
    vs.RGB24,
    vs.RGB48,
    vs.RGBS,
    vs.RGBH,
    vs.GRAY8,
    vs.GRAY16,
    vs.GRAYS,
]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: core.get_video_format(f).name)
def test_every_format_round_trips(fmt):
    still = clip_of(fmt, frames=1)
    clip = core.std.Loop(still, times=3)
    clip = core.std.SetFrameProps(clip, Custom="kept")
    out = interp(clip, factor=2)
    assert (out.format.id, out.width, out.height, out.num_frames) == (fmt, 64, 48, 6)
    assert frames_equal(out.get_frame(0), clip.get_frame(0))
    middle = out.get_frame(1)
    assert middle.props["SlomoT"] == 0.5
    assert middle.props["Custom"] == "kept"
    # Interpolating between two identical frames must give the frame back, up to the model's
    # own residual; subsampled chroma is not softened by its trip through RGB.
    info = core.get_video_format(fmt)
    peak = (1 << info.bits_per_sample) - 1 if info.sample_type == vs.INTEGER else 1.0
    for got, want in zip(frame_planes(middle), frame_planes(still.get_frame(0))):
        error = np.abs(got.astype(np.float64) - want)
        assert error.mean() <= 0.01 * peak
        assert error.max() <= 0.05 * peak


@pytest.mark.parametrize("fmt", [vs.YUV420P8, vs.YUV422P10], ids=lambda f: core.get_video_format(f).name)
def test_still_chroma_survives_the_rgb_round_trip(fmt):
    # The demo scene has saturated colour edges: a plain YUV -> RGB -> YUV round trip
    # blurs them by up to 20 of 255 levels, so an interpolated frame's colours would pulse.
    still = clip_of(fmt, frames=1)
    middle = interp(core.std.Loop(still, times=2), factor=2).get_frame(1)
    lsb = 1 << (core.get_video_format(fmt).bits_per_sample - 8)
    for plane in (1, 2):
        error = np.abs(frame_planes(middle)[plane].astype(np.int64) - frame_planes(still.get_frame(0))[plane])
        assert error.max() <= 1 * lsb and error.mean() < 0.05 * lsb


@pytest.mark.parametrize("sc", [True, False])
def test_each_source_frame_is_computed_once(sc):
    # The source is read by several branches; an expensive upstream chain must not rerun.
    computed = Counter()

    def count(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        computed[n] += 1
        return f

    base = clip_of(frames=6)
    out = interp(core.std.ModifyFrame(base, base, count), factor=4, sc=sc)
    for _ in out.frames(close=True):
        pass
    assert sorted(computed) == list(range(6)) and max(computed.values()) == 1


@pytest.mark.parametrize("size", [(67, 45), (66, 46), (33, 200)])
def test_odd_sizes_are_padded_and_cropped_back(size):
    width, height = size
    fmt = vs.RGB24 if width % 2 else vs.YUV420P8
    still = clip_of(fmt, width=width, height=height, frames=1)
    out = interp(core.std.Loop(still, times=2), factor=2)
    frame = out.get_frame(1)
    assert (frame.width, frame.height, frame.props["SlomoT"]) == (width, height, 0.5)
    # A still scene stays still up to the right/bottom edges: no padding leaks in.
    for got, want in zip(frame_planes(frame), frame_planes(still.get_frame(0))):
        error = np.abs(got.astype(np.float64) - want)
        assert error.mean() < 2.5
        assert error[-2:, :].mean() < 4 and error[:, -2:].mean() < 4


# --- the model actually interpolates --------------------------------------------------


def test_rife_middle_frame_beats_blending_on_real_motion():
    width, height, step = 128, 96, 3  # demo scene sampled every 3rd time unit: large motion
    clip = core.std.SelectEvery(demo_clip(width, height, frames=2 * step + 1), cycle=step, offsets=0)[:3]
    out = interp(clip, factor=2)
    frame = out.get_frame(1)
    mid = np.stack(frame_planes(frame), axis=-1).astype(np.float64) / 255
    a = np.stack(frame_planes(clip.get_frame(0)), axis=-1) / 255
    b = np.stack(frame_planes(clip.get_frame(1)), axis=-1) / 255
    blend = (a + b) / 2
    truth_mid = render(0.5 * step, width, height)
    assert frame.props["SlomoT"] == 0.5
    ours, blended = psnr(mid, truth_mid, peak=1.0), psnr(blend, truth_mid, peak=1.0)
    assert ours > blended + 3, (ours, blended)


def test_ensemble_runs_four_symmetric_passes_and_still_interpolates(monkeypatch):
    width, height, step = 128, 96, 3
    clip = core.std.SelectEvery(demo_clip(width, height, frames=2 * step + 1), cycle=step, offsets=0)[:3]
    plain = np.stack(frame_planes(interp(clip, factor=2).get_frame(1)), axis=-1).astype(np.float64) / 255

    model_class = type(registry.get_spec("rife").load(None))
    forwards: list[tuple[float, ...]] = []
    original = model_class.forward

    def recording(self, img0, img1, timesteps, scale=1.0):
        forwards.append(tuple(round(float(t), 6) for t in timesteps))
        return original(self, img0, img1, timesteps, scale=scale)

    monkeypatch.setattr(model_class, "forward", recording)
    frame = interp(clip, factor=2, ensemble=True).get_frame(1)
    assert sorted(forwards) == [(0.5,)] * 4  # as given, reversed, and both mirrored
    ours = np.stack(frame_planes(frame), axis=-1).astype(np.float64) / 255
    truth_mid = render(0.5 * step, width, height)
    a = np.stack(frame_planes(clip.get_frame(0)), axis=-1) / 255
    b = np.stack(frame_planes(clip.get_frame(1)), axis=-1) / 255
    assert not np.array_equal(ours, plain)
    assert psnr(ours, truth_mid, peak=1.0) > psnr((a + b) / 2, truth_mid, peak=1.0) + 3


def test_parallel_requests_match_sequential_and_each_pair_runs_once(monkeypatch):
    calls: list[int] = []
    model_class = type(registry.get_spec("rife").load(None))
    original = model_class.forward

    def counting(self, img0, img1, timesteps, scale=1.0):
        calls.append(len(timesteps))
        return original(self, img0, img1, timesteps, scale=scale)

    monkeypatch.setattr(model_class, "forward", counting)
    clip = clip_of(frames=4)
    out = interp(clip, factor=4)
    futures = [out.get_frame_async(n) for n in reversed(range(out.num_frames))]
    wait(futures)
    parallel = [f.result() for f in reversed(futures)]
    assert calls == [3, 3, 3]  # one call per pair, all three timesteps batched
    again = interp(clip, factor=4)
    for n, frame in enumerate(again.frames(close=True)):
        assert frames_equal(frame, parallel[n])


def test_model_is_loaded_once_and_shared():
    clip = clip_of(frames=2)
    interp(clip).get_frame(1)
    before = engine.get_engine.cache_info()
    interp(clip, factor=3).get_frame(1)
    after = engine.get_engine.cache_info()
    assert after.misses == before.misses
    assert after.hits > before.hits


# --- errors ---------------------------------------------------------------------------


def _variable_format_clip() -> vs.VideoNode:
    a = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=2)
    b = core.std.BlankClip(format=vs.RGB24, width=32, height=32, length=2)
    return core.std.Splice([a, b], mismatch=True)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"clip": None}, "no clip"),
        ({"factor": 0}, "factor"),
        ({"factor_num": 1, "factor_den": 2}, "factor"),
        ({"fps_num": 12}, "fps"),
        ({"factor": 2, "fps_num": 60}, "factor"),
        ({"model": "nope"}, "unknown model"),
        ({"clip": "variable"}, "variable format"),
        ({"clip": "vfr-no-durations", "fps_num": 60}, "_DurationNum"),
        ({"device": "cuda:0"}, "CUDA"),
        ({"fp16": True}, "fp16"),
        ({"scale": 0.3}, "scale"),
        ({"checkpoint": "/nonexistent/weights.pt"}, "does not exist"),
        ({"sc_threshold": -1.0}, "threshold"),
        ({"precision": "fp8"}, "precision must be one of"),
        ({"precision": "fp16"}, "needs a CUDA device"),
        ({"fp16": False, "precision": "fp16"}, "contradicts"),
        ({"backend": "nope"}, "unknown backend"),
        ({"backend": "tensorrt"}, "NVIDIA GPU"),
        ({"backend": 3}, "backend must be"),
    ],
)
def test_bad_input_raises_a_clear_filter_error(kwargs, needle):
    # the inputs of issue 14 (absurd rates, non-boolean booleans, damaged files, durations) are in test_bad_input.py
    kwargs = dict(kwargs)
    special = kwargs.pop("clip", "default")
    if special == "default":
        clip = clip_of(frames=2)
    elif special == "variable":
        clip = _variable_format_clip()
    elif special == "vfr-no-durations":
        clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=2, fpsnum=0, fpsden=1)
    else:
        clip = special
    kwargs.setdefault("device", "cpu")
    with pytest.raises(vs.Error) as info:
        vsslomo.interpolate(clip, **kwargs)
    message = str(info.value)
    assert message.startswith("slomo.Interpolate: "), message
    assert needle.lower() in message.lower(), message


# --- Super SloMo through the filter ----------------------------------------------------


@pytest.fixture(scope="module")
def superslomo_checkpoint(tmp_path_factory):
    """A small random-weight Super SloMo checkpoint in the public file format."""
    import datetime

    import torch

    from vsslomo.models.superslomo import SuperSloMo

    torch.manual_seed(0)
    model = SuperSloMo((8, 16, 16, 16, 16, 16))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    torch.save({**model.checkpoint_dict(), "epoch": 1, "timestamp": datetime.datetime.now()}, path)
    return path


def test_superslomo_runs_flow_once_per_pair_with_all_timesteps_batched(monkeypatch, superslomo_checkpoint):
    from vsslomo.models.superslomo import SuperSloMo

    flow_calls: list[int] = []
    refine_batches: list[int] = []
    original_flows, original_refine = SuperSloMo.flows, SuperSloMo.refine

    def flows(self, x0, x1, scale=1.0):
        flow_calls.append(x0.shape[0])
        return original_flows(self, x0, x1, scale)

    def refine(self, x0, x1, f01, f10, t):
        refine_batches.append(t.numel())
        return original_refine(self, x0, x1, f01, f10, t)

    monkeypatch.setattr(SuperSloMo, "flows", flows)
    monkeypatch.setattr(SuperSloMo, "refine", refine)
    clip = clip_of(frames=3)
    out = interp(clip, factor=8, model="superslomo", checkpoint=str(superslomo_checkpoint))
    futures = [out.get_frame_async(n) for n in range(out.num_frames)]
    wait(futures)
    frames = [f.result() for f in futures]
    assert flow_calls == [1, 1]  # two pairs, one flow pass each, whatever the thread
    assert refine_batches == [7, 7]  # all seven timesteps of a pair in one batch
    assert [f.props["SlomoT"] for f in frames[:8]] == [k / 8 for k in range(8)]
    assert frames_equal(frames[8], clip.get_frame(1))
    assert (out.format.id, out.width, out.height) == (clip.format.id, clip.width, clip.height)


def test_superslomo_refuses_a_checkpoint_that_does_not_fit(tmp_path, superslomo_checkpoint):
    import torch

    data = torch.load(superslomo_checkpoint, weights_only=False)
    del data["state_dictAT"]["conv3.weight"]
    broken = tmp_path / "broken.ckpt"
    torch.save(data, broken)
    with pytest.raises(vs.Error, match=r"^slomo\.Interpolate: cannot load model 'superslomo'.*conv3"):
        interp(clip_of(frames=2), model="superslomo", checkpoint=str(broken))
