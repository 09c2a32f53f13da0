"""``dedup=True`` end to end: real VapourSynth cores and the real RIFE model on CPU, tiny clips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import wait
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs
from conftest import frame_planes, frames_equal
from test_holds import cadence_frames, clip_from

import vsslomo
from vsslomo import props, registry
from vsslomo.analysis import vsadapter
from vsslomo.demo import render
from vsslomo.evaluate import psnr

core = vs.core
REPO = Path(__file__).resolve().parents[1]
W, H = 96, 64
SPEED = 1.5
"""Scene time per frame: a drawing held on twos is 3 time units from the next, which RIFE
interpolates well at this size (the demo disc's stripes move a sixth of their period)."""


def interp(clip: vs.VideoNode, **kw: object) -> vs.VideoNode:
    kw.setdefault("device", "cpu")
    return vsslomo.interpolate(clip, **kw)


def held(cadence: list[int], shots: list[int] | None = None, fmt: int = vs.YUV420P8, fps=(24000, 1001)) -> tuple[vs.VideoNode, list[int]]:
    frames, truth = cadence_frames(cadence, shots, width=W, height=H, speed=SPEED)
    clip = clip_from(frames, fps)
    if fmt != vs.RGB24:
        clip = core.resize.Bicubic(clip, format=fmt, matrix_s="709")
    return clip, truth


def rgb(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack(frame_planes(frame), axis=-1).astype(np.float64) / 255


def dedup_props(clip: vs.VideoNode) -> list[tuple[int, float, list[int], int, int]]:
    out = []
    for f in clip.frames(close=True):
        drawings = f.props[props.DRAWINGS]
        out.append((f.props[props.SOURCE_FRAME], round(f.props[props.T], 6), list(drawings), f.props[props.HELD], f.props[props.SCENE_CHANGE]))
    return out


def durations(clip: vs.VideoNode) -> list[Fraction]:
    return [Fraction(f.props["_DurationNum"], f.props["_DurationDen"]) for f in clip.frames(close=True)]


# --- re-timing ------------------------------------------------------------------------


def test_factor_one_on_twos_replaces_every_held_copy_by_an_in_between():
    clip, truth = held([2] * 5, fmt=vs.RGB24)
    out = interp(clip, factor=1, dedup=True)
    assert (out.num_frames, out.fps) == (clip.num_frames, clip.fps)
    got = dedup_props(out)
    assert got[:4] == [(0, 0.0, [0, 2], 0, 0), (0, 0.5, [0, 2], 1, 0), (2, 0.0, [2, 4], 0, 0), (2, 0.5, [2, 4], 1, 0)]
    assert got[-2:] == [(8, 0.0, [8, 8], 0, 0), (8, 0.0, [8, 8], 1, 0)]  # the last drawing has nothing to move to
    for n in range(0, 10, 2):
        assert frames_equal(out.get_frame(n), clip.get_frame(n))  # drawings: bit-exact
    assert frames_equal(out.get_frame(9), clip.get_frame(8))
    for n in (1, 3, 5, 7):  # an in-between at the copy's true time is closer to the truth
        true = render(SPEED * n, W, H)
        ours, copy = psnr(rgb(out.get_frame(n)), true, peak=1.0), psnr(rgb(clip.get_frame(n)), true, peak=1.0)
        assert ours > copy + 3, (n, ours, copy)


def test_24_to_60_keeps_the_plain_frame_count_rate_and_durations():
    clip, truth = held([3, 2, 3, 1, 2, 3, 2])
    plain = interp(clip, fps_num=60000, fps_den=1001)
    out = interp(clip, fps_num=60000, fps_den=1001, dedup=True)
    assert (out.num_frames, out.fps) == (plain.num_frames, plain.fps) == (40, Fraction(60000, 1001))
    assert durations(out) == durations(plain)
    got = dedup_props(out)
    # drawing 0 is held three frames: 7.5 output frames at t = k * 2 / 15
    assert [t for _, t, _, _, _ in got[:8]] == [round(k * 2 / 15, 6) for k in range(8)]
    assert all(d == [0, 3] for _, _, d, _, _ in got[:8])
    assert [h for _, _, _, h, _ in got[:8]] == [0, 0, 0, 1, 1, 1, 1, 1]
    for n, (left, t, _, _, _) in enumerate(got):
        if t == 0:
            assert frames_equal(out.get_frame(n), clip.get_frame(left)), n
        assert left in truth


def test_a_cut_mid_cadence_copies_the_last_drawing():
    # shot 0: drawings 0 and 3 (on threes), the second cut after two frames; shot 1 on twos
    clip, truth = held([3, 2, 2, 2], shots=[0, 0, 1, 1])
    out = interp(clip, factor=2, dedup=True)
    got = dedup_props(out)
    before_cut = [n for n, g in enumerate(got) if g[0] == 3]
    assert before_cut == [6, 7, 8, 9]
    for n in before_cut:
        assert got[n][1:] == (0.0, [3, 3], int(n >= 8), 1)
        assert frames_equal(out.get_frame(n), clip.get_frame(3))
    assert out.get_frame(9).props.get("_SceneChangeNext") == 1
    assert not out.get_frame(8).props.get("_SceneChangeNext")
    # with sc=False the drawings on both sides of the cut are interpolated
    loose = dedup_props(interp(clip, factor=2, dedup=True, sc=False))
    assert [g[1] for g in loose[6:10]] == [0.0, 0.25, 0.5, 0.75] and all(g[4] == 0 for g in loose)


def test_upstream_scene_change_marks_stay_on_the_frames_at_the_cut():
    # cuts marked upstream (as misc.SCDetect does) before frames 4 and 7: drawing 4 is a
    # shot of its own, held three frames, so its six output frames are copies
    clip, _ = held([2, 2, 3, 2, 2], shots=[0, 0, 1, 2, 2])
    marked = [core.std.SetFrameProps(clip[n], _SceneChangePrev=1) if n in (4, 7) else clip[n] for n in range(clip.num_frames)]
    out = interp(core.std.Splice(marked), factor=2, dedup=True)
    got = dedup_props(out)
    assert [g[:2] for g in got[8:14]] == [(4, 0.0)] * 6 and [g[4] for g in got[8:14]] == [1] * 6
    frames = [dict(f.props) for f in out.frames(close=True)]
    assert [n for n, f in enumerate(frames) if f.get("_SceneChangePrev")] == [8, 14]
    assert [n for n, f in enumerate(frames) if f.get("_SceneChangeNext")] == [7, 13]


def test_footage_on_ones_gives_exactly_the_plain_output():
    # every frame is a drawing: re-timing changes nothing, the cuts of the scan included
    clip, truth = held([1] * 8, shots=[0, 0, 0, 0, 1, 1, 1, 1])
    assert truth == list(range(8))
    plain = interp(clip, factor_num=5, factor_den=2)
    out = interp(clip, factor_num=5, factor_den=2, dedup=True)
    assert out.num_frames == plain.num_frames == 20
    for a, b in zip(out.frames(close=True), plain.frames(close=True)):
        assert frames_equal(a, b)
        for key in (props.SOURCE_FRAME, props.SCENE_CHANGE, "_DurationNum", "_DurationDen", "_SceneChangeNext"):
            assert a.props.get(key) == b.props.get(key), key
        # across the cut both are copies; re-timing says so with t = 0
        assert a.props[props.T] == (0.0 if b.props[props.SCENE_CHANGE] else b.props[props.T])


def _vfr(clip: vs.VideoNode, frame_durations: list[Fraction]) -> vs.VideoNode:
    blank = core.std.BlankClip(clip, fpsnum=0, fpsden=1)

    def stamp(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[1].copy()
        out.props["_DurationNum"], out.props["_DurationDen"] = frame_durations[n].numerator, frame_durations[n].denominator
        return out

    return core.std.ModifyFrame(blank, [blank, clip], stamp)


def test_variable_frame_rate_by_factor_and_by_timestamps():
    clip, truth = held([2, 2, 2, 2])
    frame_durations = [Fraction(1, 24), Fraction(1, 24), Fraction(1, 12), Fraction(1, 12), Fraction(1, 30), Fraction(1, 30), Fraction(1, 24), Fraction(1, 24)]
    vfr = _vfr(clip, frame_durations)
    for kwargs in ({"factor": 2}, {"fps_num": 60}):
        plain, out = interp(vfr, **kwargs), interp(vfr, dedup=True, **kwargs)
        assert (out.num_frames, out.fps) == (plain.num_frames, plain.fps)
        assert durations(out) == durations(plain)
    # by factor: output frame 1 is half-way through source frame 0 (1/48 s) of the 1/12 s
    # between drawings 0 and 2
    got = dedup_props(interp(vfr, factor=2, dedup=True))
    assert got[1][:3] == (0, 0.25, [0, 2]) and got[2][:3] == (0, 0.5, [0, 2])


# --- the scan and the sidecar ---------------------------------------------------------


def test_each_source_frame_is_read_at_most_by_the_scan_and_by_the_render(tmp_path):
    computed = Counter()

    def count(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        computed[n] += 1
        return f

    base, _ = held([2, 3, 2, 1])
    source = core.std.ModifyFrame(base, base, count)
    sidecar_path = tmp_path / "c.slomo.json"
    for _ in interp(source, factor=2, dedup=True, dedup_file=str(sidecar_path)).frames(close=True):
        pass
    assert sorted(computed) == list(range(8)) and max(computed.values()) <= 2
    computed.clear()
    source = core.std.ModifyFrame(base, base, count)  # a fresh node: nothing cached
    for _ in interp(source, factor=2, dedup=True, dedup_file=str(sidecar_path)).frames(close=True):
        pass  # the sidecar replaces the scan; only its sample frames are read to check it
    assert sorted(computed) == list(range(8)) and max(computed.values()) <= 2


def test_dedup_file_is_written_reused_and_refused_for_another_clip(tmp_path, monkeypatch):
    clip, truth = held([2] * 4)
    path = tmp_path / "clip.slomo.json"
    first = dedup_props(interp(clip, factor=2, dedup=True, dedup_file=str(path)))
    assert path.is_file()

    def no_scan(*args, **kwargs):
        raise AssertionError("scanned again although the sidecar exists")

    monkeypatch.setattr(vsadapter, "scan", no_scan)
    assert dedup_props(interp(clip, factor=2, dedup=True, dedup_file=str(path))) == first
    other, _ = held([2] * 4, shots=[1] * 4)
    with pytest.raises(vs.Error, match=r"^slomo\.Interpolate: dedup_file .* was made for other pictures"):
        interp(other, factor=2, dedup=True, dedup_file=str(path))
    with pytest.raises(vs.Error, match=r"^slomo\.Interpolate: dedup_file .* was made for another clip"):
        interp(clip[:6], factor=2, dedup=True, dedup_file=str(path))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"dedup_threshold": -1.0}, r"dedup_threshold must be a number in \(0, 1\]"),
        ({"dedup_threshold": 2}, r"dedup_threshold must be a number in \(0, 1\]"),
        ({"dedup_max_hold": 1}, "dedup_max_hold must be a whole number of frames >= 2"),
        ({"dedup_file": "/nonexistent-folder/x.json"}, "dedup_file '/nonexistent-folder/x.json': the folder .* does not exist"),
        ({"dedup_file": "/tmp"}, "dedup_file '/tmp' is a folder; give a file name"),
        ({"sc_threshold": 0.0}, r"scene-change threshold must be in \(0, 1\]"),
    ],
)
def test_bad_dedup_arguments_raise_a_clear_filter_error_before_any_scan(kwargs, needle, monkeypatch):
    monkeypatch.setattr(vsadapter, "scan", lambda *a, **k: pytest.fail("scanned before checking the arguments"))
    clip, _ = held([2, 2])
    with pytest.raises(vs.Error, match=rf"^slomo\.Interpolate: {needle}"):
        interp(clip, dedup=True, **kwargs)


