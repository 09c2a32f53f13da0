"""Colour heuristics in one place: the matrix and range a clip's frames are in (pure Python).

Frame props name them (``_Matrix``, ``_Range``; ``_ColorRange`` from plugins older than R74).
When they are missing or unusable the usual defaults apply, as players and encoders assume:
BT.709 for HD (wider than 1024 or taller than 576), BT.601 (SMPTE 170M) for SD, limited range
for YUV and full range for RGB and grey.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import props

BT709, BT601 = 1, 6
SUPPORTED_MATRICES = frozenset({1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})
"""``_Matrix`` codes (ITU-T H.273) that zimg converts with; 0 is RGB, 2 "unspecified"."""


def default_matrix(width: int, height: int) -> int:
    """The matrix of untagged YUV of this size: BT.709 for HD, BT.601 for SD."""
    return BT709 if width > 1024 or height > 576 else BT601


def yuv_matrix(frame_props: Mapping[str, object], width: int, height: int) -> int:
    """The matrix a YUV frame is in: its valid ``_Matrix`` tag, else :func:`default_matrix`.

    Unspecified (2), RGB (0) and codes zimg cannot convert with (e.g. 100) fall back to the
    default, so an odd tag never stops the conversion.
    """
    tag = frame_props.get(props.MATRIX)
    if isinstance(tag, int) and tag in SUPPORTED_MATRICES:
        return tag
    return default_matrix(width, height)


def full_range(frame_props: Mapping[str, object], default: bool) -> bool:
    """Whether a frame is full range: its :func:`tagged_range`, else ``default``."""
    tagged = tagged_range(frame_props)
    return default if tagged is None else tagged


def tagged_range(frame_props: Mapping[str, object]) -> bool | None:
    """The range the props state (``True`` = full): ``_Range`` (1 = full), else ``_ColorRange`` (0 = full); ``None`` if neither does.

    ``_ColorRange`` is read only when there is no ``_Range``: VapourSynth R74+ reads it as an
    alias of ``_Range`` and aborts the whole process when ``_Range`` holds a string.
    """
    if props.RANGE in frame_props:
        tag = frame_props[props.RANGE]
        return tag == 1 if tag in (0, 1) else None
    legacy = frame_props.get(props.COLOR_RANGE)
    if legacy in (0, 1):
        return legacy == 0
    return None
