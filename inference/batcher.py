"""Dynamic batching policy, free of I/O and clocks: the caller passes `now_ms` in.

The policy follows TensorFlow Serving's batching: a batch is dispatched when it is full
(`max_batch_size`) or when its oldest request has waited `max_wait_ms` (the batch timeout);
`max_wait_ms=0` dispatches whatever is queued as soon as a worker asks. Two additions for a
drawing game:

- Latest wins: a request whose `key` (the drawing) is already queued replaces the queued one in
  place. It keeps the queue position and the enqueue time of the request it replaces, so a child
  who draws fast is never pushed to the back; `submit` hands back the replaced item so the owner
  can give its caller the newer result.
- Backpressure: at most `max_queue` requests wait; one more is refused with `QueueFullError`
  (a replacement never counts, since it does not grow the queue). Waiting instead of refusing
  would only make every guess late: a guess that arrives after the child's next stroke is useless.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from inference.errors import OverloadedError

T = TypeVar("T")


class QueueFullError(OverloadedError):
    """The batcher already holds `max_queue` requests."""


@dataclass(slots=True)
class Entry(Generic[T]):
    """One queued request."""

    key: str
    item: T
    enqueued_ms: float
    attempts: int = 0  # how many times it was already sent to a worker (for retries)


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """How requests are grouped: see the module docstring."""

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    max_queue: int = 4096

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if self.max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        if self.max_queue < 1:
            raise ValueError("max_queue must be at least 1")


@dataclass(slots=True)
class Batcher(Generic[T]):
    """A queue of requests keyed by drawing, dispensing batches by `BatchPolicy`."""

    policy: BatchPolicy = field(default_factory=BatchPolicy)
    _queue: OrderedDict[str, Entry[T]] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, key: str) -> bool:
        return key in self._queue

    def submit(self, key: str, item: T, now_ms: float) -> T | None:
        """Queue `item` for drawing `key`.

        Returns the item it replaced (latest wins), or None. Raises `QueueFullError` when the
        queue is full and nothing is replaced.
        """
        queued = self._queue.get(key)
        if queued is not None:
            old, queued.item = queued.item, item
            return old
        if len(self._queue) >= self.policy.max_queue:
            raise QueueFullError(f"inference queue is full ({self.policy.max_queue} requests "
                                 "waiting); try again with the next stroke")
        self._queue[key] = Entry(key, item, now_ms)
        return None

    def requeue(self, entries: Iterable[Entry[T]]) -> list[tuple[T, T]]:
        """Put entries back at the front (for a retry), ignoring `max_queue`.

        An entry whose drawing got a newer request meanwhile is not queued again: the pair
        (stale item, newer item) is returned so the owner can answer the stale caller with the
        newer result.
        """
        superseded: list[tuple[T, T]] = []
        for entry in reversed(list(entries)):
            newer = self._queue.get(entry.key)
            if newer is not None:
                superseded.append((entry.item, newer.item))
                continue
            self._queue[entry.key] = entry
            self._queue.move_to_end(entry.key, last=False)
        return superseded

    def ready(self, now_ms: float) -> bool:
        """Whether a batch should be dispatched now (full, or the oldest waited long enough)."""
        if not self._queue:
            return False
        if len(self._queue) >= self.policy.max_batch_size:
            return True
        return now_ms - self._oldest_ms() >= self.policy.max_wait_ms

    def next_deadline_ms(self) -> float | None:
        """When the current partial batch times out, or None when the queue is empty."""
        if not self._queue:
            return None
        return self._oldest_ms() + self.policy.max_wait_ms

    def take(self, now_ms: float, *, force: bool = False) -> list[Entry[T]]:
        """Remove and return the next batch (oldest first) if `ready` (or `force`), else []."""
        if not (force or self.ready(now_ms)):
            return []
        batch: list[Entry[T]] = []
        while self._queue and len(batch) < self.policy.max_batch_size:
            _, entry = self._queue.popitem(last=False)
            batch.append(entry)
        return batch

    def drain(self) -> list[Entry[T]]:
        """Remove and return everything queued (at shutdown)."""
        entries = list(self._queue.values())
        self._queue.clear()
        return entries

    def _oldest_ms(self) -> float:
        # Requeued entries go to the front and keep their (older) time, so the front is oldest.
        return next(iter(self._queue.values())).enqueued_ms
