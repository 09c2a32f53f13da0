"""Where vsslomo looks for files on the user's machine (never downloads anything).

Weights that vsslomo cannot ship (RIFE 4.x, the official IFRNet checkpoints, ...) are looked
for in one documented folder: ``$VSSLOMO_WEIGHTS_DIR`` if set, else
``$XDG_DATA_HOME/vsslomo/weights`` (``~/.local/share/vsslomo/weights`` by default), with one
sub-folder per model family (e.g. ``.../weights/rife4/flownet_v4.22.pkl``). Rebuildable
files (TensorRT engines) go to :func:`cache_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_ENV = "VSSLOMO_WEIGHTS_DIR"
CACHE_ENV = "VSSLOMO_CACHE_DIR"


def user_weights_dir(family: str | None = None) -> Path:
    """The folder users put weight files in (``family`` names its sub-folder); it may not exist."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        root = Path(env).expanduser()
    else:
        data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        root = Path(data).expanduser() / "vsslomo" / "weights"
    return root / family if family else root


def cache_dir(kind: str) -> Path:
    """Folder for rebuildable files such as TensorRT engines (``$VSSLOMO_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/vsslomo``, i.e. ``~/.cache/vsslomo``), with ``kind`` as sub-folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser() / kind
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "vsslomo" / kind
