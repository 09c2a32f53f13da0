"""Safe, strict reading of weight files, shared by every model family's loader.

One place decides what a weights file may contain and how a bad one is reported:

* files are read with ``torch.load(weights_only=True)`` (only tensors and plain containers;
  ``allow`` names extra classes a family's public checkpoints need, e.g. ``datetime``);
* every failure is a :class:`CheckpointError` (a ``ValueError``) with one line that says
  what the file is and what was expected, never torch's advice to turn the safe loader off;
* :func:`load_strict` loads a state dict with ``strict=True`` and lists, briefly, the
  missing, unexpected and mis-shaped tensors.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

_MAX_LISTED = 4


class CheckpointError(ValueError):
    """A weights file that cannot be used; the message is one line, fit for the user."""


def check_file(path: Path | str, what: str) -> Path:
    """``path`` as a :class:`Path` if it names a readable file; :class:`CheckpointError` otherwise."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise CheckpointError(f"{what} {p} is a directory; pass the weights file inside it")
    if not p.exists():
        raise CheckpointError(f"{what} {p} does not exist; pass the path of a weights file")
    if not p.is_file():
        raise CheckpointError(f"{what} {p} is not a regular file")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{what} {p} is empty (0 bytes); the file is damaged or was not fully copied")
    return p


def read_checkpoint(path: Path | str, what: str, allow: Iterable[type] = ()) -> Any:
    """Read a weights file safely; ``what`` names it in messages (e.g. ``"RIFE checkpoint"``)."""
    p = check_file(path, what)
    try:
        with torch.serialization.safe_globals(list(allow)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before failing
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message suggests weights_only=False: never pass that on.
        if "Unsupported global" in str(exc) or "GLOBAL" in str(exc):
            raise CheckpointError(
                f"{what} {p} contains Python objects other than tensors, which vsslomo does not load "
                "for safety; use a plain state dict of tensors (re-save it with torch.save(model.state_dict()))"
            ) from None
        raise CheckpointError(f"{what} {p} is not a PyTorch weights file (it cannot be unpickled)") from None
    except (EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{what} {p} is truncated or damaged ({type(exc).__name__}); copy the file again") from None
    except RuntimeError as exc:
        if "zip archive" in str(exc) or "PytorchStreamReader" in str(exc):
            raise CheckpointError(f"{what} {p} is truncated or damaged (a broken archive); copy the file again") from None
        raise CheckpointError(f"{what} {p} cannot be read as PyTorch weights: {_gist(exc)}") from None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{what} {p} cannot be read as PyTorch weights: {_gist(exc)}") from None


def tensor_dict(obj: Any, what: str, path: Path | str, key: str | None = None) -> dict[str, Tensor]:
    """``obj`` (or ``obj[key]``) as a ``{name: tensor}`` state dict, ``module.`` prefixes removed."""
    where = f"{what} {path}"
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            raise CheckpointError(f"{where} has no '{key}' entry; {_describe(obj)}")
        obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{where} holds {_describe(obj)}, expected a state dict of named tensors")
    state: dict[str, Tensor] = {}
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, Tensor):
            raise CheckpointError(f"{where} is not a state dict of named tensors (entry {name!r} is {type(value).__name__})")
        state[name] = value
    if not state:
        raise CheckpointError(f"{where} holds no tensors")
    return strip_module_prefix(state)


def strip_module_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop the ``module.`` prefix that (Distributed)DataParallel training adds, if every key has it."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def shape_mismatches(module: nn.Module, state: Mapping[str, Tensor]) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, mis-shaped) parameter names of ``state`` against ``module``."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    return missing, unexpected, shaped


def load_strict(module: nn.Module, state: Mapping[str, Tensor], what: str, path: Path | str) -> None:
    """``module.load_state_dict(state, strict=True)`` with a short, complete :class:`CheckpointError`."""
    missing, unexpected, shaped = shape_mismatches(module, state)
    problems = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shaped)):
        if names:
            listed = ", ".join(names[:_MAX_LISTED]) + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")
            problems.append(f"{label}: {listed}")
    if problems:
        raise CheckpointError(f"{what} {path} does not fit the network ({'; '.join(problems)})")
    for name, value in state.items():
        # numpy, single-threaded: torch's threaded reductions pay thread start-up per tensor.
        if value.is_floating_point() and not np.isfinite(value.detach().float().numpy()).all():
            raise CheckpointError(f"{what} {path} has non-finite values (NaN or inf) in {name}; the file is damaged")
    # assign: the loaded tensors become the parameters (no copy); the loader casts after.
    module.load_state_dict(state, strict=True, assign=True)


def _gist(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _describe(obj: Any) -> str:
    if isinstance(obj, Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    if isinstance(obj, Mapping):
        keys = [str(k) for k in list(obj)[:_MAX_LISTED]]
        return f"a dict with keys {', '.join(keys)}{' ...' if len(obj) > _MAX_LISTED else ''}" if keys else "an empty dict"
    return f"a {type(obj).__name__}"
