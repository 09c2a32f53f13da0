"""The record of a chunked render, kept beside the output so an interrupted render resumes.

The work folder ``OUTPUT.vsslomo-chunks/`` holds ``manifest.json`` and one lossless file per
finished chunk, ``chunk-INDEX-KEY.mkv``, where KEY is a hash of every setting the chunk's
bits depend on (source file, filter arguments, versions, chunk layout). Only the driver
writes the manifest, always whole (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .chunks import Chunk
from .errors import RenderError

WORK_SUFFIX = ".vsslomo-chunks"
MANIFEST_NAME = "manifest.json"
FORMAT = 1


def work_dir(output: Path) -> Path:
    """The folder beside ``output`` that holds its chunks and manifest."""
    return output.with_name(output.name + WORK_SUFFIX)


def settings_key(settings: Mapping[str, Any]) -> str:
    """A short hash of ``settings`` (canonical JSON), used in chunk file names."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names of the settings that differ between two manifests."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


@dataclass
class Manifest:
    """Settings, chunk layout and finished chunks of one chunked render."""

    folder: Path
    settings: dict[str, Any]
    chunks: list[Chunk]
    done: dict[int, int] = field(default_factory=dict)
    """Finished chunks: index -> frames in its file."""

    @property
    def key(self) -> str:
        """Hash of the settings (see :func:`settings_key`)."""
        return settings_key(self.settings)

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_NAME

    def chunk_file(self, chunk: Chunk) -> Path:
        """Where the finished file of ``chunk`` lives."""
        return self.folder / f"chunk-{chunk.index:05d}-{self.key}.mkv"

    def save(self) -> None:
        """Write the manifest atomically."""
        data = {
            "format": FORMAT,
            "key": self.key,
            "settings": self.settings,
            "chunks": [asdict(c) for c in self.chunks],
            "done": {str(k): v for k, v in sorted(self.done.items())},
        }
        tmp = self.path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, folder: Path) -> "Manifest":
        """Read the manifest in ``folder``; :class:`RenderError` when it is unreadable."""
        path = folder / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            chunks = [Chunk(**c) for c in data["chunks"]]
            done = {int(k): int(v) for k, v in data["done"].items()}
            return cls(folder=folder, settings=dict(data["settings"]), chunks=chunks, done=done)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RenderError(f"{path}: not a readable vsslomo manifest ({exc}); remove {folder} or start over with -y") from None
