"""What IFRNet's staging saves, and IFRNet-S against our RIFE HDv3: seconds per synthesized frame.

Part 1, for each size at ``--factor`` (default 4x: t = 1/4, 1/2, 3/4 per pair) on a stream of
``--pairs`` consecutive pairs, four ways to run the same network:

* ``pair-enc, per-t``: the encoder runs on both frames of every pair, the decoders once per t
  (how the reference's inference function is used);
* ``pair-enc, batch``: encoder per pair, all t of a pair in one decoder batch;
* ``frame-enc, per-t``: each frame's pyramid computed once (the per-frame cache), decoders per t;
* ``frame-enc, batch``: both (what the staged API gives the engine).

Part 2: IFRNet-S (staged, as the engine runs it; and as a plain per-pair forward) against our
RIFE HDv3 at 2x and 4x, same frames. RIFE needs multiples of 32, so 720 lines are padded to 736
for it, as the filter does; IFRNet runs at 1280x720 (multiples of 16). IFRNet keeps weights and
features channels-last (NHWC) by default; the "NCHW layout" row is IFRNet-S in RIFE's layout.

The weights are random (the cost does not depend on them: no data-dependent control flow), the
t plane is used, i.e. GoPro-style or our weights; ``--t-blind`` adds IFRNet-S with t-blind
(Vimeo90K-style) weights, which serve 4x by bisection. Methods are interleaved, in a rotating
order, ``--rounds`` times; the table gives the median::

    nice -n 10 .venv/bin/python benchmarks/ifrnet_cost.py                # 1280x720, CPU, 2 threads
    .venv/bin/python benchmarks/ifrnet_cost.py --sizes s --rounds 5 --t-blind
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsslomo.models.ifrnet import IFRNet, frame_mean  # noqa: E402
from vsslomo.models.rife import load_rife  # noqa: E402


def frames(n: int, height: int, width: int, seed: int = 0) -> list[torch.Tensor]:
    """``n`` smooth random RGB frames (content does not change the cost)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, height // 16, width // 16, generator=g)
    full = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
    return [full[i : i + 1].contiguous() for i in range(n)]


def timesteps(factor: int) -> torch.Tensor:
    return torch.tensor([k / factor for k in range(1, factor)])


# --- the four ways through IFRNet -------------------------------------------------------------


def run_ifrnet(model: IFRNet, stream: list[torch.Tensor], ts: torch.Tensor, cache: bool, batch: bool) -> None:
    """Synthesize every pair of ``stream`` at ``ts``; ``cache``: one pyramid per frame; ``batch``: one decoder batch."""
    pyramids = [model.encode(f) for f in stream] if cache else None
    for i in range(len(stream) - 1):
        a, b = stream[i], stream[i + 1]
        if cache:
            p0, p1 = pyramids[i], pyramids[i + 1]
        else:
            p0, p1 = model.pyramid(a - frame_mean(a)), model.pyramid(b - frame_mean(b))
        state = model.pair(a, b, p0, p1)
        if batch:
            model.synthesize(state, ts)
        else:
            for t in ts:
                model.synthesize(state, t.view(1))


def run_staged(model: IFRNet, stream: list[torch.Tensor], ts: torch.Tensor) -> None:
    run_ifrnet(model, stream, ts, cache=True, batch=True)


def run_forward(model: torch.nn.Module, stream: list[torch.Tensor], ts: torch.Tensor) -> None:
    for i in range(len(stream) - 1):
        model(stream[i], stream[i + 1], ts)


