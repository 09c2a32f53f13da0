"""vsslomo: neural frame interpolation (RIFE, Super SloMo, IFRNet) as a VapourSynth filter.

In a ``.vpy`` script::

    clip = core.slomo.Interpolate(clip, factor=4)      # native plugin namespace
    clip = vsslomo.interpolate(clip, fps_num=60000, fps_den=1001)  # same filter

Importing this package is cheap and has no side effects: ``vsslomo.interpolate`` (and with
it VapourSynth and torch) is imported on first use, so the training code never pulls
VapourSynth in. ``help(vsslomo.interpolate)`` shows the filter's real signature.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["interpolate", "backends", "__version__"]

if TYPE_CHECKING:
    from . import backends
    from .filter import interpolate

_LAZY = {"interpolate": ("vsslomo.filter", "interpolate"), "backends": ("vsslomo.backends", None)}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'vsslomo' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
