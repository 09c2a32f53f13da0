"""Local worker processes: ``vsslomo render --workers N`` without Ray.

Each worker is a spawned process that builds the render's graph once (loading the model
once) and then renders the chunks the driver sends it, one at a time, over a pipe. Only
small messages cross the pipe; frames go from the worker's graph into its own ffmpeg.
Workers ignore Ctrl-C (the driver stops them) and clean up on SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Any

from .errors import RenderError
from .job import ChunkRenderer, ChunkTask, RenderJob, worker_name
from .pool import Died, Done, Event, Failed, Fatal, Progress, Ready

PROGRESS_INTERVAL = 0.25
"""Seconds between a worker's progress messages."""


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _worker_main(conn: multiprocessing.connection.Connection, job: RenderJob, device: str | None) -> None:
    """Body of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.update(job.environment)
    try:
        try:
            renderer = ChunkRenderer(job, device)
        except RenderError as exc:
            conn.send(("fatal", str(exc)))
            return
        except Exception as exc:  # any failure to build the graph is reported, one line
            from .source import first_line

            conn.send(("fatal", f"{first_line(exc)} ({type(exc).__name__})"))
            return
        conn.send(("ready", worker_name()))
        while True:
            task = conn.recv()
            if task is None:
                return
            _render_one(conn, renderer, task)
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        return


def _render_one(conn: multiprocessing.connection.Connection, renderer: ChunkRenderer, task: ChunkTask) -> None:
    done = 0
    last = time.monotonic()

    def advance(frames: int) -> None:
        nonlocal done, last
        done += frames
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL:
            last = now
            conn.send(("progress", task.index, done))

    try:
        conn.send(("done", renderer.render(task, advance)))
    except RenderError as exc:
        conn.send(("failed", task.index, str(exc)))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        raise
    except Exception as exc:  # a chunk's failure is reported; the driver retries it elsewhere
        from .source import first_line

        conn.send(("failed", task.index, f"{first_line(exc)} ({type(exc).__name__})"))


class _Slot:
    """One worker: its process, its end of the pipe and the chunk it is rendering."""

    def __init__(self, process: BaseProcess, conn: multiprocessing.connection.Connection):
        self.process = process
        self.conn = conn
        self.task: ChunkTask | None = None


class LocalPool:
    """``size`` worker processes on this machine; worker ``i`` uses ``devices[i]``."""

    def __init__(self, job: RenderJob, devices: list[str | None], restarts: int = 3):
        self.job = job
        self.devices = devices
        self.size = len(devices)
        self.restarts_left = restarts
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Slot | None] = [None] * self.size

    def _spawn(self, worker: int) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child, self.job, self.devices[worker]), name=f"vsslomo-worker-{worker}", daemon=True)
        process.start()
        child.close()
        self._slots[worker] = _Slot(process, parent)

    def start(self) -> None:
        for worker in range(self.size):
            self._spawn(worker)

    def submit(self, worker: int, task: ChunkTask) -> None:
        slot = self._slots[worker]
        assert slot is not None and slot.task is None
        slot.task = task
        slot.conn.send(task)

    def events(self, timeout: float) -> list[Event]:
        live = {i: s for i, s in enumerate(self._slots) if s is not None}
        if not live:
            time.sleep(timeout)
            return []
        waitables: list[Any] = [s.conn for s in live.values()] + [s.process.sentinel for s in live.values()]
        ready = set(multiprocessing.connection.wait(waitables, timeout))
        events: list[Event] = []
        for worker, slot in live.items():
            while slot.conn in ready and slot.conn.poll():
                try:
                    message = slot.conn.recv()
                except (EOFError, OSError):
                    break
                events.append(self._event(worker, slot, message))
            if slot.process.sentinel in ready and not slot.process.is_alive() and self._slots[worker] is slot:
                events.append(self._bury(worker, slot))
        return events

    def _event(self, worker: int, slot: _Slot, message: tuple[Any, ...]) -> Event:
        kind = message[0]
        if kind == "ready":
            return Ready(worker, message[1])
        if kind == "progress":
            return Progress(worker, message[1], message[2])
        if kind == "done":
            slot.task = None
            return Done(worker, message[1])
        if kind == "failed":
            slot.task = None
            return Failed(worker, message[1], message[2])
        self._slots[worker] = None  # "fatal": the process ends by itself
        slot.process.join(timeout=10)
        return Fatal(worker, message[1])

    def _bury(self, worker: int, slot: _Slot) -> Event:
        """A worker process that ended without being asked to: restart it while we may."""
        slot.process.join()
        index = slot.task.index if slot.task is not None else None
        code = slot.process.exitcode
        reason = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        slot.conn.close()
        self._slots[worker] = None
        restarting = self.restarts_left > 0
        if restarting:
            self.restarts_left -= 1
            self._spawn(worker)
        return Died(worker, index, f"worker {worker} (pid {slot.process.pid}) stopped ({reason})", restarting)

    def close(self) -> None:
        slots = [s for s in self._slots if s is not None]
        self._slots = [None] * self.size
        for slot in slots:
            if slot.process.is_alive():
                slot.process.terminate()  # SIGTERM: the worker stops its ffmpeg and removes its file
        deadline = time.monotonic() + 10
        for slot in slots:
            slot.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.conn.close()
