"""Every setting a chunk's bits depend on, as plain JSON: what the manifest records and the
chunk files are named by (a different value means a different file, and ``--resume`` refuses)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from .chunks import Chunk
from .plan import RenderRequest


def placement_kind(filter_kwargs: Mapping[str, Any], gpus: int) -> tuple[str, bool]:
    """``(device kind, fp16)`` the workers will run with: the bits differ between the two
    kinds and precisions, not between GPUs of one kind (``cuda:0`` and ``cuda:1``)."""
    device = filter_kwargs.get("device")
    if device is None:
        kind = "cuda" if gpus > 0 else "cpu"
    else:
        kind = str(device).split(":", 1)[0]
    fp16 = filter_kwargs.get("fp16")
    return kind, bool(fp16) if fp16 is not None else kind == "cuda"


def _file_identity(path: str | Path) -> dict[str, Any]:
    p = Path(path).expanduser()
    try:
        stat = p.stat()
    except OSError:
        return {"path": str(p)}
    return {"path": str(p.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _plain(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples are lists, fractions are ``"n/d"``)."""
    return json.loads(json.dumps(value, default=lambda v: f"{v.numerator}/{v.denominator}" if isinstance(v, Fraction) else str(v)))


def render_settings(
    request: RenderRequest,
    placement: tuple[str, bool],
    pix_fmt: str,
    fps: Fraction,
    frames: int,
    chunks: Sequence[Chunk],
    chunk_frames: int,
) -> dict[str, Any]:
    """The settings of a chunked render (see the module docstring)."""
    from .. import numerics

    filter_kwargs = {k: v for k, v in request.filter_kwargs.items() if k not in ("device", "fp16")}
    if "checkpoint" in filter_kwargs:
        filter_kwargs["checkpoint"] = _file_identity(filter_kwargs["checkpoint"])
    layout = hashlib.sha256(json.dumps([asdict(c) for c in chunks]).encode()).hexdigest()[:16]
    return _plain(
        {
            "source": _file_identity(request.source),
            "filter": filter_kwargs,
            "placement": {"device": placement[0], "fp16": placement[1]},
            "video": {"pix_fmt": pix_fmt, "fps": fps, "frames": frames},
            "chunks": {"max_source_frames": chunk_frames, "count": len(chunks), "layout": layout},
            "numerics": numerics.fingerprint(),
        }
    )
