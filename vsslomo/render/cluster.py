"""Ray actors as render workers: ``vsslomo render --ray [ADDRESS]`` (``pip install vsslomo[ray]``).

One actor per GPU of the cluster (``num_gpus=1``), or CPU actors where there is none, each
running a :class:`~vsslomo.render.job.ChunkRenderer`: the model loads once per actor, and
chunk files are written by the actor straight to the output's folder, which must be on
storage every node shares. Only chunk descriptions and results (a few numbers) go through
Ray; frames never enter its object store. Ray restarts an actor whose process dies; the
driver hands its chunk to whichever actor is free next.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from .errors import RenderError
from .job import ChunkRenderer, ChunkTask, RenderJob, worker_name
from .pool import Died, Done, Event, Failed, Fatal, Progress, Ready
from .source import first_line

POLL_INTERVAL = 0.5
"""Seconds between progress questions to a busy actor."""

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a cluster address to answer before giving up."""


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`RenderError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RenderError("--ray needs Ray: pip install 'vsslomo[ray]' (or pip install ray) on every machine") from None
    return ray


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (``"auto"``: the one this machine is part of), or
    start a local one when ``address`` is ``None``. Returns whether a cluster was started here
    (the caller shuts it down). A cluster this process is already connected to is used as is.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "error"}
    if address not in (None, "auto"):
        _check_reachable(address)
    try:
        if address is None:
            ray.init(**options)
            return True
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "the local cluster" if address in (None, "auto") else address
        raise RenderError(f"--ray: cannot connect to {where} ({first_line(exc)}); start it with `ray start --head` (see the README)") from None
    return False


def _check_reachable(address: str) -> None:
    """Refuse at once an address where nothing listens (Ray itself retries for many minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RenderError(f"--ray {address}: give the cluster's address as HOST:PORT (the head's GCS port, 6379 by default) or 'auto'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise RenderError(f"--ray {address}: nothing answers there ({exc.strerror or exc}); start the head with `ray start --head` or check the address") from None


def cluster_resources() -> tuple[int, int]:
    """Whole CPUs and GPUs in the cluster."""
    ray = import_ray()
    total = ray.cluster_resources()
    return int(total.get("CPU", 0)), int(total.get("GPU", 0))


class RenderActor:
    """The body of a Ray actor (wrapped with ``ray.remote`` by :class:`RayPool`)."""

    def __init__(self, job: RenderJob, device: str | None):
        self.job = job
        self.device = device
        self.renderer: ChunkRenderer | None = None
        self.lock = threading.Lock()
        self.current: tuple[int | None, int] = (None, 0)

    def setup(self) -> tuple[str, str]:
        """Build the graph (load the model); ``("ready", name)`` or ``("fatal", message)``."""
        os.environ.update(self.job.environment)
        try:
            with self.lock:
                if self.renderer is None:
                    self.renderer = ChunkRenderer(self.job, self.device)
        except RenderError as exc:
            return "fatal", str(exc)
        except Exception as exc:  # any failure to build the graph is reported, one line
            return "fatal", f"{first_line(exc)} ({type(exc).__name__})"
        return "ready", worker_name()

    def render(self, task: ChunkTask) -> tuple[Any, ...]:
        """Render one chunk: ``("done", result)``, ``("failed", message)`` or ``("fatal", message)``."""
        status, message = self.setup()
        if status == "fatal":
            return "fatal", message
        assert self.renderer is not None
        self.current = (task.index, 0)

        def advance(frames: int) -> None:
            self.current = (task.index, self.current[1] + frames)

        try:
            return "done", self.renderer.render(task, advance)
        except RenderError as exc:
            return "failed", str(exc)
        except Exception as exc:  # a chunk's failure is reported; the driver retries it elsewhere
            return "failed", f"{first_line(exc)} ({type(exc).__name__})"
        finally:
            self.current = (None, 0)

    def progress(self) -> tuple[int | None, int]:
        """The chunk being rendered and its frames written so far."""
        return self.current

    def pid(self) -> int:
        """The actor's process id (tests kill it to check the retries)."""
        return os.getpid()


class RayPool:
    """``size`` Ray actors, each asking the cluster for ``gpus`` GPUs and ``cpus`` CPUs.

    An actor sees only the GPU Ray gave it, so a GPU actor runs on ``cuda`` whatever index
    the user named.
    """

    def __init__(self, job: RenderJob, size: int, gpus: int, cpus: int, restarts: int = 3):
        self.job = job
        self.device = "cuda" if gpus else None
        self.size = size
        self.gpus = gpus
        self.cpus = cpus
        self.restarts = restarts
        self.actors: list[Any] = []
        self._deaths = [0] * size
        self._dead: set[int] = set()
        self._pending: dict[Any, tuple[str, int, ChunkTask | None]] = {}
        self._asked: set[int] = set()
        self._busy: dict[int, ChunkTask] = {}
        self._last_poll = 0.0

    def start(self) -> None:
        ray = import_ray()
        remote = ray.remote(RenderActor).options(
            num_gpus=self.gpus,
            num_cpus=self.cpus,
            max_restarts=self.restarts,
            max_task_retries=0,
            max_concurrency=2,  # progress questions are answered while a chunk renders
            runtime_env={"env_vars": dict(self.job.environment)},
        )
        for worker in range(self.size):
            actor = remote.remote(self.job, self.device)
            self.actors.append(actor)
            self._pending[actor.setup.remote()] = ("setup", worker, None)

    def submit(self, worker: int, task: ChunkTask) -> None:
        self._busy[worker] = task
        self._pending[self.actors[worker].render.remote(task)] = ("render", worker, task)

    def events(self, timeout: float) -> list[Event]:
        ray = import_ray()
        self._ask_progress()
        if not self._pending:
            time.sleep(timeout)
            return []
        refs = list(self._pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        events: list[Event] = []
        for ref in ready:
            kind, worker, task = self._pending.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if kind == "progress":
                    self._asked.discard(worker)
                    continue
                events.append(self._died(worker, task, first_line(exc)))
                continue
            events += self._answer(kind, worker, task, value)
        return events

    def _ask_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_poll < POLL_INTERVAL:
            return
        self._last_poll = now
        for worker in self._busy:
            if worker not in self._asked:
                self._asked.add(worker)
                self._pending[self.actors[worker].progress.remote()] = ("progress", worker, None)

    def _answer(self, kind: str, worker: int, task: ChunkTask | None, value: Any) -> list[Event]:
        if kind == "progress":
            self._asked.discard(worker)
            index, frames = value
            return [Progress(worker, index, frames)] if index is not None else []
        status = value[0]
        if status == "fatal":
            return [Fatal(worker, value[1])]
        if kind == "setup":
            return [Ready(worker, value[1])]
        assert task is not None
        self._busy.pop(worker, None)
        if status == "done":
            return [Done(worker, value[1])]
        return [Failed(worker, task.index, value[1])]

    def _died(self, worker: int, task: ChunkTask | None, reason: str) -> Event:
        """An actor's process went away; Ray restarts it while its restarts last."""
        self._busy.pop(worker, None)
        self._deaths[worker] += 1
        restarting = self._deaths[worker] <= self.restarts
        if restarting:
            self._pending[self.actors[worker].setup.remote()] = ("setup", worker, None)
        else:
            self._dead.add(worker)
        return Died(worker, task.index if task is not None else None, f"Ray actor {worker} died ({reason})", restarting)

    def close(self) -> None:
        if not self.actors:
            return
        ray = import_ray()
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        self._pending.clear()
