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

import difflib
import importlib
import inspect
import os
import traceback
from collections.abc import Callable
from typing import Any

# Map key the C plugin reads a user-facing error message from (VapourSynth would
# otherwise prefix the message of an exception raised inside a VSFunction).
ERROR_KEY = "slomo_error"
ERROR_PREFIX = "slomo.Interpolate: "


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


# Python's True/False reach the plugin as text; other words are refused, as the filter refuses them.
_TRUE = ("1", "true")
_FALSE = ("0", "false")


def coerce(function: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn the plugin's argument values into the Python types of ``function``'s signature.

    The plugin declares every argument but the clip as ``data``, which VapourSynth fills
    with ``str(value)``: exact for any int or float, and strings reach us as typed. Here,
    and only here, each value is turned back by its parameter's annotation: ``bool``
    parameters take True/False (1/0), numeric ones a number (a non-integer factor stays a
    float so that the filter can refuse it with its hint), ``str`` ones stay strings.
    """
    signature = inspect.signature(function)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        parameter = signature.parameters.get(key)
        if parameter is None and not takes_any:
            close = difflib.get_close_matches(key, list(signature.parameters), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the arguments are {', '.join(signature.parameters)}"
            raise vs_error(f"unknown argument {key!r}{hint}")
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", errors="replace")
        annotation = str(parameter.annotation) if parameter is not None else ""
        if isinstance(value, str):
            value = _from_text(key, value, annotation)
        elif isinstance(value, int) and not isinstance(value, bool) and "bool" in _words(annotation):
            value = _from_text(key, str(value), annotation)  # a plugin built with int-typed flags
        out[key] = value
    return out


def _from_text(key: str, text: str, annotation: str) -> Any:
    """A plugin string as the type ``annotation`` names (``bool``, ``int``/``float``, else str)."""
    words = _words(annotation)
    if "bool" in words:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise vs_error(f"{key} must be True or False (1 or 0), got {text!r}")
    if "int" in words or "float" in words:
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise vs_error(f"{key} must be a number, got {text!r}; pass a number, not text or a bool") from None
    return text


def _words(annotation: str) -> list[str]:
    return annotation.replace("|", " ").split()


def vs_error(message: str) -> Exception:
    """A ``vapoursynth.Error`` carrying a user-facing ``slomo.Interpolate:`` message."""
    import vapoursynth as vs

    return vs.Error(ERROR_PREFIX + message)


def entry(**kwargs: Any) -> Any:
    """Run ``vsslomo.filter.interpolate`` with the plugin's arguments.

    Returns the output clip, or ``{ERROR_KEY: message}`` so that the plugin can raise the
    message unchanged as the ``vapoursynth.Error`` the user sees.
    """
    import vapoursynth as vs

    try:
        interpolate = importlib.import_module("vsslomo.filter").interpolate
        clip = interpolate(**coerce(interpolate, kwargs))
        if not isinstance(clip, vs.VideoNode):
            raise TypeError(f"vsslomo.filter.interpolate returned {type(clip).__name__}, not a VideoNode")
        return clip
    except vs.Error as exc:
        message = str(exc)
        if not message.startswith(ERROR_PREFIX):
            message = ERROR_PREFIX + message
        return {ERROR_KEY: message}
    except Exception as exc:  # an unexpected failure: one line, the traceback only on request
        message = f"{ERROR_PREFIX}internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
        if os.environ.get("VSSLOMO_DEBUG"):
            message += "\n" + "".join(traceback.format_exception(exc)).rstrip()
        else:
            message += " (please report it; set VSSLOMO_DEBUG=1 for the traceback)"
        return {ERROR_KEY: message}
