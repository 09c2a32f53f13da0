"""The RIFE 4.x reference network (the PyPI ``vsrife`` 5.7 wheel), random weights and frames.

Used by ``tests/test_rife4.py`` and ``benchmarks/rife4_speed.py``; vsslomo itself never
imports vsrife (MIT licensed, a test-only dependency: ``pip install --no-deps vsrife==5.7.0``).
The wheel's ``IFNet_HDv3_v4_*.py`` files are loaded by path under a package name of our own,
so the wheel's ``__init__`` (which wants CUDA and VapourSynth plugins) never runs.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

PACKAGE = "_vsrife_reference"


def _locate() -> Path | None:
    spec = importlib.util.find_spec("vsrife")  # locates the wheel without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0])
    return folder if (folder / "IFNet_HDv3_v4_0.py").is_file() else None


REFERENCE_DIR = _locate()  # at import: before a test puts a vs-rife of its own on sys.path
MISSING = "the RIFE 4.x reference needs the vsrife wheel: pip install --no-deps vsrife==5.7.0 (the 'test' extra)"


def reference_versions() -> set[str]:
    """The versions the wheel has network files for (``IFNet_HDv3_v4_22_lite.py`` -> ``4.22.lite``)."""
    return {p.stem.removeprefix("IFNet_HDv3_v").replace("_", ".") for p in _folder().glob("IFNet_HDv3_v4_*.py")}


def network_module(version: str) -> types.ModuleType:
    """The reference ``IFNet_HDv3_v4_*`` module of ``version`` (its ``IFNet`` class)."""
    folder = _folder()
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(folder)]  # so that `from .warplayer import warp` resolves
        sys.modules[PACKAGE] = package
    stem = "IFNet_HDv3_v" + version.replace(".", "_")
    name = f"{PACKAGE}.{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, folder / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def reference(
    version: str, state: dict[str, torch.Tensor], scale: float = 1.0, ensemble: bool = False
) -> torch.nn.Module:
    """The reference IFNet with ``state``, built as vs-rife builds it (on meta, then assigned)."""
    with torch.device("meta"):
        net = network_module(version).IFNet(scale, ensemble)
    net.load_state_dict(state, strict=True, assign=True)
    return net.eval()


def has_head(version: str) -> bool:
    """Whether the version's reference takes head features (4.7 and later)."""
    return any(k.startswith("encode.") for k in reference_shapes(version))


def warp_grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """vs-rife's ``tenFlow_div`` and ``backwarp_tenGrid`` for ``h x w`` frames."""
    flow_div = torch.tensor([(w - 1.0) / 2.0, (h - 1.0) / 2.0])
    xs = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(-1, -1, h, -1)
    ys = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(-1, -1, -1, w)
    return flow_div, torch.cat([xs, ys], 1)


def frames(net, img0, img1, timesteps, feats=None) -> torch.Tensor:
    """The reference's frames at ``timesteps``, one call per t as vs-rife runs it.

    ``feats``: the two frames' head features (computed here when the version has a head
    and none are given; vs-rife computes them once per frame).
    """
    h, w = img0.shape[2:]
    flow_div, grid = warp_grid(h, w)
    with torch.inference_mode():
        if feats is None:
            feats = (net.encode(img0), net.encode(img1)) if hasattr(net, "encode") else ()
        return torch.cat([net(img0, img1, torch.full((1, 1, h, w), t), flow_div, grid, *feats) for t in timesteps])


def batch(net, img0, img1, timesteps) -> torch.Tensor:
    """The reference network called once on the batch of all ``timesteps``."""
    n, (h, w) = len(timesteps), img0.shape[2:]
    flow_div, grid = warp_grid(h, w)
    plane = torch.tensor(timesteps).view(n, 1, 1, 1).expand(n, 1, h, w).contiguous()
    with torch.inference_mode():
        feats = [net.encode(x).expand(n, -1, -1, -1) for x in (img0, img1)] if hasattr(net, "encode") else []
        return net(img0.expand(n, -1, -1, -1), img1.expand(n, -1, -1, -1), plane, flow_div, grid, *feats)


@functools.cache
def reference_shapes(version: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the reference network's parameters."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in network_module(version).IFNet(1.0, False).state_dict().items()}


def random_state(version: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in ``version``'s exact names and shapes.

    Uniform in +-1/sqrt(fan-in) as torch's default init, with the output layers doubled so
    that flows reach several pixels (not for the transposed-convolution output stage of 4.0 to
    4.4, which already scales its flows twice as far), the plain convolution bodies of 4.0 to
    4.4 given the gain that keeps their signal over eight layers (He's for LeakyReLU(0.2); with
    the default init it fades to nothing), ResConv scales in [0.5, 1.5] and PReLU slopes in
    [0.1, 0.4].
    """
    shapes = reference_shapes(version)
    sizes = [math.prod(shape) for shape in shapes.values()]
    values = torch.rand(sum(sizes), generator=torch.Generator().manual_seed(seed)).split(sizes)
    state = {}
    for (name, shape), u in zip(shapes.items(), values):
        layer = name.rsplit(".", 1)[0]
        if name.endswith(".beta"):
            state[name] = (0.5 + u).view(shape)
        elif len(shape) == 1 and name != f"{layer}.bias":  # PReLU slopes
            state[name] = (0.1 + 0.3 * u).view(shape)
        else:
            bound = 1 / math.sqrt(math.prod(shapes[f"{layer}.weight"][1:]))
            if ".lastconv.0." in name:  # the PixelShuffle output stage (4.5 and later)
                bound *= 2
            elif re.fullmatch(r"block\d\.convblock\.\d\.0\.(weight|bias)", name):
                bound *= 2.4
            state[name] = ((2 * u - 1) * bound).view(shape)
    return state


def _folder() -> Path:
    if REFERENCE_DIR is None:
        raise RuntimeError(MISSING)
    return REFERENCE_DIR


def smooth_frames(n: int, h: int, w: int, seed: int = 1) -> list[torch.Tensor]:
    """``n`` different smooth random RGB frames ``(1, 3, h, w)`` in [0, 1] (noise would only
    amplify rounding in the warps)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(1, h // 8), max(1, w // 8), generator=g)
    x = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return [x[i : i + 1].contiguous() for i in range(n)]
