"""Wall time of one render on 1 worker against 2 workers (and, optionally, Ray actors and the
single-process path), on the same file, interleaved in one run; checks the outputs are
bit-identical.

The input is spliced from real footage with real cuts (opencv-doc's vtest, tree, box and
cup, see ``footage.py``), scaled to ``--width``, with a tone as audio. Each configuration
is the full command as a user runs it (``python -m vsslomo render ... --workers N``), so
the times include starting the workers and loading the model in each, the analysis pass
and the join.

    python benchmarks/cluster.py                        # 1 vs 2 local workers
    python benchmarks/cluster.py --single --ray        # also one process, and 2 Ray actors
    python benchmarks/cluster.py --width 640 --seconds 8 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vsslomo.render.ffmpeg import find_ffmpeg  # noqa: E402

from footage import check_not_reserved, opencv_doc_videos  # noqa: E402


def splice(videos: list[Path], out: Path, width: int, seconds: float, rate: int) -> None:
    """``seconds`` of footage from each video, scaled to ``width``, joined with hard cuts."""
    ffmpeg = find_ffmpeg()
    inputs, parts = [], []
    for i, v in enumerate(videos):
        inputs += ["-i", str(v)]
        parts.append(f"[{i}:v]fps={rate},scale={width}:-2,setsar=1,trim=start_frame=10:duration={seconds},setpts=PTS-STARTPTS[v{i}]")
    graph = ";".join(parts) + ";" + "".join(f"[v{i}]" for i in range(len(videos))) + f"concat=n={len(videos)}:v=1[v]"
    total = seconds * len(videos)
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "fatal", "-y", *inputs, "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={total}",
           "-filter_complex", graph, "-map", "[v]", "-map", f"{len(videos)}:a", "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-c:a", "flac", str(out)]
    subprocess.run(cmd, check=True)


def decoded_hash(path: Path) -> str:
    raw = subprocess.run([find_ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo", "-"], check=True, capture_output=True).stdout
    return hashlib.sha1(raw).hexdigest()


def run(name: str, src: Path, work: Path, extra: list[str], common: list[str]) -> tuple[float, str]:
    out = work / f"{name}.mkv"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "vsslomo", "render", str(src), str(out), "-y", "-q", *common, *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{name} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    digest = decoded_hash(out)
    out.unlink()
    return wall, digest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="*", type=Path, help="videos to splice (default: opencv-doc's four)")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--seconds", type=float, default=4.0, help="seconds taken from each video")
    p.add_argument("--rate", type=int, default=12, help="frame rate of the spliced input")
    p.add_argument("--model", default="rife")
    p.add_argument("--factor", default="2")
    p.add_argument("--chunk-frames", type=int, default=24)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--single", action="store_true", help="also the single-process render (no chunks)")
    p.add_argument("--ray", action="store_true", help="also 2 Ray actors on a local cluster")
    args = p.parse_args()
    videos = args.videos or opencv_doc_videos()
    check_not_reserved(videos)
    configs: list[tuple[str, list[str]]] = [("1 worker", ["--workers", "1"]), ("2 workers", ["--workers", "2"])]
    if args.single:
        configs.insert(0, ("single process", []))
    if args.ray:
        configs.append(("2 Ray actors", ["--ray", "--workers", "2"]))
    common = ["--model", args.model, "--factor", args.factor, "--device", "cpu", "--codec", "ffv1", "--chunk-frames", str(args.chunk_frames)]
    with tempfile.TemporaryDirectory(prefix="vsslomo-cluster-") as tmp:
        work = Path(tmp)
        src = work / "input.mkv"
        splice(videos, src, args.width, args.seconds, args.rate)
        frames = int(round(args.seconds * args.rate)) * len(videos)
        print(f"input: {len(videos)} shots of {args.seconds:g} s at {args.rate} fps, width {args.width}, {frames} frames; "
              f"{args.model} x{args.factor} on the CPU ({os.cpu_count()} cores), chunks of {args.chunk_frames} source frames", flush=True)
        times: dict[str, list[float]] = {name: [] for name, _ in configs}
        digests: dict[str, set[str]] = {name: set() for name, _ in configs}
        for _ in range(args.repeats):
            for name, extra in configs:  # interleaved, so drifting load hits every configuration alike
                wall, digest = run(name.replace(" ", "-"), src, work, extra, common)
                print(f"  {name}: {wall:.1f} s", flush=True)
                times[name].append(wall)
                digests[name].add(digest)
    base = statistics.median(times["1 worker"])
    reference = next(iter(digests["1 worker"]))
    print(f"{'configuration':<16} {'median wall s':>13} {'vs 1 worker':>12}  bits")
    for name, _ in configs:
        med = statistics.median(times[name])
        same = "identical" if digests[name] == {reference} else "DIFFERENT"
        print(f"{name:<16} {med:>13.1f} {base / med:>11.2f}x  {same}")


if __name__ == "__main__":
    main()
