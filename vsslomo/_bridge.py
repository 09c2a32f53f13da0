"""Python side of the native ``slomo`` plugin (``native/vsslomo_plugin.c``).

For every ``core.slomo.Interpolate(...)`` call the C plugin imports this module and calls
:func:`register`, which hands :func:`entry` to the plugin as a VapourSynth function by
calling the hidden ``slomo.InternalRegister`` on the current core. The plugin then calls that
function with its own argument map, so :func:`entry` receives exactly the arguments the
user passed, as keyword arguments.

Nothing here is imported by ``import vsslomo``; ``vsslomo.filter`` (torch, models) is only
imported when the filter is actually called.
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any

# Map key the C plugin reads a user-facing error message from (VapourSynth would
# otherwise prefix the message of an exception raised inside a VSFunction).
ERROR_KEY = "slomo_error"
ERROR_PREFIX = "slomo.Interpolate: "

# Arguments VapourSynth can only carry as int that the Python API takes as bool.
_BOOL_ARGS = ("fp16", "sc", "ensemble", "dedup")


def register() -> None:
    """Register :func:`entry` with the plugin for the Interpolate call in progress."""
    try:
        import vapoursynth as vs
    except ImportError as exc:  # a host that embeds Python without VapourSynth's bindings
        raise RuntimeError(
            f"{ERROR_PREFIX}this process's Python cannot import the vapoursynth module ({exc}); "
            "use slomo.Interpolate from a VapourSynth Python script (vspipe script.vpy, or Python)"
        ) from exc
    vs.core.slomo.InternalRegister(func=entry)


def _normalise(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn VapourSynth map values into the Python types ``interpolate`` expects."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8")
        if key in _BOOL_ARGS and isinstance(value, int):
            value = bool(value)
        out[key] = value
    return out


def entry(**kwargs: Any) -> Any:
    """Run ``vsslomo.filter.interpolate`` with the plugin's arguments.

    Returns the output clip, or ``{ERROR_KEY: message}`` so that the plugin can raise the
    message unchanged as the ``vapoursynth.Error`` the user sees.
    """
    import vapoursynth as vs

    try:
        interpolate = importlib.import_module("vsslomo.filter").interpolate
        clip = interpolate(**_normalise(kwargs))
        if not isinstance(clip, vs.VideoNode):
            raise TypeError(f"vsslomo.filter.interpolate returned {type(clip).__name__}, not a VideoNode")
        return clip
    except vs.Error as exc:
        message = str(exc)
        if not message.startswith(ERROR_PREFIX):
            message = ERROR_PREFIX + message
        return {ERROR_KEY: message}
    except Exception as exc:  # an unexpected failure: keep the traceback for the report
        details = "".join(traceback.format_exception(exc)).rstrip()
        return {ERROR_KEY: f"{ERROR_PREFIX}internal error: {type(exc).__name__}: {exc}\n{details}"}
