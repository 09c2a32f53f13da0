"""Held drawings: the pure rules (vsslomo.analysis.holds), the one-pass scan and the sidecar.

Clips are the built-in demo scene rendered on ones (frame ``n`` shows time ``SPEED * n``), then
held on a known cadence: every frame of a run shows the time its run starts. So the drawings
(the first frame of every run) are exact truth. Some runs get a mouth-sized patch that
opens on a held copy (which must split the run), some clips go through x264 at a high crf
with film grain added to every frame (noise that must not split a run).
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vsslomo.analysis import holds, measurements, sidecar
from vsslomo.demo import render

vs = pytest.importorskip("vapoursynth")
core = vs.core

W, H = 256, 144
SPEED = 2.0
"""Scene time per frame: drawings move about as much as animation's do."""
NOISY = (512, 288)
"""Size of the clips that go through x264: a thumbnail pixel then averages 8x8 pixels (at
1080p it averages 30x30, so real footage is less noisy than these)."""


def mouth(width: int, height: int) -> tuple[slice, slice]:
    """A mouth-sized patch: 1.6 % x 2.1 % of the picture (30x22 pixels at 1080p, 4x3 at 256x144)."""
    y, x = round(0.611 * height), round(0.586 * width)
    return slice(y, y + max(1, round(0.021 * height))), slice(x, x + max(1, round(0.016 * width)))


# ---------------------------------------------------------------- synthetic held clips


def cadence_frames(
    cadence: list[int],
    shots: list[int] | None = None,
    mouth_open: set[int] = frozenset(),  # type: ignore[assignment]
    width: int = W,
    height: int = H,
    speed: float = SPEED,
) -> tuple[list[np.ndarray], list[int]]:
    """RGB frames (float, H x W x 3) of drawings held ``cadence[k]`` frames each, and the
    true drawings (first frame of every run); frame ``n`` of the clip on ones would show
    time ``speed * n``. ``shots[k]`` is drawing k's shot (a change of shot is a cut); frames
    in ``mouth_open`` show the mouth patch open (dark)."""
    frames, starts, n = [], [], 0
    for k, length in enumerate(cadence):
        shot = shots[k] if shots else 0
        picture = render(speed * n, width, height, shot)
        starts.append(n)
        for _ in range(length):
            frame = picture.copy()
            if n in mouth_open:
                frame[mouth(width, height)] = (0.35, 0.05, 0.08)
            frames.append(frame)
            n += 1
    return frames, starts


def clip_from(frames: list[np.ndarray], fps: tuple[int, int] = (24000, 1001)) -> vs.VideoNode:
    """An RGB24 clip of ``frames``."""
    height, width = frames[0].shape[:2]
    blank = core.std.BlankClip(format=vs.RGB24, width=width, height=height, length=len(frames), fpsnum=fps[0], fpsden=fps[1])
    pixels = [np.rint(np.clip(f, 0, 1) * 255).astype(np.uint8) for f in frames]

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), pixels[n][..., p])
        return out

    return core.std.ModifyFrame(blank, blank, draw)


def x264(frames: list[np.ndarray], path: Path, crf: int = 30, keyint: int = 5, grain: float = 0.01, seed: int = 0) -> vs.VideoNode:
    """``frames`` with fresh grain on every frame, encoded with x264 at ``crf`` and decoded."""
    height, width = frames[0].shape[:2]
    rng = np.random.default_rng(seed)
    raw = b"".join(
        np.clip(np.rint((f + rng.normal(0, grain, f.shape)) * 255), 0, 255).astype(np.uint8).tobytes() for f in frames
    )
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", "24",
        "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", str(keyint),
        "-pix_fmt", "yuv420p", str(path),
    ]
    subprocess.run(cmd, input=raw, check=True)
    return core.bs.VideoSource(str(path))


def scanned(clip: vs.VideoNode) -> measurements.Measurements:
    from vsslomo.analysis.vsadapter import scan

    return scan(clip)