def arithmetic(size: str, height: int, width: int) -> tuple[float, float]:
    """(encoder GMAC per frame, decoders GMAC per t) at ``height``x``width``, counted on the conv layers.

    Counted on a 64x64 run and scaled by the pixel count (every layer's size is proportional).
    """
    model = IFRNet(size).eval()
    macs = {"encoder": 0, "decoders": 0}

    def count(name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            grid = inputs[0] if isinstance(module, torch.nn.ConvTranspose2d) else output
            pixels = grid.shape[0] * grid.shape[2] * grid.shape[3]
            kernel = module.kernel_size[0] * module.kernel_size[1]
            macs["encoder" if name.startswith("encoder") else "decoders"] += pixels * module.in_channels * module.out_channels * kernel

        return hook

    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.register_forward_hook(count(name))
    tiny = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        model(tiny, tiny, [0.5])  # two encoder runs, one decoder run
    scale = height * width / 64**2 / 1e9
    return macs["encoder"] / 2 * scale, macs["decoders"] * scale


# --- timing -----------------------------------------------------------------------------------------


def interleaved(methods: dict[str, Callable[[], None]], rounds: int, warmup: bool = True) -> dict[str, list[float]]:
    """Seconds per call of each method, run in a rotating order ``rounds`` times (after one warm-up each)."""
    names = list(methods)
    with torch.inference_mode():
        for name in names if warmup else ():
            methods[name]()
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                methods[name]()
                times[name].append(time.perf_counter() - start)
    return times


def table(title: str, times: dict[str, list[float]], per: int, baseline: str) -> None:
    """Median seconds per synthesized frame (``per`` frames a call) and the speed-up over ``baseline``."""
    base = statistics.median(times[baseline]) / per
    print(f"\n{title}")
    print(f"  {'method':<34} {'s / frame':>10} {'vs ' + baseline:>24}")
    for name, values in times.items():
        sec = statistics.median(values) / per
        print(f"  {name:<34} {sec:>10.3f} {base / sec:>23.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--pairs", type=int, default=2, help="consecutive pairs per timed call")
    parser.add_argument("--factor", type=int, default=4, help="factor of part 1")
    parser.add_argument("--sizes", default="s,base,l", help="IFRNet sizes of part 1 (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-warmup", action="store_true", help="time from the first call (halves a 1-round run)")
    parser.add_argument("--rife-factors", default="2,4", help="factors of part 2 (comma-separated)")
    parser.add_argument("--t-blind", action="store_true", help="also time t-blind (Vimeo90K-style) IFRNet-S in part 2")
    parser.add_argument("--skip-cost", action="store_true", help="only part 2")
    parser.add_argument("--skip-rife", action="store_true", help="only part 1")
    args = parser.parse_args(argv)
    if args.width % 16 or args.height % 16:
        parser.error("--width and --height must be multiples of 16")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    stream = frames(args.pairs + 1, args.height, args.width)
    print(f"{args.width}x{args.height}, CPU, {args.threads} threads, {args.pairs} pairs per call, torch {torch.__version__}")

    print("\narithmetic (conv layers), GMAC")
    for size in args.sizes.split(","):
        enc, dec = arithmetic(size, args.height, args.width)
        n = args.factor - 1
        saved = (2 * enc + n * dec) / (enc + n * dec)
        print(f"  {size:<5} encoder {enc:6.1f} per frame, decoders {dec:6.1f} per t; "
              f"at {args.factor}x the per-frame encoder saves {100 * (1 - 1 / saved):.1f}%")

    if not args.skip_cost:
        ts = timesteps(args.factor)
        per = args.pairs * len(ts)
        for size in args.sizes.split(","):
            model = IFRNet(size).eval()
            methods = {
                f"{enc}, {dec}": (lambda c=cache, b=batch: run_ifrnet(model, stream, ts, c, b))
                for enc, cache in (("pair-enc", False), ("frame-enc", True))
                for dec, batch in (("per-t", False), ("batch", True))
            }
            table(f"{model.variant.name} at {args.factor}x", interleaved(methods, args.rounds, not args.no_warmup), per, "pair-enc, per-t")

    if not args.skip_rife:
        rife = load_rife()
        pad_h = -(-args.height // 32) * 32 - args.height
        pad_w = -(-args.width // 32) * 32 - args.width
        padded = [F.pad(f, (0, pad_w, 0, pad_h), mode="replicate") for f in stream]
        ifr = IFRNet("s").eval()
        nchw = IFRNet("s", channels_last=False).eval()
        blind = IFRNet("s", takes_t=False).eval()
        for factor in (int(f) for f in args.rife_factors.split(",")):
            ts = timesteps(factor)
            methods = {
                "RIFE HDv3 (padded to /32)": lambda ts=ts: run_forward(rife, padded, ts),
                "IFRNet-S staged": lambda ts=ts: run_staged(ifr, stream, ts),
                "IFRNet-S plain forward per pair": lambda ts=ts: run_forward(ifr, stream, ts),
                "IFRNet-S staged, NCHW layout": lambda ts=ts: run_staged(nchw, stream, ts),
            }
            if args.t_blind:
                methods["IFRNet-S t-blind staged"] = lambda ts=ts: run_staged(blind, stream, ts)
            table(f"IFRNet-S vs RIFE at {factor}x", interleaved(methods, args.rounds, not args.no_warmup), args.pairs * len(ts), "RIFE HDv3 (padded to /32)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
