"""Measure the scene-change detector on real footage with real cuts.

Test sequences are built by splicing segments of different real videos (and jump cuts
between two distant times of the same video) converted to one common size and format;
the ground truth is "a cut at every splice, none inside a segment". Some sequences hold
every picture for two or three frames (animation on twos/threes). The script runs
``vsslomo.vsscene.mark_scene_changes`` and prints precision / recall / F1 at the default
threshold, per kind of cut, a threshold sweep, false positives on whole continuous videos,
and the detector's cost per frame next to the cost of reading the frame.

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

from vsslomo import scene  # noqa: E402
from vsslomo.vsscene import PROP, SCORE_PROP, mark_scene_changes  # noqa: E402

from footage import check_not_reserved, opencv_doc_videos  # noqa: E402

SWEEP = (0.006, 0.008, 0.010, 0.012, 0.015, 0.020, 0.030, 0.050)


@dataclass(frozen=True)
class Segment:
    video: str
    start: int  # in frames of the (possibly held) source
    length: int


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
    rng: np.random.Generator, lengths: dict[str, int], hold: int, segments: int
) -> list[Segment]:
    """Random segments; ~35 % of cuts are jump cuts inside the same video."""
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
    return out


def run_marks(clip: vs.VideoNode, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(cut marks, pair scores) for every frame of ``clip``."""
    marked = mark_scene_changes(clip, threshold=threshold)
    marks, scores = [], []
    for frame in marked.frames():
        marks.append(int(frame.props[PROP]))
        scores.append(float(frame.props[SCORE_PROP]))  # type: ignore[arg-type]
    return np.array(marks[:-1], dtype=bool), np.array(scores[:-1])


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
        for _ in range(count):
            segs = make_sequence(rng, lengths, hold, segments=10)
            clip = core.std.Splice([clips[s.video][s.start : s.start + s.length] for s in segs])
            truth = np.zeros(clip.num_frames - 1, dtype=bool)
            kinds = [""] * (clip.num_frames - 1)
            pos = 0
            for a, b in zip(segs, segs[1:]):
                pos += a.length
                truth[pos - 1] = True
                kinds[pos - 1] = f"jump:{a.video}" if a.video == b.video else "cross"
            marks, scores = run_marks(clip, None)
            results.append({"hold": hold, "truth": truth, "kinds": kinds, "marks": marks, "scores": scores, "segs": segs})
    return results


def false_positive_sites(results: list[dict], threshold: float | None) -> dict[str, int]:
    """Count false cuts by place in the source videos (picture numbers before holding)."""
    sites: dict[str, int] = {}
    for r in results:
        marks = r["marks"] if threshold is None else scene.detect_scene_changes(r["scores"], threshold)
        owner = [(s.video, s.start + t) for s in r["segs"] for t in range(s.length)]
        for i in np.flatnonzero(marks & ~r["truth"]):
            video, frame = owner[i]
            key = f"{video}@{frame // r['hold']}"
            sites[key] = sites.get(key, 0) + 1
    return dict(sorted(sites.items()))


