"""Measure the scene-change detector on real footage with real cuts.

Test sequences are built by splicing segments of different real videos (and jump cuts
between two distant times of the same video) converted to one common size and format;
the ground truth is "a cut at every splice, none inside a segment". Some sequences hold
every picture for two or three frames (animation on twos/threes). In a third of the
sequences a frame next to some splices (the one before or the one after, at random) is
damaged, the way a broken decode or a bad edit leaves a single glitched frame; the whole
continuous videos get damaged frames inside their shots too, which must not fire.

The script runs ``vsslomo.analysis.vsadapter.mark_scene_changes`` (per frame, as the filter
does) and checks that the one-pass scan of ``dedup=True`` decides the same cuts. It prints
precision / recall / F1 at the default threshold, per kind of cut, the same for the
previous detector (mean difference only: no exposure compensation, no damaged-frame rule,
no hold lengths) on the same mean differences, a threshold sweep, false positives on whole continuous videos, and
the detector's cost per frame next to the cost of reading the frame.

    python benchmarks/scene_detection.py VIDEO [VIDEO ...]
    python benchmarks/scene_detection.py          # fetches opencv-doc's sample videos

With no paths it runs ``apt-get download opencv-doc`` into a temporary folder and uses
vtest.avi, tree.avi, box.mp4 and cup.mp4 from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import check_not_reserved, opencv_doc_videos  # noqa: E402

from vsslomo import props  # noqa: E402
from vsslomo.analysis import cuts, features  # noqa: E402
from vsslomo.analysis.vsadapter import mark_scene_changes, scan  # noqa: E402

SWEEP = (0.006, 0.008, 0.010, 0.012, 0.015, 0.020, 0.030, 0.050)


@dataclass(frozen=True)
class Segment:
    video: str
    start: int  # in frames of the (possibly held) source
    length: int
    damaged: int | None = None  # index inside the segment of a damaged frame


def damage(frame: vs.VideoFrame, seed: int) -> vs.VideoFrame:
    """A glitched copy of ``frame``: a broken decode (random 16x16 blocks replaced by
    garbage, or the lower part of the picture left grey), as seen in damaged files."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    planes = [np.asarray(out[p]) for p in range(out.format.num_planes)]
    if rng.random() < 0.5:
        h, w = planes[0].shape
        for by in range(0, h, 16):
            for bx in range(0, w, 16):
                if rng.random() < 0.4:
                    value = int(rng.integers(0, 256))
                    for p, plane in enumerate(planes):
                        k = 1 if p == 0 else 2  # 4:2:0 chroma
                        plane[by // k : (by + 16) // k, bx // k : (bx + 16) // k] = value
    else:
        start = float(rng.uniform(0.3, 0.6))
        for plane in planes:
            plane[int(plane.shape[0] * start) :] = 128
    return out


def damaged_at(clip: vs.VideoNode, frames: dict[int, int]) -> vs.VideoNode:
    """``clip`` with frame ``n`` damaged (with seed ``frames[n]``) for every ``n`` given."""
    if not frames:
        return clip

    def select(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        return damage(f, frames[n]) if n in frames else f

    return vs.core.std.ModifyFrame(clip, clip, select)


def load_videos(
    paths: list[Path], width: int, height: int, hold: int
) -> dict[str, vs.VideoNode]:
    """Open every video with bestsource, as YUV420P8 ``width x height`` at 25 fps.

    With ``hold > 1`` every picture is repeated ``hold`` times (animation on twos/threes).
    """
    core = vs.core
    clips: dict[str, vs.VideoNode] = {}
    for path in paths:
        clip = core.bs.VideoSource(str(path))
        kwargs = {"matrix_s": "709"} if clip.format.color_family == vs.RGB else {}
        clip = core.resize.Bicubic(clip, width, height, format=vs.YUV420P8, **kwargs)
        clip = core.std.AssumeFPS(clip, fpsnum=25, fpsden=1)
        if hold > 1:
            clip = core.std.Interleave([clip] * hold)
        clips[path.stem] = clip
    return clips


def make_sequence(
    rng: np.random.Generator, lengths: dict[str, int], hold: int, segments: int, damaged: bool
) -> list[Segment]:
    """Random segments; ~35 % of cuts are jump cuts inside the same video. With ``damaged``,
    every other cut gets a damaged frame just before or just after it."""
    names = sorted(lengths)
    out: list[Segment] = []
    for _ in range(segments):
        prev = out[-1] if out else None
        if prev is not None and rng.random() < 0.35:
            video = prev.video
        else:
            video = names[int(rng.integers(len(names)))]
        n = lengths[video]
        length = int(rng.integers(6, min(60, n // 2)))
        for _attempt in range(100):
            start = int(rng.integers(0, n - length + 1))
            # A jump cut must skip at least 15 source pictures (and must not continue).
            if prev is None or prev.video != video or abs(start - (prev.start + prev.length)) >= 15 * hold:
                break
        else:
            video = next(v for v in names if v != video)
            start = 0
        out.append(Segment(video, start, length))
    if damaged:
        for k in range(1, len(out), 2):  # cut between out[k - 1] and out[k]
            if rng.random() < 0.5:
                out[k - 1] = Segment(out[k - 1].video, out[k - 1].start, out[k - 1].length, out[k - 1].length - 1)
            else:
                out[k] = Segment(out[k].video, out[k].start, out[k].length, 0)
    return out


def run_marks(clip: vs.VideoNode) -> tuple[np.ndarray, cuts.CutScores]:
    """(cut marks of the per-frame adapter, pair scores of the one-pass scan) of ``clip``;
    both ways must agree on the cuts."""
    marks = np.array([int(f.props[props.SCENE_CHANGE]) for f in mark_scene_changes(clip).frames()][:-1], dtype=bool)
    scores = scan(clip).cut_scores
    assert np.array_equal(marks, cuts.detect_scene_changes(scores)), "per-frame marks and the scan disagree"
    return marks, scores


def previous_detector(diff: np.ndarray, threshold: float) -> np.ndarray:
    """The detector before this one (vsslomo/scene.py up to 22bae55), on the same mean
    differences: floor, and 2x the nearest non-duplicate pair within 3 on each side."""
    marks = np.zeros(len(diff), dtype=bool)
    for i, score in enumerate(diff):
        ref = 0.0
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(diff) and abs(j - i) <= 3:
                if diff[j] >= threshold * 0.25:
                    ref = max(ref, float(diff[j]))
                    break
                j += step
        marks[i] = score >= threshold and score >= 2.0 * ref
    return marks


def decide(scores: cuts.CutScores, threshold: float = cuts.DEFAULT_THRESHOLD, previous: bool = False) -> np.ndarray:
    return previous_detector(scores.diff, threshold) if previous else cuts.detect_scene_changes(scores, threshold)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate_sequences(
    clips_by_hold: dict[int, dict[str, vs.VideoNode]], count: int, seed: int
) -> list[dict]:
    """Build and run ``count`` sequences per hold value; return per-pair records."""
    core = vs.core
    results = []
    for hold, clips in clips_by_hold.items():
        rng = np.random.default_rng(seed + hold)
        lengths = {k: c.num_frames for k, c in clips.items()}
        for k in range(count):
            segs = make_sequence(rng, lengths, hold, segments=10, damaged=k % 3 == 2)
            parts = []
            for s in segs:
                part = clips[s.video][s.start : s.start + s.length]
                parts.append(damaged_at(part, {s.damaged: seed + k} if s.damaged is not None else {}))
            clip = core.std.Splice(parts)
            truth = np.zeros(clip.num_frames - 1, dtype=bool)
            kinds = [""] * (clip.num_frames - 1)
            pos = 0
            for a, b in zip(segs, segs[1:]):
                pos += a.length
                truth[pos - 1] = True
                kinds[pos - 1] = f"jump:{a.video}" if a.video == b.video else "cross"
                if a.damaged is not None or b.damaged == 0:
                    kinds[pos - 1] += "+damaged"
            marks, scores = run_marks(clip)
            results.append({"hold": hold, "truth": truth, "kinds": kinds, "marks": marks, "scores": scores, "segs": segs})
    return results


def false_positive_sites(results: list[dict], threshold: float | None, previous: bool = False) -> dict[str, int]:
    """Count false cuts by place in the source videos (picture numbers before holding)."""
    sites: dict[str, int] = {}
    for r in results:
        marks = r["marks"] if threshold is None and not previous else decide(r["scores"], threshold or cuts.DEFAULT_THRESHOLD, previous)
        owner = [(s.video, s.start + t) for s in r["segs"] for t in range(s.length)]
        for i in np.flatnonzero(marks & ~r["truth"]):
            video, frame = owner[i]
            key = f"{video}@{frame // r['hold']}"
            sites[key] = sites.get(key, 0) + 1
    return dict(sorted(sites.items()))


def summary(results: list[dict], previous: bool, threshold: float = cuts.DEFAULT_THRESHOLD) -> str:
    truth = np.concatenate([r["truth"] for r in results])
    marks = np.concatenate([decide(r["scores"], threshold, previous) for r in results])
    tp, fp, fn = int((marks & truth).sum()), int((marks & ~truth).sum()), int((~marks & truth).sum())
    p, r, f = prf(tp, fp, fn)
    return f"precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}  (TP {tp}, FP {fp}, FN {fn})"


def report_sequences(results: list[dict], args_verbose: bool = False) -> None:
    truth = np.concatenate([r["truth"] for r in results])
    marks = np.concatenate([r["marks"] for r in results])
    diff = np.concatenate([r["scores"].diff for r in results])
    kinds = sum((r["kinds"] for r in results), [])
    holds = np.concatenate([np.full(len(r["truth"]), r["hold"]) for r in results])

    n_seq = len(results)
    print(f"\n== Spliced sequences: {n_seq} sequences, {len(truth) + n_seq} frames, "
          f"{truth.sum()} real cuts ({sum('damaged' in k for k in kinds)} next to a damaged frame), "
          f"{(~truth).sum()} continuous pairs")
    tp, fp, fn = int((marks & truth).sum()), int((marks & ~truth).sum()), int((~marks & truth).sum())
    print(f"default threshold {cuts.DEFAULT_THRESHOLD}: {summary(results, False)}")
    print(f"  previous rule, same scores: {summary(results, True)}")
    for hold in sorted(set(holds.tolist())):
        sel = holds == hold
        tp_, fp_, fn_ = (int((marks & truth & sel).sum()), int((marks & ~truth & sel).sum()),
                         int((~marks & truth & sel).sum()))
        p_, r_, f_ = prf(tp_, fp_, fn_)
        label = {1: "normal", 2: "held on twos", 3: "held on threes"}.get(hold, f"hold {hold}")
        print(f"  {label:15s}: precision {p_:.3f}  recall {r_:.3f}  F1 {f_:.3f}  (TP {tp_}, FP {fp_}, FN {fn_})")
    previous = np.concatenate([decide(r["scores"], previous=True) for r in results])
    print("recall by kind of cut (previous rule in brackets):")
    for kind in sorted({k for k in kinds if k}):
        sel = np.array([k == kind for k in kinds])
        print(f"  {kind:20s}: {int((marks & sel).sum())}/{int(sel.sum())} = {(marks & sel).sum() / sel.sum():.3f}"
              f"  ({int((previous & sel).sum())}/{int(sel.sum())})")
    print(f"false positives inside continuous segments: {fp} of {(~truth).sum()} pairs; where "
          f"(video, source picture -> next): {false_positive_sites(results, None)}")
    print(f"  previous rule: {int((previous & ~truth).sum())}; where: {false_positive_sites(results, None, previous=True)}")

    print("\nthreshold sweep (pure rule on the same pair scores):")
    print("  threshold  precision  recall     F1    FP   FN")
    for t in SWEEP:
        d = np.concatenate([decide(r["scores"], t) for r in results])
        tp, fp, fn = int((d & truth).sum()), int((d & ~truth).sum()), int((~d & truth).sum())
        p, r, f = prf(tp, fp, fn)
        mark = "  <- default" if t == cuts.DEFAULT_THRESHOLD else ""
        print(f"  {t:9.3f}  {p:9.3f}  {r:6.3f}  {f:6.3f}  {fp:4d} {fn:4d}{mark}")
        if args_verbose:
            print(f"             false cuts at {false_positive_sites(results, t)}")
    cut_scores = diff[truth]
    print(f"cut scores: min {cut_scores.min():.3f}, 10th pct {np.percentile(cut_scores, 10):.3f}; "
          f"continuous pair scores: 99th pct {np.percentile(diff[~truth], 99):.3f}, max {diff[~truth].max():.3f}")


def report_continuous(clips_by_hold: dict[int, dict[str, vs.VideoNode]], seed: int) -> None:
    print("\n== Whole continuous videos (no cut anywhere): false positives (previous rule in brackets)")
    for damaged in (False, True):
        for hold, clips in clips_by_hold.items():
            for name, clip in clips.items():
                glitched = {}
                if damaged:  # one damaged frame every ~40 frames, not at the ends
                    rng = np.random.default_rng(seed + hold)
                    glitched = {int(n): seed + int(n) for n in rng.choice(np.arange(2, clip.num_frames - 2), size=max(1, clip.num_frames // 40), replace=False)}
                marks, scores = run_marks(damaged_at(clip, glitched))
                where = [(int(i), round(float(scores.diff[i]), 3)) for i in np.flatnonzero(marks)]
                before = int(decide(scores, previous=True).sum())
                label = ("" if hold == 1 else f" (held x{hold})") + (f", {len(glitched)} damaged frames" if damaged else "")
                print(f"  {name}{label}: {clip.num_frames} frames, {len(where)} false cuts ({before})"
                      + (f" at (pair, score) {where}" if where else ""))


def report_cost(paths: list[Path], args: argparse.Namespace) -> None:
    """Time reading frames vs. reading them through mark_scene_changes (fresh sources)."""
    print("\n== Cost per frame (all frames of each video, core threads: "
          f"{vs.core.num_threads}; best of {args.repeats})")
    for width, height in ((args.width, args.height), (1920, 1080)):
        total = sum(c.num_frames for c in load_videos(paths, width, height, 1).values())
        best_read = best_mark = best_scan = float("inf")
        for _ in range(args.repeats):
            clips = load_videos(paths, width, height, 1)
            t0 = time.perf_counter()
            for clip in clips.values():
                for _f in clip.frames():
                    pass
            best_read = min(best_read, time.perf_counter() - t0)
            clips = load_videos(paths, width, height, 1)
            t0 = time.perf_counter()
            for clip in clips.values():
                for _f in mark_scene_changes(clip).frames():
                    pass
            best_mark = min(best_mark, time.perf_counter() - t0)
            clips = load_videos(paths, width, height, 1)
            t0 = time.perf_counter()
            for clip in clips.values():
                scan(clip)
            best_scan = min(best_scan, time.perf_counter() - t0)
        read, mark, one_pass = (best / total * 1e3 for best in (best_read, best_mark, best_scan))
        print(f"  {width}x{height} real videos: read {read:.3f} ms/frame, read + detect {mark:.3f} "
              f"ms/frame, difference {mark - read:.3f} ms/frame ({total} frames)")
        print(f"  {width}x{height} one-pass scan of dedup=True (cuts and holds): {one_pass:.3f} ms/frame, "
              f"{one_pass - read:.3f} ms/frame over reading")
        # Detector alone: a source whose frames cost nothing to read (one shared frame).
        blank = vs.core.std.BlankClip(width=width, height=height, format=vs.YUV420P8, length=2000, keep=True)
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for _f in mark_scene_changes(blank).frames():
                pass
            best = min(best, time.perf_counter() - t0)
        print(f"  {width}x{height} detector alone (free source frames): {best / 2000 * 1e3:.3f} ms/frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, help="real videos without cuts inside")
    parser.add_argument("--sequences", type=int, default=40, help="spliced sequences per hold value")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--holds", type=int, nargs="+", default=[1, 2, 3],
                        help="1 = normal footage, 2/3 = every picture held on twos/threes")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats (best is kept)")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="list false cuts for every swept threshold")
    args = parser.parse_args()

    paths = list(args.videos) or opencv_doc_videos()
    check_not_reserved(paths)
    if len(paths) < 2:
        parser.error("need at least two videos to make cuts between them")
    clips_by_hold = {h: load_videos(paths, args.width, args.height, h) for h in args.holds}
    print("videos:", ", ".join(f"{k} ({c.num_frames} frames)" for k, c in clips_by_hold[args.holds[0]].items()))
    print(f"detector: default threshold {cuts.DEFAULT_THRESHOLD}, neighbour ratio {cuts.NEIGHBOUR_RATIO}, "
          f"search radius {cuts.SEARCH_RADIUS}, skip ratio {cuts.SKIP_RATIO}, thumbnail width {features.THUMB_WIDTH}")
    results = evaluate_sequences(clips_by_hold, args.sequences, args.seed)
    report_sequences(results, args.verbose)
    report_continuous(clips_by_hold, args.seed)
    if not args.no_timing:
        report_cost(paths, args)


if __name__ == "__main__":
    main()