# --- rendering: pairs several frames apart ----------------------------------------------


def test_parallel_requests_render_each_drawing_pair_once(monkeypatch):
    calls: list[int] = []
    model_class = type(registry.get_spec("rife").load(None))
    original = model_class.forward

    def counting(self, img0, img1, timesteps, scale=1.0):
        calls.append(len(timesteps))
        return original(self, img0, img1, timesteps, scale=scale)

    monkeypatch.setattr(model_class, "forward", counting)
    clip, truth = held([3, 2, 3])
    out = interp(clip, fps_num=60000, fps_den=1001, dedup=True)
    futures = [out.get_frame_async(n) for n in reversed(range(out.num_frames))]
    wait(futures)
    parallel = [f.result() for f in reversed(futures)]
    # drawing 0 -> 3: 7 in-betweens (t = 0 is the drawing itself), 3 -> 5: 5; 5 is the last
    assert sorted(calls) == [5, 7]
    for n, frame in enumerate(interp(clip, fps_num=60000, fps_den=1001, dedup=True).frames(close=True)):
        assert frames_equal(frame, parallel[n])


# --- the native plugin of this checkout -----------------------------------------------


def test_this_checkouts_plugin_forwards_the_dedup_arguments(tmp_path):
    """Build native/vsslomo_plugin.c as it is in this checkout and drive it in a core that
    loads nothing else (the installed plugin may be an older build)."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    include = Path(vs.__file__).parent / "include"
    if cc is None or not (include / "VapourSynth4.h").is_file():
        pytest.skip("no C compiler or VapourSynth headers to build the plugin")
    plugin = tmp_path / "libvsslomo.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", f"-I{include}", str(REPO / "native/vsslomo_plugin.c"), "-o", str(plugin), "-ldl"], check=True)
    script = f"""