def report_sequences(results: list[dict], args_verbose: bool = False) -> None:
    truth = np.concatenate([r["truth"] for r in results])
    marks = np.concatenate([r["marks"] for r in results])
    scores = np.concatenate([r["scores"] for r in results])
    kinds = sum((r["kinds"] for r in results), [])
    holds = np.concatenate([np.full(len(r["truth"]), r["hold"]) for r in results])

    # The adapter must agree with the pure rule applied to the same scores.
    pure = np.concatenate([scene.detect_scene_changes(r["scores"]) for r in results])
    assert np.array_equal(pure, marks), "adapter and pure rule disagree"

    n_seq = len(results)
    print(f"\n== Spliced sequences: {n_seq} sequences, {len(truth) + n_seq} frames, "
          f"{truth.sum()} real cuts, {(~truth).sum()} continuous pairs")
    tp, fp, fn = int((marks & truth).sum()), int((marks & ~truth).sum()), int((~marks & truth).sum())
    p, r, f = prf(tp, fp, fn)
    print(f"default threshold {scene.DEFAULT_THRESHOLD}: precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}"
          f"  (TP {tp}, FP {fp}, FN {fn})")
    for hold in sorted(set(holds.tolist())):
        sel = holds == hold
        tp_, fp_, fn_ = (int((marks & truth & sel).sum()), int((marks & ~truth & sel).sum()),
                         int((~marks & truth & sel).sum()))
        p_, r_, f_ = prf(tp_, fp_, fn_)
        label = {1: "normal", 2: "held on twos", 3: "held on threes"}.get(hold, f"hold {hold}")
        print(f"  {label:15s}: precision {p_:.3f}  recall {r_:.3f}  F1 {f_:.3f}  (TP {tp_}, FP {fp_}, FN {fn_})")
    print("recall by kind of cut:")
    for kind in sorted({k for k in kinds if k}):
        sel = np.array([k == kind for k in kinds])
        print(f"  {kind:12s}: {int((marks & sel).sum())}/{int(sel.sum())} = {(marks & sel).sum() / sel.sum():.3f}")
    print(f"false positives inside continuous segments: {fp} of {(~truth).sum()} pairs; where "
          f"(video, source picture -> next): {false_positive_sites(results, None)}")

    print("\nthreshold sweep (pure rule on the same pair scores):")
    print("  threshold  precision  recall     F1    FP   FN")
    for t in SWEEP:
        d = np.concatenate([scene.detect_scene_changes(r["scores"], t) for r in results])
        tp, fp, fn = int((d & truth).sum()), int((d & ~truth).sum()), int((~d & truth).sum())
        p, r, f = prf(tp, fp, fn)
        mark = "  <- default" if t == scene.DEFAULT_THRESHOLD else ""
        print(f"  {t:9.3f}  {p:9.3f}  {r:6.3f}  {f:6.3f}  {fp:4d} {fn:4d}{mark}")
        if args_verbose:
            print(f"             false cuts at {false_positive_sites(results, t)}")
    cut_scores = scores[truth]
    print(f"cut scores: min {cut_scores.min():.3f}, 10th pct {np.percentile(cut_scores, 10):.3f}; "
          f"continuous pair scores: 99th pct {np.percentile(scores[~truth], 99):.3f}, max {scores[~truth].max():.3f}")


def report_continuous(clips_by_hold: dict[int, dict[str, vs.VideoNode]]) -> None:
    print("\n== Whole continuous videos (no cut anywhere): false positives")
    for hold, clips in clips_by_hold.items():
        for name, clip in clips.items():
            marks, scores = run_marks(clip, None)
            where = [(int(i), round(float(scores[i]), 3)) for i in np.flatnonzero(marks)]
            label = "" if hold == 1 else f" (held x{hold})"
            print(f"  {name}{label}: {clip.num_frames} frames, {len(where)} false cuts"
                  + (f" at (pair, score) {where}" if where else ""))


def report_cost(paths: list[Path], args: argparse.Namespace) -> None:
    """Time reading frames vs. reading them through mark_scene_changes (fresh sources)."""
    print("\n== Cost per frame (all frames of each video, core threads: "
          f"{vs.core.num_threads}; best of {args.repeats})")
    for width, height in ((args.width, args.height), (1920, 1080)):
        total = sum(c.num_frames for c in load_videos(paths, width, height, 1).values())
        best_read = best_mark = float("inf")
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
        read, mark = best_read / total * 1e3, best_mark / total * 1e3
        print(f"  {width}x{height} real videos: read {read:.3f} ms/frame, read + detect {mark:.3f} "
              f"ms/frame, difference {mark - read:.3f} ms/frame ({total} frames)")
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
    print(f"detector: default threshold {scene.DEFAULT_THRESHOLD}, neighbour ratio "
          f"{scene.NEIGHBOUR_RATIO}, search radius {scene.SEARCH_RADIUS}, thumbnail width {scene.THUMB_WIDTH}")
    results = evaluate_sequences(clips_by_hold, args.sequences, args.seed)
    report_sequences(results, args.verbose)
    report_continuous(clips_by_hold)
    if not args.no_timing:
        report_cost(paths, args)


if __name__ == "__main__":
    main()
