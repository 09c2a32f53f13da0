"""Handing chunks to workers: longest first, each again elsewhere when it fails, every
finished file counted before the manifest records it, one progress bar over all workers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from .chunks import Chunk, longest_first
from .errors import RenderError
from .ffmpeg import frames_in
from .job import ChunkTask
from .manifest import Manifest
from .pool import Died, Done, Event, Failed, Fatal, Pool, Progress, Ready
from .progress import Bar

MAX_ATTEMPTS = 3
"""How often one chunk may fail (its worker died, an error, a wrong frame count) before the render stops."""

POLL = 0.2
"""Seconds the driver waits for workers before redrawing the progress bar."""

START_TIMEOUT = 900.0
"""Seconds the driver waits, with chunks left and no worker working, before giving up."""


def file_problem(found: int | None, expected: int) -> str:
    """What is wrong with a chunk file that has ``found`` frames (``None``: missing or unreadable)."""
    if found is None:
        return "its file is missing or unreadable"
    return f"its file has {found} frames, not {expected}"


class Scheduler:
    """The driver's side of a pool: which worker renders which chunk."""

    def __init__(self, pool: Pool, manifest: Manifest, ffmpeg: str, note: Callable[[str], None]):
        self.pool = pool
        self.manifest = manifest
        self.ffmpeg = ffmpeg
        self.note = note
        self.queue: list[Chunk] = []
        self.idle: set[int] = set()
        self.busy: dict[int, Chunk] = {}
        self.partial: dict[int, int] = {}
        self.failures: Counter[int] = Counter()
        self.lost = 0

    def run(self, todo: Sequence[Chunk], bar: Bar) -> None:
        """Render every chunk of ``todo``; raises :class:`RenderError` when one cannot be."""
        self.queue = longest_first(todo)
        by_index = {c.index: c for c in self.manifest.chunks}
        done = sum(by_index[i].frames for i in self.manifest.done)
        bar.update(done)
        self.pool.start()
        working = time.monotonic()
        try:
            while self.queue or self.busy:
                self._hand_out()
                for event in self.pool.events(POLL):
                    done += self._handle(event)
                bar.update(done + sum(self.partial.values()))
                if self.busy or self.idle:
                    working = time.monotonic()
                elif time.monotonic() - working > START_TIMEOUT:
                    raise RenderError(f"no worker has started in {START_TIMEOUT / 60:.0f} minutes; does the cluster have the CPUs/GPUs the workers ask for?")
        finally:
            self.pool.close()

    def _hand_out(self) -> None:
        for worker in sorted(self.idle):
            if not self.queue:
                return
            chunk = self.queue.pop(0)
            self.idle.discard(worker)
            self.busy[worker] = chunk
            self.partial[worker] = 0
            task = ChunkTask(chunk.index, chunk.output_start, chunk.output_stop, str(self.manifest.chunk_file(chunk)))
            self.pool.submit(worker, task)

    def _handle(self, event: Event) -> int:
        """Act on one event; returns the frames it finished."""
        if isinstance(event, Ready):
            self.idle.add(event.worker)
        elif isinstance(event, Progress):
            chunk = self.busy.get(event.worker)
            if chunk is not None and chunk.index == event.index:
                self.partial[event.worker] = event.frames
        elif isinstance(event, Done):
            chunk = self._release(event.worker, idle=True)
            return self._finished(chunk) if chunk is not None else 0
        elif isinstance(event, Failed):
            chunk = self._release(event.worker, idle=True)
            if chunk is not None:
                self._again(chunk, event.message)
        elif isinstance(event, Died):
            chunk = self._release(event.worker, idle=False)
            self.idle.discard(event.worker)  # until its replacement reports Ready
            if not event.restarting:
                self.lost += 1
                if self.lost >= self.pool.size:
                    raise RenderError(f"every worker has stopped (last: {event.message})")
            if chunk is not None:
                self._again(chunk, event.message)
        elif isinstance(event, Fatal):
            raise RenderError(event.message)
        return 0

    def _release(self, worker: int, idle: bool) -> Chunk | None:
        self.partial.pop(worker, None)
        if idle:
            self.idle.add(worker)
        return self.busy.pop(worker, None)

    def _finished(self, chunk: Chunk) -> int:
        """Count the chunk's file; record it, or hand the chunk out again."""
        path = self.manifest.chunk_file(chunk)
        found = frames_in(self.ffmpeg, path)
        if found is None or found != chunk.frames:
            path.unlink(missing_ok=True)
            self._again(chunk, f"{file_problem(found, chunk.frames)} (is the output folder on storage every worker shares?)")
            return 0
        self.manifest.done[chunk.index] = found
        self.manifest.save()
        return found

    def _again(self, chunk: Chunk, why: str) -> None:
        self.failures[chunk.index] += 1
        if self.failures[chunk.index] >= MAX_ATTEMPTS:
            raise RenderError(f"chunk {chunk.index} (output frames {chunk.output_start}-{chunk.output_stop - 1}) failed {MAX_ATTEMPTS} times; last: {why}")
        self.note(f"chunk {chunk.index} is rendered again: {why}")
        self.queue = longest_first([*self.queue, chunk])