def drawings_of(clip: vs.VideoNode, **thresholds: object) -> tuple[int, ...]:
    return scanned(clip).decide(**thresholds).drawings  # type: ignore[arg-type]


TWOS = [2] * 12
THREES = [3] * 8
MIXED = [3, 2, 2, 1, 3, 4, 2, 3, 1, 2, 2, 3]


# ---------------------------------------------------------------- pure rules


def test_copy_rule_separates_local_changes_from_spread_noise() -> None:
    t = holds.DEFAULT_THRESHOLD
    c, e = holds.NOISE_CEILING, holds.SPREAD_EXCESS
    peak = [0.0, t, 1.01 * t, 0.99 * c * t, 0.99 * c * t, 1.01 * c * t, 0.3]
    level = [0.0, 0.0, 0.0, (0.99 * c - 0.9 * e) * t, (0.99 * c - 1.1 * e) * t, c * t, 0.3]
    # clean copy, at the threshold, a local change just above it, spread noise (under the
    # ceiling, its peak little above its level), a local change (further above its level),
    # spread but over the ceiling, and motion everywhere
    assert holds.copies(peak, level).tolist() == [True, True, False, True, False, False, False]


def test_runs_never_cross_a_cut_and_long_runs_are_stillness() -> None:
    copy = [True, False, True, True, False, True, True, True, True, True, False]
    cut = [False] * 11
    assert holds.runs(copy, cut) == [(0, 2), (2, 5), (5, 11), (11, 12)]
    cut[2] = True  # a cut between two identical frames splits their run
    assert holds.runs(copy, cut) == [(0, 2), (2, 3), (3, 5), (5, 11), (11, 12)]
    assert holds.drawings(holds.runs(copy, [False] * 11), max_hold=4) == (0, 2, 5, 6, 7, 8, 9, 10, 11)
    assert holds.drawings(holds.runs(copy, [False] * 11), max_hold=6) == (0, 2, 5, 11)
    assert holds.runs([], []) == [(0, 1)]


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "0.04", True])
def test_bad_hold_threshold_is_refused_with_a_hint(bad: object) -> None:
    with pytest.raises(ValueError, match=r"dedup_threshold must be a number in \(0, 1\].*raise it"):
        holds.validate_threshold(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "4", True])
