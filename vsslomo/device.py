"""Choosing the torch device and precision for inference."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Placement:
    """Where and in which precision a model runs."""

    device: str  # e.g. "cpu", "cuda:0"
    dtype: str  # "float32" or "float16"


def resolve(device: str | None, fp16: bool | None) -> Placement:
    """CUDA when available (fp16 by default there), else CPU in float32.

    Raises ``ValueError`` with a fixing hint for an unknown device, a CUDA device that
    is not there, or fp16 requested on the CPU.
    """
    cuda = torch.cuda.is_available()
    if device is None:
        device = "cuda" if cuda else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None
    if parsed.type == "cuda":
        if not cuda:
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available to torch "
                f"(torch {torch.__version__}); install a CUDA build of torch or use device='cpu'"
            )
        index = parsed.index if parsed.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        parsed = torch.device("cuda", index)
    elif parsed.type != "cpu":
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    if fp16 is None:
        fp16 = parsed.type == "cuda"
    if fp16 and parsed.type != "cuda":
        raise ValueError("fp16=True needs a CUDA device; use fp16=False on the CPU")
    return Placement(device=str(parsed), dtype="float16" if fp16 else "float32")
