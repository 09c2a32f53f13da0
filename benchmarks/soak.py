"""Soak: a long clip through the filter, many threads asking out of order; memory must stay flat.

    .venv/bin/python benchmarks/soak.py                     # 20,000 output frames at 64x48, RIFE
    .venv/bin/python benchmarks/soak.py --frames 4000 --model superslomo --factor 4

Renders every output frame of ``vsslomo.interpolate`` on a clip of the built-in scene with
``--threads`` VapourSynth threads and ``--requests`` frames in flight, asked in a shuffled
order inside a sliding window (as a player seeking around, or several consumers, would), and
prints the resident memory (RSS) at 10 % and at 100 % of the frames, the peak, and whether the
output is bit-identical to a second run with one thread asking in order.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections import deque
from pathlib import Path

import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vsslomo  # noqa: E402
from vsslomo.demo import demo_clip  # noqa: E402

core = vs.core


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def digest(frame: vs.VideoFrame) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for p in range(frame.format.num_planes):
        h.update(bytes(frame[p]))
    return h.digest()


def render(out: vs.VideoNode, requests: int, shuffle: bool, report: bool) -> list[bytes]:
    """Every frame's digest; with ``shuffle`` the frames of each window are asked in random order."""
    rng = random.Random(1)
    total = out.num_frames
    digests: list[bytes | None] = [None] * total
    order = list(range(total))
    if shuffle:
        window = max(2, 4 * requests)
        for start in range(0, total, window):
            chunk = order[start : start + window]
            rng.shuffle(chunk)
            order[start : start + window] = chunk
    pending: deque = deque()
    marks = {max(1, total // 10): "10%", total: "100%"}
    done = 0
    start = time.perf_counter()

    def collect_oldest() -> None:
        nonlocal done
        m, future = pending.popleft()
        digests[m] = digest(future.result())
        done += 1
        if report and done in marks:
            rss, peak = rss_mib()
            print(f"  {marks[done]:>4} ({done} frames, {time.perf_counter() - start:.0f} s): RSS {rss:.0f} MiB, peak {peak:.0f} MiB", flush=True)

    for n in order:
        pending.append((n, out.get_frame_async(n)))
        while len(pending) >= requests:
            collect_oldest()
    while pending:
        collect_oldest()
    return [d for d in digests if d is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20000, help="output frames (default 20000)")
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--model", default="rife")
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--threads", type=int, default=8, help="VapourSynth threads of the soak run (default 8)")
    parser.add_argument("--requests", type=int, default=16, help="frames in flight (default 16)")
    parser.add_argument("--no-compare", action="store_true", help="skip the one-thread comparison run")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    source_frames = -(-args.frames // args.factor)
    clip = core.resize.Bicubic(demo_clip(width, height, source_frames, cut_at=source_frames // 2), format=vs.YUV420P8, matrix_s="709")

    core.num_threads = args.threads
    out = vsslomo.interpolate(clip, factor=args.factor, model=args.model, device="cpu")
    print(f"soak: {out.num_frames} output frames {width}x{height}, {args.model}, factor {args.factor}, "
          f"{args.threads} VapourSynth threads, {args.requests} requests in flight, shuffled windows", flush=True)
    soaked = render(out, args.requests, shuffle=True, report=True)
    if args.no_compare:
        return 0
    core.num_threads = 1
    again = vsslomo.interpolate(clip, factor=args.factor, model=args.model, device="cpu")
    print("one thread, in order ...", flush=True)
    plain = render(again, 1, shuffle=False, report=False)
    same = sum(a == b for a, b in zip(soaked, plain))
    print(f"bit-identical to one thread in order: {same} of {len(plain)} frames{' (all)' if same == len(plain) else ''}")
    return 0 if same == len(plain) else 1


if __name__ == "__main__":
    sys.exit(main())
