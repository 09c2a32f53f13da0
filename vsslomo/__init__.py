"""vsslomo: neural frame interpolation (RIFE, Super SloMo) as a VapourSynth filter.

In a ``.vpy`` script::

    clip = core.slomo.Interpolate(clip, factor=4)      # native plugin namespace
    clip = vsslomo.interpolate(clip, fps_num=60000, fps_den=1001)  # same filter

Importing this package is cheap and has no side effects: VapourSynth and torch are
only imported when the filter is used, so the training code never pulls VapourSynth in.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["interpolate", "__version__"]


def interpolate(clip: Any = None, *args: Any, **kwargs: Any) -> Any:
    """Interpolate ``clip``; see :func:`vsslomo.filter.interpolate` for the arguments."""
    from .filter import interpolate as _interpolate

    return _interpolate(clip, *args, **kwargs)
