"""Re-timing held animation on real footage: ``dedup=True`` against plain interpolation.

Real clips shot on ones (the opencv-doc samples) are the truth. Every ``--step``-th frame
makes a 24000/1001 fps "source on ones" (``--step 5``, so that a 60000/1001 fps output frame
``n`` sits exactly on original frame ``2n``); that source is then held like animation: each
drawing on twos, on threes, or on a mixed cadence (runs of 1 to 4, seeded), and encoded
with x264 (``--crf``, ``--crf -1`` keeps exact copies). Both ways then interpolate it, at
factor 1 (same rate: held copies replaced by in-betweens) and at 24 -> 60 fps:

* **PSNR of the frames that replaced held copies** (RGB 8-bit, against the true frame at the
  output frame's time): the output frames whose time falls on a held copy of the source;
  plain interpolation shows a stale drawing there (or interpolates between two copies);
* **judder**: the motion between consecutive output frames, measured with our own RIFE flow
  (mean displacement in pixels), against the same measure on the true frames: the mean
  absolute error of the per-frame motion relative to the true mean motion (0 = every frame
  moves as much as the truth does; a held copy that stops and then jumps scores high). Its
  floor is what interpolating the source *on ones* (no holds) to 60 fps scores: flow noise
  and the real motion's departure from linear over a source frame; and the spread
  (coefficient of variation) of the per-frame motion of each;
* the drawings the analysis found against the true cadence (exact runs).

    python benchmarks/holds.py [VIDEO ...] [--width 320] [--drawings 36] [--step 5] [--crf 18]

Without videos it uses vtest.avi, box.mp4 and cup.mp4 from opencv-doc (``footage.py``);
tree.avi is too short for ``--step 5``. CPU: a few minutes per video.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import check_not_reserved, opencv_doc_videos  # noqa: E402

import vsslomo  # noqa: E402
from vsslomo import convert, registry  # noqa: E402
from vsslomo.analysis.vsadapter import scan  # noqa: E402
from vsslomo.evaluate import frame_to_rgb, psnr, to_rgb24  # noqa: E402
from vsslomo.render.ffmpeg import find_ffmpeg  # noqa: E402

core = vs.core
FPS = Fraction(24000, 1001)
TARGET = Fraction(60000, 1001)


@dataclass(frozen=True)
class Case:
    name: str
    runs: tuple[int, ...]

    @property
    def drawings(self) -> list[int]:
        return [int(s) for s in np.cumsum((0, *self.runs[:-1]))]

    def held_source(self, n: int) -> int:
        """The source frame (on ones) that held frame ``n`` shows: its run's first."""
        return max(d for d in self.drawings if d <= n)


def cadences(length: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)

    def fill(pattern: list[int]) -> tuple[int, ...]:
        runs: list[int] = []
        while sum(runs) < length:
            runs.append(pattern[len(runs) % len(pattern)] if pattern else int(rng.integers(1, 5)))
        runs[-1] -= sum(runs) - length
        return tuple(runs)

    return [Case("twos", fill([2])), Case("threes", fill([3])), Case("mixed", fill([]))]


def load(path: Path, width: int, count: int, step: int) -> list[np.ndarray]:
    """The first ``count * step`` frames of a video as RGB24 arrays ``width`` wide (even sizes)."""
    clip = core.bs.VideoSource(str(path))
    height = int(round(clip.height * width / clip.width / 2)) * 2
    kwargs = {} if clip.format.color_family == vs.RGB else {"matrix_in_s": "709" if clip.height > 576 else "170m"}
    clip = core.resize.Bicubic(clip, width, height, format=vs.RGB24, **kwargs)
    total = min(clip.num_frames, count * step)
    return [frame_to_rgb(clip.get_frame(n)).copy() for n in range(total)]


