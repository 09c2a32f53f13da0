"""A small thread-safe cache of per-pair results.

All output frames between source frames i and i+1 are computed together (one flow pass,
all timesteps in one batch). VapourSynth asks for those frames from different threads;
the first request computes, concurrent ones wait for it, and later ones read the result.
An entry is dropped once every frame of its pair has been served, and the cache never
holds more than ``capacity`` pairs, so memory stays bounded on long clips.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Entry(Generic[V]):
    __slots__ = ("done", "value", "error", "remaining")

    def __init__(self, uses: int):
        self.done = threading.Event()
        self.value: V | None = None
        self.error: BaseException | None = None
        self.remaining = uses


class PairCache(Generic[K, V]):
    """Compute-once cache keyed by pair, with use counting and an LRU bound."""

    def __init__(self, capacity: int = 8):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self.computations = 0

    def get(self, key: K, uses: int, compute: Callable[[], V]) -> V:
        """Return the value for ``key``, computing it once; ``uses`` = reads expected in all."""
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if owner:
                entry = _Entry(uses)
                self._entries[key] = entry
                self.computations += 1
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if owner:
            try:
                entry.value = compute()
            except BaseException as exc:  # re-raised in every waiting thread, then forgotten
                entry.error = exc
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
                raise
            finally:
                entry.done.set()
        else:
            entry.done.wait()
            if entry.error is not None:
                raise entry.error
        with self._lock:
            entry.remaining -= 1
            if entry.remaining <= 0 and self._entries.get(key) is entry:
                del self._entries[key]
        return entry.value  # type: ignore[return-value]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