def test_bad_max_hold_is_refused_with_a_hint(bad: object) -> None:
    with pytest.raises(ValueError, match=r"dedup_max_hold must be a whole number of frames >= 2.*real stillness"):
        holds.validate_max_hold(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the scan on exact truth


@pytest.mark.parametrize("cadence", [TWOS, THREES, MIXED], ids=["twos", "threes", "mixed"])
def test_drawings_of_clean_held_animation_are_exact(cadence: list[int]) -> None:
    frames, truth = cadence_frames(cadence)
    found = scanned(clip_from(frames)).decide()
    assert found.drawings == tuple(truth)
    assert found.cuts == ()


def test_runs_at_the_start_and_the_end_and_a_cut_mid_cadence() -> None:
    # Shot 0 on threes, but its last drawing is cut after two frames; shot 1 starts with a
    # three-frame run and ends with one.
    cadence = [3, 3, 2, 3, 2, 3]
    frames, truth = cadence_frames(cadence, shots=[0, 0, 0, 1, 1, 1])
    found = scanned(clip_from(frames)).decide()
    assert found.drawings == tuple(truth) == (0, 3, 6, 8, 11, 13)
    assert found.cuts == (7,)
    assert found.runs[0] == (0, 3) and found.runs[-1] == (13, 16)


def test_an_upstream_cut_between_identical_frames_splits_their_run() -> None:
    frames, truth = cadence_frames([3, 3, 3])
    clip = clip_from(frames)
    clip = core.std.Splice([clip[:4], core.std.SetFrameProps(clip[4], _SceneChangeNext=1), clip[5:]])
    found = scanned(clip).decide()
    assert found.cuts == (4,)
    assert found.drawings == (0, 3, 5, 6)


def test_a_hold_longer_than_max_hold_is_real_stillness() -> None:
    cadence = [2, 2, 10, 2, 2]
    frames, truth = cadence_frames(cadence)
    record = scanned(clip_from(frames))
    still = tuple(range(4, 14))
    assert record.decide().drawings == (0, 2, *still, 14, 16)  # default max hold 4
    assert record.decide(max_hold=9).drawings == (0, 2, *still, 14, 16)
    assert record.decide(max_hold=10).drawings == tuple(truth)


def test_a_mouth_flap_splits_a_run() -> None:
    # Drawings on threes; in drawings 1, 3 and 5 the mouth opens on the second frame.
    cadence = [3] * 7
    opened = {4, 5, 10, 11, 16, 17}
    frames, truth = cadence_frames(cadence, mouth_open=opened)
    expected = sorted({*truth, 4, 10, 16})
    assert drawings_of(clip_from(frames)) == tuple(expected)


def test_x264_noise_still_merges_and_a_mouth_flap_still_splits(tmp_path: Path) -> None:
    # crf 30 with grain on every frame, or crf 36 on the clean drawings; keyframes every 5
    # frames or every 12 (in the middle of a four-frame run)
    encodings = [(30, 0.01, 5, 0), (36, 0.0, 12, 0)]
    frames, truth = cadence_frames(MIXED, width=NOISY[0], height=NOISY[1])
    for crf, grain, keyint, seed in encodings:
        noisy = x264(frames, tmp_path / "held.mp4", crf=crf, grain=grain, keyint=keyint, seed=seed)
        assert drawings_of(noisy) == tuple(truth), (crf, grain, keyint)
    # the mouth opens on the second frame of the runs of drawings 0 and 5 (and closes again
    # on the last frame of drawing 5's four-frame run), and in both frames of drawing 10's
    opened = {1, 2, 12, 13, 21, 22}
    frames, truth = cadence_frames(MIXED, mouth_open=opened, width=NOISY[0], height=NOISY[1])
    for crf, grain, keyint, seed in [(30, 0.01, 12, 1), (36, 0.0, 5, 0)]:
        noisy = x264(frames, tmp_path / "mouth.mp4", crf=crf, grain=grain, keyint=keyint, seed=seed)
        assert drawings_of(noisy) == tuple(sorted({*truth, 1, 12, 14})), (crf, grain, keyint)


def test_scan_and_per_frame_marks_agree_on_the_cuts(tmp_path: Path) -> None:
    from vsslomo.analysis.vsadapter import mark_scene_changes
    from vsslomo.props import SCENE_CHANGE

    frames, _ = cadence_frames([2, 3, 1, 2, 3, 2, 2, 1, 3], shots=[0, 0, 0, 1, 1, 2, 2, 2, 3])
    for clip in (clip_from(frames), x264(frames, tmp_path / "cuts.mp4", crf=30)):
        marks = [f.props[SCENE_CHANGE] for f in mark_scene_changes(clip).frames()][:-1]
        record = scanned(clip)
        assert np.flatnonzero(marks).tolist() == list(record.decide().cuts) == [5, 10, 15]


def test_scan_reads_durations_and_reports_progress() -> None:
    frames, _ = cadence_frames([2] * 60, width=64, height=36)
    clip = clip_from(frames)
    calls: list[tuple[int, int]] = []
    from vsslomo.analysis.vsadapter import scan

    record = scan(clip, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(50, 120), (100, 120), (120, 120)]
    assert record.durations == (Fraction(1001, 24000),) * 120
    assert record.key.describe() == "120 frames, 64x36 RGB24 at 24000/1001 fps"
    assert sorted(record.samples) == list(measurements.sample_frames(120))


# ---------------------------------------------------------------- sidecar


def _record(tmp_path: Path, cadence: list[int] = TWOS) -> tuple[vs.VideoNode, measurements.Measurements, Path]:
    frames, _ = cadence_frames(cadence, width=96, height=54)
    clip = clip_from(frames)
    return clip, scanned(clip), tmp_path / "clip.slomo.json"


def test_sidecar_round_trip_is_exact(tmp_path: Path) -> None:
    clip, record, path = _record(tmp_path)
    sidecar.write(path, record, record.decide(), {"dedup_threshold": 0.04})
    back = sidecar.read(path)
    assert back.key == record.key and back.durations == record.durations
    assert back.upstream_cuts == record.upstream_cuts
    for name in measurements.FEATURE_NAMES:
        np.testing.assert_array_equal(back.features[name], record.features[name])
    for n, pixels in record.samples.items():
        np.testing.assert_array_equal(back.samples[n], pixels)
    assert back.decide() == record.decide()
    doc = json.loads(path.read_text())
    assert doc["decisions"]["held_runs"][:2] == [[0, 2], [2, 2]]


def test_load_or_scan_writes_once_then_reads_without_scanning(tmp_path: Path) -> None:
    from vsslomo.analysis.vsadapter import load_or_scan

    clip, record, path = _record(tmp_path)
    calls: list[int] = []
    first = load_or_scan(clip, path, progress=lambda done, total: calls.append(done))
    assert path.exists() and calls[-1] == clip.num_frames
    calls.clear()
    second = load_or_scan(clip, path, progress=lambda done, total: calls.append(done))
    assert calls == [] and second.decide() == first.decide() == record.decide()


def test_sidecar_refuses_another_clip_other_pictures_and_stale_files(tmp_path: Path) -> None:
    from vsslomo.analysis.vsadapter import load_or_scan

    clip, record, path = _record(tmp_path)
    sidecar.write(path, record)
    with pytest.raises(sidecar.SidecarError, match=r"made for another clip \(24 frames, 96x54 RGB24.*this clip: 23 frames"):
        load_or_scan(clip[1:], path)
    other, _ = cadence_frames(TWOS, shots=[1] * 12, width=96, height=54)
    with pytest.raises(sidecar.SidecarError, match=r"made for other pictures \(frame 0 differs\).*delete the file to rescan"):
        load_or_scan(clip_from(other), path)
    doc = json.loads(path.read_text())
    doc["version"] = measurements.FEATURE_VERSION + 1
    path.write_text(json.dumps(doc))
    with pytest.raises(sidecar.SidecarError, match="another version of the analysis.*delete it to rescan"):
        load_or_scan(clip, path)
    path.write_text("{not json")
    with pytest.raises(sidecar.SidecarError, match="not valid JSON"):
        load_or_scan(clip, path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(sidecar.SidecarError, match="not a vsslomo analysis file"):
        load_or_scan(clip, path)
    doc["version"] = measurements.FEATURE_VERSION
    doc["features"]["peak"] = doc["features"]["peak"][:-8]
    path.write_text(json.dumps(doc))
    with pytest.raises(sidecar.SidecarError, match="is damaged"):
        load_or_scan(clip, path)


def test_the_same_file_decoded_again_is_accepted(tmp_path: Path) -> None:
    from vsslomo.analysis.vsadapter import load_or_scan

    frames, truth = cadence_frames(THREES, width=NOISY[0], height=NOISY[1])
    video = tmp_path / "held.mp4"
    x264(frames, video, crf=30)
    path = tmp_path / "held.mp4.slomo.json"
    first = load_or_scan(core.bs.VideoSource(str(video)), path)
    again = load_or_scan(core.resize.Bicubic(core.bs.VideoSource(str(video)), format=vs.YUV420P8), path)
    assert again.decide().drawings == first.decide().drawings == tuple(truth)
