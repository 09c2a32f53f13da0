"""Conversions between VapourSynth clips/frames and the tensors the models eat.

Models work on RGB float in [0, 1]. Every supported clip format is converted to RGBS
(or GRAYS, replicated to three channels) in the VapourSynth graph, and model output is
converted back to the clip's own format, so the filter accepts YUV/RGB/GRAY at any bit
depth. Colour matrix and range come from the clip's frame props, with the usual
defaults (BT.709 for HD, BT.601 for SD, limited range for YUV) when they are missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import vapoursynth as vs

# VapourSynth's _Matrix codes (ITU-T H.273) that zimg can convert with.
_SUPPORTED_MATRICES = {1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}


@dataclass(frozen=True)
class ColorInfo:
    """How to go between the clip's format and RGB."""

    matrix: int | None  # None for RGB/GRAY clips
    full_range: bool

    @property
    def range_name(self) -> str:
        return "full" if self.full_range else "limited"


def _full_range(props: vs.FrameProps, default: bool) -> bool:
    # R74+ writes _Range (1 = full); older plugins write _ColorRange (0 = full).
    if "_Range" in props:
        return int(props["_Range"]) == int(vs.RANGE_FULL)
    if "_ColorRange" in props:
        return int(props["_ColorRange"]) == 0
    return default


def color_info(clip: vs.VideoNode, props: vs.FrameProps) -> ColorInfo:
    """Read matrix and range from ``props`` (a representative frame), defaulting sensibly."""
    fmt = clip.format
    if fmt.color_family != vs.YUV:
        return ColorInfo(matrix=None, full_range=_full_range(props, default=True))
    matrix = int(props.get("_Matrix", 2))
    if matrix not in _SUPPORTED_MATRICES:
        matrix = 1 if (clip.width > 1024 or clip.height > 576) else 6
    return ColorInfo(matrix=matrix, full_range=_full_range(props, default=False))


def model_format(clip: vs.VideoNode) -> vs.VideoFormat:
    """The float format the model side of the graph works in for ``clip``."""
    family = vs.GRAY if clip.format.color_family == vs.GRAY else vs.RGB
    return vs.core.query_video_format(family, vs.FLOAT, 32, 0, 0)


def to_model_clip(clip: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """Convert ``clip`` to RGBS (GRAYS for grey clips), full range."""
    target = model_format(clip)
    if clip.format.id == target.id:
        return clip
    kwargs: dict[str, int | str] = {"range_in_s": info.range_name, "range_s": "full"}
    if info.matrix is not None:
        kwargs["matrix_in"] = info.matrix
    return vs.core.resize.Bicubic(clip, format=target.id, **kwargs)


def from_model_clip(rgb: vs.VideoNode, like: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """Convert a model-format clip back to ``like``'s format, matrix and range."""
    if rgb.format.id == like.format.id:
        return rgb
    kwargs: dict[str, int | str] = {"range_s": info.range_name, "range_in_s": "full"}
    if info.matrix is not None:
        kwargs["matrix"] = info.matrix
    return vs.core.resize.Bicubic(rgb, format=like.format.id, **kwargs)


def is_subsampled(clip: vs.VideoNode) -> bool:
    """True for YUV with subsampled chroma (4:2:0, 4:2:2, ...)."""
    fmt = clip.format
    return fmt.color_family == vs.YUV and bool(fmt.subsampling_w or fmt.subsampling_h)


def _float_format(like: vs.VideoNode) -> vs.VideoFormat:
    fmt = like.format
    return vs.core.query_video_format(fmt.color_family, vs.FLOAT, 32, fmt.subsampling_w, fmt.subsampling_h)


def to_float_native(clip: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """``clip`` as 32-bit float in its own colour family and subsampling (no resampling)."""
    return vs.core.resize.Point(clip, format=_float_format(clip).id, range_in_s=info.range_name)


def round_trip_residual(native: vs.VideoNode, rgb: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """What going to RGB and back loses of each frame: ``native - down(rgb)``, chroma only.

    ``native`` is the clip from :func:`to_float_native`, ``rgb`` its model-format
    conversion. Chroma that went up to RGB and back down is low-passed twice (up- and
    downsampling are not inverses), so a plain conversion of model output would give
    interpolated frames softer colour edges than their source frames, and the colours would
    pulse at the frame rate. Luma comes back exactly (the matrix is linear): its residual is 0.
    """
    back = vs.core.resize.Bicubic(rgb, format=native.format.id, **_matrix_kwargs(info))
    return vs.core.std.Expr([native, back], ["0", "x y -", "x y -"])


def from_model_clip_with_residual(
    synth: vs.VideoNode, residual: vs.VideoNode, like: vs.VideoNode, info: ColorInfo
) -> vs.VideoNode:
    """Convert model frames to ``like``'s subsampled format, adding back the round-trip residual.

    With ``residual`` the blend of the pair's :func:`round_trip_residual` at the frame's t,
    the output is ``blend + down(synth) - down(up(blend))`` (everything is linear): only
    the model's difference from the linear blend is resampled, so where nothing moves the
    output is the blend of the source frames exactly.
    """
    down = vs.core.resize.Bicubic(synth, format=residual.format.id, **_matrix_kwargs(info))
    out = vs.core.std.Expr([down, residual], ["x", "x y +", "x y +"])
    return vs.core.resize.Point(out, format=like.format.id, range_s=info.range_name)


def _matrix_kwargs(info: ColorInfo) -> dict[str, int]:
    return {} if info.matrix is None else {"matrix": info.matrix}


def frame_to_tensor(frame: vs.VideoFrame, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A model-format frame (RGBS/GRAYS) as a ``(1, 3, H, W)`` tensor on ``device``."""
    planes = [np.asarray(frame[p]) for p in range(frame.format.num_planes)]
    if len(planes) == 1:
        planes = planes * 3
    host = torch.from_numpy(np.stack(planes))
    return host.to(device=device, dtype=dtype, non_blocking=True).unsqueeze(0)


def write_tensor(image: torch.Tensor, template: vs.VideoFrame) -> vs.VideoFrame:
    """A copy of ``template`` (keeping its props) whose pixels are ``image`` ``(3, H, W)``."""
    out = template.copy()
    pixels = image.float().cpu().numpy()
    if out.format.num_planes == 1:
        np.copyto(np.asarray(out[0]), pixels.mean(axis=0))
    else:
        for p in range(3):
            np.copyto(np.asarray(out[p]), pixels[p])
    return out


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the right/bottom of ``(N, C, H, W)`` to multiples of ``multiple``.

    Zero padding on the bottom/right matches the RIFE reference inference code, so our
    output equals it on sizes that need padding too.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph))
