"""Training checkpoints: written atomically, read safely, in each family's public layout.

A checkpoint holds the weights that are validated and used for inference in the family's
public key layout (with ``--ema``: the weight average), the raw weights beside them for
``--resume``, and our metadata (epoch, optimiser and schedule state, history, validation,
the options ``args`` of the run). :func:`export_checkpoint` writes the inference-only copy
that ships: the public weights in float16 plus the metadata that says how they were made.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import TrainError
from .families import FAMILIES, Family, half

EXPORT_KEEP = ("epoch", "val", "train_seconds", "timestamp", "history", "args", "family", "samples_seen")
"""Metadata kept in exported checkpoints (no optimiser state)."""


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` with ``torch.save`` to a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; checkpoints are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_training_state(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomic` (``weights_only``)."""
    from ..models.checkpoint import CheckpointError, read_checkpoint

    try:
        data = read_checkpoint(path, "training checkpoint")
    except CheckpointError as exc:
        raise TrainError(str(exc)) from None
    if not isinstance(data, dict):
        raise TrainError(f"training checkpoint {path} holds a {type(data).__name__}, not a checkpoint dict")
    return data


def family_of(payload: dict[str, Any]) -> str:
    """The family a checkpoint belongs to (older Super SloMo checkpoints carry no name)."""
    inner = payload.get("meta")
    meta: dict[str, Any] = inner if isinstance(inner, dict) else payload
    name = meta.get("family")
    if isinstance(name, str) and name in FAMILIES:
        return name
    return "superslomo" if "state_dictFC" in payload else "ifrnet-s"


def checkpoint_payload(family: Family, model: nn.Module, average: nn.Module | None, meta: dict[str, Any]) -> dict[str, Any]:
    """The payload of a training checkpoint: ``average``'s weights in the public keys (``model``'s
    without an average), ``model``'s raw weights beside them when there is an average."""
    public = family.inference_state(average if average is not None else model)
    raw = family.inference_state(model) if average is not None else None
    return family.pack(public, raw, dict(meta, family=family.name))


def restore(family: Family, payload: dict[str, Any], model: nn.Module, average: nn.Module | None) -> dict[str, Any]:
    """Load a training checkpoint into ``model`` (raw weights) and ``average`` (EMA); returns the metadata.

    A checkpoint saved without an average has only public weights: both start from those.
    """
    public, raw, meta = family.unpack(payload)
    family.load_inference_state(model, raw if raw is not None else public)
    if average is not None:
        family.load_inference_state(average, public)
    return meta


def export_checkpoint(src: Path, dst: Path, fp16: bool = True, keep: tuple[str, ...] = EXPORT_KEEP) -> dict[str, Any]:
    """Write an inference-only copy of a training checkpoint: the public weights (float16 by
    default; the loaders cast back to float32) plus the metadata keys in ``keep``."""
    state = load_training_state(src)
    family = FAMILIES[family_of(state)]
    public, _, meta = family.unpack(state)
    kept = {k: meta[k] for k in keep if k in meta}
    if family.name == "superslomo":
        kept.update({k: meta[k] for k in ("widths", "Detail") if k in meta})
    out = family.pack(half(public) if fp16 else public, None, kept)
    save_atomic(out, dst)
    return out
