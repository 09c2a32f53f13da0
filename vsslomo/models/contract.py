"""The contract every interpolation network in :mod:`vsslomo.models` meets.

A loaded model is an ``nn.Module`` in eval mode, float32 on the CPU, with::

    model(img0, img1, timesteps, scale=1.0) -> (T, 3, H, W)

``img0``/``img1`` are ``(1, 3, H, W)`` RGB in [0, 1] with H and W multiples of
:func:`pad_multiple` ``(model, scale)``; ``timesteps`` is a 1-D float tensor of T values in
(0, 1); the output is clamped to [0, 1]. Facts about the loaded weights are attributes of
the module, so there is one source for each:

* ``pad_multiple`` (int): input sizes must be multiples of this at ``scale=1``;
* ``ensemble_mode`` (str): ``"tta"`` (the generic average over time reversal and mirroring,
  :mod:`vsslomo.models.ensemble`), ``"internal"`` (the network's own, reference-exact
  ensemble: ``forward``/``synthesize`` take ``ensemble=True``) or ``"none"``;
* ``summary`` (str): one line for ``vsslomo info`` (what was loaded, e.g. which training);
* ``independent_timesteps`` (bool, default false): the timesteps of one ``synthesize`` call
  share no work (no bisection midpoints), so the engine may split them into smaller calls.

**Staged models** split the forward so the engine can cache work (:class:`Staged`):
``encode`` runs once per source frame and depends on that frame alone (frame i's
features serve both pairs (i-1, i) and (i, i+1)); ``pair`` runs once per frame pair
(e.g. Super SloMo's flows) and its state serves every chunk of timesteps of that pair;
``synthesize`` renders one chunk of timesteps in one batch. For every staged model
``forward(a, b, ts, s) == synthesize(pair(a, b, encode(a, s), encode(b, s), s), ts)``.
:func:`staged` gives any model that view (plain models: no per-frame work, the pair state
is the inputs themselves).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn


@runtime_checkable
class Staged(Protocol):
    """The three stages of a model whose work can be shared between frames and pairs."""

    def encode(self, img: Tensor, scale: float = 1.0) -> Any:
        """Per-frame features of ``img`` ``(1, 3, H, W)``; must depend on this frame only."""
        ...

    def pair(self, img0: Tensor, img1: Tensor, feat0: Any, feat1: Any, scale: float = 1.0) -> Any:
        """Per-pair state for :meth:`synthesize` (may simply bundle its arguments)."""
        ...

    def synthesize(self, state: Any, timesteps: Tensor, **kwargs: Any) -> Tensor:
        """Frames ``(T, 3, H, W)`` at ``timesteps`` from a pair state."""
        ...


class _Plain:
    """The staged view of a model with no per-frame or per-pair work to share."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def encode(self, img: Tensor, scale: float = 1.0) -> None:
        return None

    def pair(self, img0: Tensor, img1: Tensor, feat0: Any, feat1: Any, scale: float = 1.0) -> tuple[Tensor, Tensor, float]:
        return img0, img1, scale

    def synthesize(self, state: tuple[Tensor, Tensor, float], timesteps: Tensor, **kwargs: Any) -> Tensor:
        img0, img1, scale = state
        return self.model(img0, img1, timesteps, scale=scale, **kwargs)


def staged(model: nn.Module) -> Staged:
    """``model`` itself when it implements :class:`Staged`, else a plain adapter."""
    if all(callable(getattr(model, name, None)) for name in ("encode", "pair", "synthesize")):
        return model  # type: ignore[return-value]
    return _Plain(model)


def size_multiple(base: int, scale: float) -> int:
    """Multiple the input sizes must have at ``scale`` for a model whose multiple at ``scale=1`` is ``base``."""
    return max(base, int(round(base / scale)))


def pad_multiple(model: nn.Module, scale: float = 1.0) -> int:
    """Multiple the input sizes must have when ``model`` runs at ``scale``."""
    return size_multiple(int(getattr(model, "pad_multiple", 32)), scale)


def check_pair(img0: Tensor, img1: Tensor, scale: float, base_multiple: int, model: str) -> None:
    """Raise :class:`ValueError` unless ``img0``/``img1`` are two ``(1, 3, H, W)`` images of a size ``model`` takes at ``scale``."""
    if img0.shape != img1.shape or img0.dim() != 4 or img0.shape[0] != 1 or img0.shape[1] != 3:
        raise ValueError(f"expected two (1, 3, H, W) images, got {tuple(img0.shape)} and {tuple(img1.shape)}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    multiple = size_multiple(base_multiple, scale)
    if img0.shape[2] % multiple or img0.shape[3] % multiple:
        raise ValueError(
            f"{model} at scale={scale} needs H and W to be multiples of {multiple}; "
            f"got {img0.shape[2]}x{img0.shape[3]} (pad the frames first)"
        )


def independent_timesteps(model: nn.Module) -> bool:
    """Whether splitting a call's timesteps costs no extra work (see the module docstring)."""
    return bool(getattr(model, "independent_timesteps", False))


def ensemble_mode(model: nn.Module) -> str:
    """``"tta"``, ``"internal"`` or ``"none"`` (see the module docstring)."""
    return str(getattr(model, "ensemble_mode", "tta"))
