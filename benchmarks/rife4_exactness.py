"""Max |ours - reference| for every RIFE 4.x version, on random weights in its exact shapes.

    .venv/bin/python benchmarks/rife4_exactness.py                  # the test's small frames
    .venv/bin/python benchmarks/rife4_exactness.py --height 720 --width 1280 --versions 4.22 4.26

The reference is vs-rife 5.7's network, called once per t as vs-rife runs it. "batched" is
ours with every t of the pair in one call (what the filter runs); "one t per call" is ours
called as the reference is called; "reference batched" is the reference itself on the batch,
against its own one-t calls: the rounding that depends on the batch size alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rife4_reference as ref  # noqa: E402  (benchmarks/ is this script's folder)

from vsslomo.models import contract  # noqa: E402
from vsslomo.models.rife4 import Rife4  # noqa: E402
from vsslomo.models.rife4_versions import ARCHITECTURES, versions  # noqa: E402

TIMESTEPS = (0.25, 0.5, 0.8)


def differences(version: str, scale: float, ensemble: bool, size: tuple[int, int] | None) -> tuple[float, float, float]:
    """(batched, one t per call, reference batched) max |difference| to the reference's one-t calls."""
    state = ref.random_state(version)
    ours = Rife4(version)
    ours.load_state_dict(state, strict=True)
    ours.eval()
    multiple = contract.pad_multiple(ours, scale)
    h, w = size or (multiple, 2 * multiple if scale == 1 else multiple)
    img0, img1 = ref.smooth_frames(2, -(-h // multiple) * multiple, -(-w // multiple) * multiple)
    net = ref.reference(version, state, scale, ensemble)
    expected = ref.frames(net, img0, img1, TIMESTEPS)
    with torch.inference_mode():
        batched = ours(img0, img1, torch.tensor(TIMESTEPS), scale, ensemble=ensemble)
        one_t = torch.cat([ours(img0, img1, [t], scale, ensemble=ensemble) for t in TIMESTEPS])
    by_batch = float("nan")  # 4.0/4.1's reference decides its restart for the whole batch
    if not ARCHITECTURES[version].rescue:
        by_batch = (ref.batch(net, img0, img1, TIMESTEPS) - expected).abs().max().item()
    expected = expected.clamp(0, 1)
    return (batched - expected).abs().max().item(), (one_t - expected).abs().max().item(), by_batch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", nargs="*", default=None, help="default: every version")
    parser.add_argument("--height", type=int, default=0, help="frame height (0: the smallest the version takes)")
    parser.add_argument("--width", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if ref.REFERENCE_DIR is None:
        parser.error(ref.MISSING)
    torch.set_num_threads(args.threads)
    size = (args.height, args.width) if args.height and args.width else None
    print(f"{'version':<12}{'scale':>6}{'ensemble':>9}{'batched':>11}{'one t/call':>12}{'ref batched':>13}")
    worst = [0.0, 0.0]
    for version in args.versions or versions():
        for scale in (1.0, 0.5):
            for ensemble in (False, True) if ARCHITECTURES[version].ensemble else (False,):
                batched, one_t, by_batch = differences(version, scale, ensemble, size)
                worst = [max(worst[0], batched), max(worst[1], one_t)]
                row = f"{version:<12}{scale:>6}{str(ensemble):>9}{batched:>11.2e}{one_t:>12.2e}{by_batch:>13.2e}"
                print(row, flush=True)
    print(f"worst: batched {worst[0]:.2e}, one t per call {worst[1]:.2e}")


if __name__ == "__main__":
    main()
