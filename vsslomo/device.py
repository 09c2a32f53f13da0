"""Choosing the torch device and the numeric precision for inference.

Precision names: ``"fp32"`` (full), ``"fp16"`` (CUDA: the model in half precision),
``"bf16"`` (bfloat16 autocast: convolutions in bf16, accumulations such as flow updates
and warping in float32). ``"auto"`` picks the fastest correct one: fp16 on CUDA, bf16 on
CPUs that run it natively (AVX-512 BF16 or AMX, detected at run time), fp32 elsewhere.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported on use, so that naming precisions is cheap
    import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Placement:
    """Where and in which precision a model runs."""

    device: str
    """e.g. ``"cpu"``, ``"cuda:0"``."""
    precision: str
    """``"fp32"``, ``"fp16"`` or ``"bf16"`` (never ``"auto"``)."""

    @property
    def dtype(self) -> str:
        """dtype name of the model's weights and inputs (bf16 runs float32 weights under autocast)."""
        return "float16" if self.precision == "fp16" else "float32"

    @property
    def autocast(self) -> "torch.dtype | None":
        """The autocast dtype, or ``None`` when the model runs in its own dtype."""
        import torch

        return torch.bfloat16 if self.precision == "bf16" else None


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), so bf16 is faster than fp32."""
    import torch

    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        if callable(check):
            try:
                if check():
                    return True
            except RuntimeError:
                continue
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve(device: str | None = None, fp16: bool | None = None, precision: str | None = None) -> Placement:
    """The placement for the filter's ``device``/``fp16``/``precision`` arguments.

    ``fp16=True`` means ``precision="fp16"``, ``fp16=False`` full precision; giving both
    with different meanings is an error. Raises ``ValueError`` with a fixing hint for an
    unknown device, a CUDA device that is not there, or a precision the device cannot run.
    """
    import torch

    parsed = _device(device)
    chosen = _precision(fp16, precision)
    if chosen == "auto":
        if parsed.type == "cuda":
            chosen = "fp16"
        else:
            chosen = "bf16" if cpu_has_native_bf16() else "fp32"
    if chosen == "fp16" and parsed.type != "cuda":
        raise ValueError(
            "fp16 needs a CUDA device; on the CPU use precision='bf16' (fast where the CPU has native "
            "bfloat16) or precision='fp32' (fp16=False)"
        )
    if chosen == "bf16" and parsed.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{parsed} cannot compute in bfloat16; use precision='fp16' or 'fp32'")
    return Placement(device=str(parsed), precision=chosen)


def _precision(fp16: bool | None, precision: str | None) -> str:
    if precision is not None:
        if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        precision = precision.lower()
        if fp16 is not None and precision != "auto" and (precision == "fp16") != fp16:
            raise ValueError(f"fp16={fp16} contradicts precision={precision!r}; give only one of them")
        if precision != "auto" or fp16 is None:
            return precision
    if fp16 is None:
        return "auto"
    return "fp16" if fp16 else "fp32"


def _device(device: str | None) -> "torch.device":
    import torch

    cuda = torch.cuda.is_available()
    if device is None:
        return torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None
    if parsed.type == "cpu":
        return torch.device("cpu")
    if parsed.type != "cuda":
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    if not cuda:
        raise ValueError(f"device={device!r} was requested but {cuda_missing_reason()}; or use device='cpu'")
    index = parsed.index if parsed.index is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def cuda_missing_reason() -> str:
    """Why torch sees no CUDA device, as the part of a message that says what to fix."""
    import torch

    if not torch.version.cuda:
        return f"this torch ({torch.__version__}) is a CPU-only build: install a CUDA build of torch"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from this process: unset it or name a GPU"
    if not Path("/proc/driver/nvidia/version").exists() and not Path("/dev/nvidiactl").exists():
        return (f"torch {torch.__version__} is a CUDA {torch.version.cuda} build but no NVIDIA driver is loaded "
                "(no GPU, or the driver is not installed)")
    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU: the NVIDIA driver may be "
            "older than this CUDA version needs, or the device is not visible to this process")
