"""How the copy rule of ``dedup=True`` fares against x264 noise: copies split, mouth flaps merged.

The held clips of ``tests/test_holds.py`` (the demo scene on a mixed cadence of runs 1 to 4,
a mouth-sized patch, 1.6 % x 2.1 % of the picture, opening and closing on held copies) go
through x264 at each crf, with fresh grain on every frame or none, keyframes every 5 or
every 12 frames, several seeds. Every pair is labelled from the truth (copy, mouth flap,
change of drawing) and the rule's decision counted.

    python benchmarks/holds_noise.py [--sizes 256x144 512x288] [--seeds 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import vapoursynth as vs

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_holds import MIXED, cadence_frames, x264  # noqa: E402

from vsslomo.analysis import holds  # noqa: E402
from vsslomo.analysis.vsadapter import scan  # noqa: E402

ENCODINGS = ((30, 0.0), (30, 0.01), (33, 0.01), (36, 0.0), (36, 0.01), (40, 0.0))
OPENED = {1, 2, 12, 13, 21, 22}
"""Frames with the mouth open: it opens on a held copy in two runs and closes in one."""


def labels(truth: list[int], count: int) -> list[str]:
    starts = set(truth)
    return [
        "change" if i + 1 in starts else ("mouth" if (i in OPENED) != (i + 1 in OPENED) else "copy")
        for i in range(count - 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256x144", "512x288"])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    vs.core.num_threads = 2
    print(f"copy rule: threshold {holds.DEFAULT_THRESHOLD}, noise ceiling {holds.NOISE_CEILING}x, "
          f"spread excess {holds.SPREAD_EXCESS}x; {args.seeds} seeds x keyint 5 and 12 per row\n")
    print("| size | x264 crf | grain | copies split | mouth flaps merged | changes of drawing merged |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            frames, truth = cadence_frames(MIXED, mouth_open=OPENED, width=width, height=height)
            kinds = labels(truth, len(frames))
            for crf, grain in ENCODINGS:
                wrong = {"copy": 0, "mouth": 0, "change": 0}
                for seed in range(args.seeds):
                    for keyint in (5, 12):
                        clip = x264(frames, Path(tmp) / f"{seed}-{keyint}.mp4", crf=crf, keyint=keyint, grain=grain, seed=seed)
                        f = scan(clip).features
                        copy = holds.copies(f["peak"], f["level"])
                        for kind, merged in zip(kinds, copy):
                            wrong[kind] += int(merged != (kind == "copy"))
                total = {k: kinds.count(k) * 2 * args.seeds for k in wrong}
                print(f"| {size} | {crf} | {grain} | {wrong['copy']}/{total['copy']} | {wrong['mouth']}/{total['mouth']} "
                      f"| {wrong['change']}/{total['change']} |", flush=True)


if __name__ == "__main__":
    main()
