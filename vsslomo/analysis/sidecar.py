"""The analysis of a clip as a file users keep next to their video (pure, JSON).

The file holds the :class:`~.measurements.Measurements` of one clip: the pair features
(float32, base64), the upstream cut marks, the frame durations, the clip's key (frame
count, size, format, rate) and sample thumbnails that identify its pictures. Decisions
are recomputed from the features for whatever thresholds the filter is given, so one file
serves every ``sc_threshold`` / ``dedup_threshold`` / ``dedup_max_hold``; the decisions of
the scan that wrote it are stored too, for people and tools to read, and never read back.

Reading refuses, with a message saying what to do, a file that is not ours, one written
by another version of the analysis (stale) and, in :func:`check`, one made for another
clip (different key or different pictures).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .measurements import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    ClipKey,
    Decisions,
    Measurements,
    samples_mismatch,
)

FORMAT = "vsslomo-analysis"
"""Value of the file's ``format`` field."""

SUFFIX = ".slomo.json"
"""Suggested file name ending (``episode.mkv`` -> ``episode.mkv.slomo.json``)."""


class SidecarError(ValueError):
    """A sidecar file that cannot be used; the message says why and what to do."""


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def to_json(m: Measurements, decisions: Decisions | None = None, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of ``m`` (with the decisions of ``params``, for reading only)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": FEATURE_VERSION,
        "clip": vars(m.key),
        "features": {name: _b64(m.features[name], "<f4") for name in FEATURE_NAMES},
        "upstream_cuts": list(m.upstream_cuts),
        "durations": [None if d is None else [d.numerator, d.denominator] for d in m.durations],
        "samples": {
            str(n): {"shape": list(px.shape), "pixels": _b64(px, "u1")} for n, px in sorted(m.samples.items())
        },
    }
    if decisions is not None:
        doc["decisions"] = {
            "note": "informative only: decisions are recomputed from the features for the thresholds in use",
            "params": dict(params or {}),
            "cuts": list(decisions.cuts),
            "held_runs": [[a, b - a] for a, b in decisions.runs if b - a > 1],
        }
    return doc


def from_json(doc: Any, name: str = "the file") -> Measurements:
    """Measurements from a JSON document; :class:`SidecarError` if it is not a usable one."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SidecarError(f"{name} is not a vsslomo analysis file; pass a file written by dedup_file=, or a new path to scan into")
    if doc.get("version") != FEATURE_VERSION:
        raise SidecarError(
            f"{name} was written by another version of the analysis (version {doc.get('version')!r}, "
            f"this is version {FEATURE_VERSION}); delete it to rescan"
        )
    try:
        key = ClipKey(**doc["clip"])
        pairs = max(0, key.num_frames - 1)
        features = {n: _unb64(doc["features"][n], "<f4", (pairs,)).astype(np.float64) for n in FEATURE_NAMES}
        durations = tuple(None if d is None else Fraction(int(d[0]), int(d[1])) for d in doc["durations"])
        samples = {
            int(n): _unb64(s["pixels"], "u1", tuple(int(v) for v in s["shape"])) for n, s in doc["samples"].items()
        }
        return Measurements(key, features, tuple(int(i) for i in doc["upstream_cuts"]), durations, samples)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise SidecarError(f"{name} is damaged ({type(exc).__name__}: {exc}); delete it to rescan") from None


def read(path: str | os.PathLike[str]) -> Measurements:
    """Read a sidecar file; :class:`SidecarError` if it is unreadable, not ours or stale."""
    name = f"dedup_file {str(path)!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SidecarError(f"{name} is not valid JSON ({exc}); delete it to rescan") from None
    return from_json(doc, name)


def write(
    path: str | os.PathLike[str],
    m: Measurements,
    decisions: Decisions | None = None,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Write ``m`` to ``path`` atomically (a temporary file renamed over it)."""
    target = Path(path)
    text = json.dumps(to_json(m, decisions, params), indent=1)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise SidecarError(f"cannot write dedup_file {str(path)!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SidecarError(f"cannot write dedup_file {str(path)!r}: {exc.strerror or exc}") from None


def check(m: Measurements, key: ClipKey, samples: Mapping[int, np.ndarray], name: str) -> None:
    """Refuse ``m`` unless it was measured on the clip with this key and these sample thumbnails."""
    if m.key != key:
        raise SidecarError(
            f"{name} was made for another clip ({m.key.describe()}; this clip: {key.describe()}); "
            "delete it to rescan, or pass the file made for this clip"
        )
    frame = samples_mismatch(m.samples, samples)
    if frame is not None:
        raise SidecarError(
            f"{name} was made for other pictures (frame {frame} differs); the clip or the filters "
            "before slomo.Interpolate changed: delete the file to rescan"
        )