import inspect, sys
import vapoursynth as vs

class Alone(vs.EnvironmentPolicy):
    def on_policy_registered(self, api):
        self.env = api.create_environment(vs.DISABLE_AUTO_LOADING)
    def get_current_environment(self):
        return self.env
    def set_environment(self, environment):
        return self.env

vs.register_policy(Alone())
core = vs.core
core.std.LoadPlugin(path={str(plugin)!r})
from vsslomo import filter
names = [a.split(":")[0] for a in core.slomo.Interpolate.signature.split(";") if a]
assert names == list(inspect.signature(filter.interpolate).parameters), names
sys.path.insert(0, {str(REPO / "tests")!r})
from test_holds import cadence_frames, clip_from
clip = clip_from(cadence_frames([2, 2, 2], width=64, height=48)[0])
out = core.slomo.Interpolate(clip, factor=1, dedup=1, dedup_threshold=0.05, dedup_max_hold=3,
                             dedup_file={str(tmp_path / "p.slomo.json")!r}, device="cpu")
print([(f.props["SlomoSourceFrame"], f.props["SlomoHeld"]) for f in out.frames()])
try:
    core.slomo.Interpolate(clip, dedup=1, dedup_max_hold=1)
except vs.Error as exc:
    print(str(exc).splitlines()[0])
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[(0, 0), (0, 1), (2, 0), (2, 1), (4, 0), (4, 1)]"
    assert lines[1].startswith("slomo.Interpolate: dedup_max_hold must be a whole number")
    assert (tmp_path / "p.slomo.json").is_file()
