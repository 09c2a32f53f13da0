"""Training checkpoints: the public Super SloMo layout plus our metadata, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..models.superslomo import SuperSloMo


def cpu_state_dicts(model: SuperSloMo) -> dict[str, Any]:
    """The two U-Nets' state dicts under the public key names, detached, on the CPU."""
    return {k: {n: t.detach().cpu() for n, t in v.items()} for k, v in model.checkpoint_dict().items()}


def checkpoint_payload(model: SuperSloMo, **meta: Any) -> dict[str, Any]:
    """``state_dictFC``/``state_dictAT`` (what the loader reads) plus ``widths`` and ``meta``.

    Everything must be plain data (tensors, numbers, strings, lists, dicts) so that
    ``torch.load(weights_only=True)`` reads it without allow-listing.
    """
    payload: dict[str, Any] = cpu_state_dicts(model)
    payload["Detail"] = "Super SloMo trained by vsslomo"
    payload["widths"] = {"flow": list(model.flow_net.widths), "refine": list(model.refine_net.widths)}
    payload.update(meta)
    return payload


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
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def export_checkpoint(src: Path, dst: Path, half: bool = True, keep: tuple[str, ...] = ("epoch", "val", "widths",
                      "train_seconds", "timestamp", "Detail", "history")) -> dict[str, Any]:
    """Write an inference-only copy of a training checkpoint: the two U-Nets (fp16 by default,
    the loader casts back to float32) plus the metadata keys in ``keep``; no optimiser state."""
    state = load_training_state(src)
    out: dict[str, Any] = {}
    for key in ("state_dictFC", "state_dictAT"):
        out[key] = {n: (t.half() if half and t.is_floating_point() else t).contiguous() for n, t in state[key].items()}
    out.update({k: state[k] for k in keep if k in state})
    save_atomic(out, dst)
    return out
