"""Conversions between VapourSynth clips/frames and the tensors the models eat.

Models work on RGB float in [0, 1]. Every supported clip format is converted to RGBS
(or GRAYS, replicated to three channels) in the VapourSynth graph, and model output is
converted back to the clip's own format, so the filter accepts YUV/RGB/GRAY at any bit
depth. Colour matrix and range come from the clip's frame props, with the defaults of
:mod:`vsslomo.colour` when they are missing or unusable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vapoursynth as vs

from . import colour, props


@dataclass(frozen=True)
class ColorInfo:
    """How to go between the clip's format and RGB."""

    matrix: int | None
    """``_Matrix`` code for YUV, 0 for RGB, ``None`` for grey."""
    full_range: bool

    @property
    def range_name(self) -> str:
        return "full" if self.full_range else "limited"


def color_info(clip: vs.VideoNode, frame_props: vs.FrameProps) -> ColorInfo:
    """Matrix and range of ``clip`` from ``frame_props`` (a representative frame), see :mod:`vsslomo.colour`."""
    family = clip.format.color_family
    if family != vs.YUV:
        return ColorInfo(matrix=0 if family == vs.RGB else None, full_range=colour.full_range(frame_props, default=True))
    return ColorInfo(
        matrix=colour.yuv_matrix(frame_props, clip.width, clip.height),
        full_range=colour.full_range(frame_props, default=False),
    )


def model_format(clip: vs.VideoNode) -> vs.VideoFormat:
    """The float format the model side of the graph works in for ``clip``."""
    family = vs.GRAY if clip.format.color_family == vs.GRAY else vs.RGB
    return vs.core.query_video_format(family, vs.FLOAT, 32, 0, 0)


def to_model_clip(clip: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """Convert ``clip`` to RGBS (GRAYS for grey clips), full range."""
    target = model_format(clip)
    if clip.format.id == target.id:
        return clip
    return vs.core.resize.Bicubic(
        tagged(clip, info), format=target.id, **_matrices(info.matrix, 0), range_in_s=info.range_name, range_s="full"
    )


def from_model_clip(rgb: vs.VideoNode, like: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """Convert a model-format clip back to ``like``'s format, matrix and range."""
    if rgb.format.id == like.format.id:
        return rgb
    return vs.core.resize.Bicubic(
        rgb, format=like.format.id, **_matrices(0, info.matrix), range_in_s="full", range_s=info.range_name
    )


def is_subsampled(clip: vs.VideoNode) -> bool:
    """True for YUV with subsampled chroma (4:2:0, 4:2:2, ...)."""
    fmt = clip.format
    return fmt.color_family == vs.YUV and bool(fmt.subsampling_w or fmt.subsampling_h)


def _float_format(like: vs.VideoNode) -> vs.VideoFormat:
    fmt = like.format
    return vs.core.query_video_format(fmt.color_family, vs.FLOAT, 32, fmt.subsampling_w, fmt.subsampling_h)


def to_float_native(clip: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """``clip`` as 32-bit float in its own colour family and subsampling (no resampling)."""
    return vs.core.resize.Point(
        tagged(clip, info), format=_float_format(clip).id, **_matrices(info.matrix, info.matrix), range_in_s=info.range_name
    )


def round_trip_residual(native: vs.VideoNode, rgb: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """What going to RGB and back loses of each frame: ``native - down(rgb)``, chroma only.

    ``native`` is the clip from :func:`to_float_native`, ``rgb`` its model-format
    conversion. Chroma that went up to RGB and back down is low-passed twice (up- and
    downsampling are not inverses), so a plain conversion of model output would give
    interpolated frames softer colour edges than their source frames, and the colours would
    pulse at the frame rate. Luma comes back exactly (the matrix is linear): its residual is 0.
    """
    back = vs.core.resize.Bicubic(rgb, format=native.format.id, **_matrices(0, info.matrix))
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
    down = vs.core.resize.Bicubic(synth, format=residual.format.id, **_matrices(0, info.matrix))
    out = vs.core.std.Expr([down, residual], ["x", "x y +", "x y +"])
    return vs.core.resize.Point(out, format=like.format.id, **_matrices(info.matrix, info.matrix), range_s=info.range_name)


def finite_samples(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` with non-finite samples (float clips only) replaced by the nearest valid value.

    NaN becomes 0 (black, neutral chroma), +-inf the top or bottom of the plane's range, the
    rule the engine applies to model input; resampling would otherwise spread one NaN over
    its neighbours and through the chroma residual into interpolated frames.
    """
    fmt = clip.format
    if fmt.sample_type != vs.FLOAT:
        return clip
    chroma = fmt.color_family == vs.YUV
    bounds = [(-0.5, 0.5) if chroma and p > 0 else (0.0, 1.0) for p in range(fmt.num_planes)]

    def sanitise(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        planes = [np.asarray(f[p]) for p in range(fmt.num_planes)]
        if all(np.isfinite(a).all() for a in planes):
            return f
        out = f.copy()
        for p, (low, high) in enumerate(bounds):
            np.copyto(np.asarray(out[p]), np.nan_to_num(planes[p], nan=0.0, posinf=high, neginf=low))
        return out

    return vs.core.std.ModifyFrame(clip, clip, sanitise)


def tagged(clip: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """``clip`` with colour tags the conversions can trust: ``info``'s matrix and range.

    zimg prefers frame tags to its arguments and fails on unusable ones (an RGB clip tagged
    BT.709, a matrix of 100, an unknown transfer, ``_Range=7``). Only the branches of the graph
    that are converted see these (the model's, the analysis thumbnails); output frames keep
    the source frames' own props.
    """
    clean = vs.core.std.RemoveFrameProps(clip, [props.MATRIX, props.TRANSFER, props.PRIMARIES, props.RANGE])
    tags: dict[str, int] = {props.RANGE: int(info.full_range)}
    if info.matrix is not None:
        tags[props.MATRIX] = info.matrix
    return vs.core.std.SetFrameProps(clean, **tags)


def _matrices(matrix_in: int | None, matrix: int | None) -> dict[str, int]:
    """resize's matrix arguments; none for grey, whose conversions take no matrix."""
    if matrix_in is None or matrix is None:
        return {}
    return {"matrix_in": matrix_in, "matrix": matrix}


def frame_to_array(frame: vs.VideoFrame) -> np.ndarray:
    """A model-format frame (RGBS/GRAYS) as a ``(3, H, W)`` float32 array (grey replicated)."""
    planes = [np.asarray(frame[p]) for p in range(frame.format.num_planes)]
    if len(planes) == 1:
        planes = planes * 3
    return np.stack(planes)


def write_array(image: np.ndarray, template: vs.VideoFrame) -> vs.VideoFrame:
    """A copy of ``template`` (keeping its props) whose pixels are ``image`` ``(3, H, W)`` float32."""
    out = template.copy()
    if out.format.num_planes == 1:
        np.copyto(np.asarray(out[0]), image.mean(axis=0))
    else:
        for p in range(3):
            np.copyto(np.asarray(out[p]), image[p])
    return out