def encode(frames: list[np.ndarray], crf: int, work: Path) -> vs.VideoNode:
    """The held frames as a 24000/1001 fps clip: x264 at ``crf`` (yuv420p), or exact RGB24 for ``crf < 0``."""
    height, width = frames[0].shape[:2]
    if crf < 0:
        blank = core.std.BlankClip(format=vs.RGB24, width=width, height=height, length=len(frames), fpsnum=FPS.numerator, fpsden=FPS.denominator)

        def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
            out = f.copy()
            for p in range(3):
                np.copyto(np.asarray(out[p]), frames[n][..., p])
            return out

        return core.std.ModifyFrame(blank, blank, draw)
    path = work / f"held-{time.monotonic_ns()}.mp4"
    cmd = [find_ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
           "-r", f"{FPS.numerator}/{FPS.denominator}", "-i", "-", "-c:v", "libx264", "-crf", str(crf),
           "-preset", "medium", "-pix_fmt", "yuv420p", "-colorspace", "bt470bg", "-color_primaries", "bt470bg",
           "-color_trc", "smpte170m", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return core.std.AssumeFPS(core.bs.VideoSource(str(path)), fpsnum=FPS.numerator, fpsden=FPS.denominator)


class Motion:
    """Mean displacement (pixels) between two RGB frames, from our RIFE's flow estimate."""

    def __init__(self) -> None:
        self.model = registry.get_spec("rife").load(None)
        self.multiple = self.model.pad_multiple

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        def tensor(x: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).float()[None] / 255
            return convert.pad_to_multiple(t, self.multiple)

        with torch.inference_mode():
            flow, _ = self.model.estimate(tensor(a), tensor(b))
        h, w = a.shape[:2]
        flow = flow[..., :h, :w]
        # flows from the middle frame to both ends: together, the displacement from a to b
        return float((flow[:, 0:2].norm(dim=1) + flow[:, 2:4].norm(dim=1)).mean())


def per_frame_motion(motion: Motion, frames: list[np.ndarray]) -> np.ndarray:
    return np.array([motion(a, b) for a, b in zip(frames, frames[1:])])


def judder(motion: Motion, frames: list[np.ndarray], truth: np.ndarray) -> tuple[float, float]:
    """(mean |motion error| / mean true motion, spread of the output's per-frame motion)."""
    out = per_frame_motion(motion, frames)
    return float(np.abs(out - truth).mean() / truth.mean()), float(out.std() / out.mean())


@dataclass
class Reference:
    """Per video: the true frames at 60 fps, their motion, and the source on ones at 60 fps."""

    truth60: list[np.ndarray]
    motion: np.ndarray
    ones_judder: tuple[float, float]
    ones_psnr: float


def rgb_frames(clip: vs.VideoNode) -> list[np.ndarray]:
    return [frame_to_rgb(f).copy() for f in to_rgb24(clip).frames(close=True)]


@dataclass
class Row:
    video: str
    case: str
    found: str
    f1_plain: float
    f1_dedup: float
    f1_count: int
    fps_plain: float
    fps_dedup: float
    fps_count: int
    all_plain: float
    all_dedup: float
    judder_plain: tuple[float, float]
    judder_dedup: tuple[float, float]
    reference: Reference
    seconds: float


def mean_psnr(frames: list[np.ndarray], truth: list[np.ndarray], picks: list[int]) -> float:
    return float(np.mean([min(psnr(frames[n], truth[n]), 100.0) for n in picks])) if picks else math.nan


def count60(ones: int) -> int:
    """Output frames at 60000/1001 fps up to the last source frame (after it, both ways repeat it)."""
    return (ones - 1) * 5 // 2 + 1


def reference(original: list[np.ndarray], step: int, length: int, crf: int, motion: Motion, work: Path) -> Reference:
    ones = original[::step][:length]
    count = count60(len(ones))
    # output frame n sits at source time 2n / 5, on original frame 2n * step / 5
    truth60 = [original[2 * n * step // 5] for n in range(count)]
    clip = encode(ones, crf, work)
    out = rgb_frames(vsslomo.interpolate(clip, fps_num=TARGET.numerator, fps_den=TARGET.denominator, device="cpu")[:count])
    true_motion = per_frame_motion(motion, truth60)
    return Reference(truth60, true_motion, judder(motion, out, true_motion), mean_psnr(out, truth60, list(range(count))))


def run_case(video: str, original: list[np.ndarray], step: int, case: Case, crf: int, motion: Motion, ref: Reference, work: Path) -> Row:
    start = time.perf_counter()
    ones = original[::step][: sum(case.runs)]
    held = [ones[case.held_source(n)] for n in range(len(ones))]
    clip = encode(held, crf, work)
    found = scan(clip).decide().drawings
    exact = "exact" if list(found) == case.drawings else f"{len(set(found) ^ set(case.drawings))} differ"

    copies = [n for n in range(len(ones)) if n not in case.drawings]
    f1 = {m: rgb_frames(vsslomo.interpolate(clip, factor=1, dedup=m, device="cpu")) for m in (False, True)}
    kw = {"fps_num": TARGET.numerator, "fps_den": TARGET.denominator, "device": "cpu"}
    fps = {m: vsslomo.interpolate(clip, dedup=m, **kw) for m in (False, True)}
    count = count60(len(ones))
    truth60 = ref.truth60
    out60 = {m: rgb_frames(fps[m][:count]) for m in (False, True)}
    on_copies = [n for n in range(count) if (2 * n) // 5 not in case.drawings]
    return Row(
        video, case.name, exact,
        mean_psnr(f1[False], ones, copies), mean_psnr(f1[True], ones, copies), len(copies),
        mean_psnr(out60[False], truth60, on_copies), mean_psnr(out60[True], truth60, on_copies), len(on_copies),
        mean_psnr(out60[False], truth60, list(range(count))), mean_psnr(out60[True], truth60, list(range(count))),
        judder(motion, out60[False], ref.motion), judder(motion, out60[True], ref.motion), ref,
        time.perf_counter() - start,
    )


def report(rows: list[Row]) -> None:
    print("\n| video | cadence | drawings found | factor 1: PSNR of the frames replacing held copies, plain / dedup (frames) "
          "| 24 -> 60: PSNR of the frames on held copies, plain / dedup (frames) "
          "| 24 -> 60: PSNR of all frames, plain / dedup (source on ones) | 24 -> 60 motion error, plain / dedup "
          "(source on ones) | motion spread, plain / dedup (on ones / truth) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = r.reference
        print(f"| {r.video} | {r.case} | {r.found} | {r.f1_plain:.2f} / **{r.f1_dedup:.2f}** ({r.f1_count}) "
              f"| {r.fps_plain:.2f} / **{r.fps_dedup:.2f}** ({r.fps_count}) "
              f"| {r.all_plain:.2f} / **{r.all_dedup:.2f}** ({ref.ones_psnr:.2f}) "
              f"| {r.judder_plain[0]:.2f} / **{r.judder_dedup[0]:.2f}** ({ref.ones_judder[0]:.2f}) "
              f"| {r.judder_plain[1]:.2f} / {r.judder_dedup[1]:.2f} ({ref.ones_judder[1]:.2f} / {ref.motion.std() / ref.motion.mean():.2f}) |")
    keys = ("f1_plain", "f1_dedup", "fps_plain", "fps_dedup", "all_plain", "all_dedup")
    means = {k: np.mean([getattr(r, k) for r in rows]) for k in keys}
    err = [np.mean([j(r) for r in rows]) for j in (lambda r: r.judder_plain[0], lambda r: r.judder_dedup[0], lambda r: r.reference.ones_judder[0])]
    ones = np.mean([r.reference.ones_psnr for r in rows])
    print(f"| mean | | | {means['f1_plain']:.2f} / **{means['f1_dedup']:.2f}** | {means['fps_plain']:.2f} / "
          f"**{means['fps_dedup']:.2f}** | {means['all_plain']:.2f} / **{means['all_dedup']:.2f}** ({ones:.2f}) "
          f"| {err[0]:.2f} / **{err[1]:.2f}** ({err[2]:.2f}) | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, help="real videos shot on ones, without cuts")
    parser.add_argument("--width", type=int, default=320, help="downscale to this width (default 320)")
    parser.add_argument("--drawings", type=int, default=36, help="source frames on ones per clip (default 36)")
    parser.add_argument("--step", type=int, default=5, help="original frames per source frame (default 5)")
    parser.add_argument("--crf", type=int, default=18, help="x264 crf of the held clip; -1 keeps exact copies")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mixed cadence")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.step % 5:
        parser.error("--step must be a multiple of 5 (60000/1001 fps frames must land on original frames)")
    torch.set_num_threads(args.threads)
    core.num_threads = args.threads

    paths = list(args.videos) or [p for p in opencv_doc_videos() if p.name != "tree.avi"]
    check_not_reserved(paths)
    motion = Motion()
    rows = []
    print(f"source on ones: every {args.step}th frame at {FPS} fps, {args.drawings} frames, {args.width} px wide; "
          f"held clips x264 crf {args.crf}")
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            original = load(path, args.width, args.drawings, args.step)
            length = min(len(original[:: args.step]), args.drawings)
            ref = reference(original, args.step, length, args.crf, motion, Path(tmp))
            for case in cadences(length, args.seed):
                row = run_case(path.stem, original, args.step, case, args.crf, motion, ref, Path(tmp))
                rows.append(row)
                print(f"  {row.video} {row.case}: {row.seconds:.0f} s", flush=True)
    report(rows)


if __name__ == "__main__":
    main()
