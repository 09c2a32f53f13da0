"""What the driver hears from a pool of workers (local processes or Ray actors).

A pool numbers its workers ``0 .. size - 1`` and reports, from :meth:`Pool.events`:
:class:`Ready` once a worker has built its graph, :class:`Progress` while it renders,
:class:`Done`/:class:`Failed` for a chunk, :class:`Died` when its process went away (the
pool restarts it while it may; the chunk is the driver's to hand out again), and
:class:`Fatal` for an error every worker would hit (a bad checkpoint, an unreadable source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .job import ChunkResult, ChunkTask


@dataclass(frozen=True)
class Ready:
    worker: int
    name: str


@dataclass(frozen=True)
class Progress:
    worker: int
    index: int
    frames: int
    """Frames of chunk ``index`` written so far."""


@dataclass(frozen=True)
class Done:
    worker: int
    result: ChunkResult


@dataclass(frozen=True)
class Failed:
    worker: int
    index: int
    message: str


@dataclass(frozen=True)
class Died:
    worker: int
    index: int | None
    """The chunk it was rendering, if any."""
    message: str
    restarting: bool


@dataclass(frozen=True)
class Fatal:
    worker: int
    message: str


Event = Ready | Progress | Done | Failed | Died | Fatal


class Pool(Protocol):
    """Workers that render chunks; see the module docstring."""

    size: int

    def start(self) -> None:
        """Start every worker (returns at once; each reports :class:`Ready`)."""
        ...

    def submit(self, worker: int, task: ChunkTask) -> None:
        """Hand ``task`` to an idle, ready worker."""
        ...

    def events(self, timeout: float) -> list[Event]:
        """What happened since the last call, waiting up to ``timeout`` seconds for something."""
        ...

    def close(self) -> None:
        """Stop every worker now (their unfinished files are removed or left as temporary files)."""
        ...
