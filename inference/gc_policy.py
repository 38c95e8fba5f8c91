"""Keep CPython's cyclic garbage collector out of the latency tail of a long-running process.

A collection stops the process while it walks the tracked container objects of the generations
it collects. Two measures, both measured with the pool benchmark (open loop, 5,000 guesses/s,
`bench/inference/README.md`):

- `settle_after_startup`: what a process loads at start (modules, models, settings: ~27,000
  objects in an inference worker, ~120,000 in the server process) lives as long as the process
  and can never be garbage, so once start-up is over it is moved out of the collector's sight
  (`gc.freeze`) and full collections walk only what was made since.
- `IdleCollector`, for a worker that serves one batch at a time: automatic collections are
  switched off and the worker collects rarely, between batches. Automatic collections fired in
  the middle of batches, every 40 ms or so, for nothing: they found no garbage, but walked the
  kept vertices of the drawings in progress (young collections up to 10-17 ms of CPU, full
  ones 20-50 ms in a worker holding 2,500 drawings, mostly cache misses on scattered floats),
  and every guess of that batch and of the queue behind it waited. p99 16-34 ms with them,
  6-7 ms without; collecting young generations between batches instead still gave 17-20 ms,
  as a batch arrives every half millisecond or so at that load. (The kept vertices are arrays
  of doubles now, `inference.raster.IncrementalRaster`, so a collection has fewer objects to
  visit: 30 ms instead of 130 ms for a full one in a worker holding 1,000 drawings.)
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable


def settle_after_startup() -> int:
    """Collect once, then freeze everything alive now; returns how many objects are frozen.

    Call when a process has loaded what it keeps for its life (modules, models, settings) and
    before it serves. Calling it again freezes what was added since.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class IdleCollector:
    """Cyclic garbage collection for a worker that serves one batch at a time: rarely, and idle.

    While it exists automatic collection is off (`gc.disable`). A worker's objects die by
    reference counting (collections during the pool benchmark found no garbage at all), so the
    collector is only a guard against rare cycles. It runs a full collection at an idle moment
    once `interval_s` has passed, or at once when the tracked objects alive since the last
    collection have grown by `force_after` (CPython keeps counting them while collection is off,
    and cyclic garbage never stops counting, so garbage stays bounded in a worker that is never
    idle). A full collection still pauses the worker (30 ms holding 1,000 drawings in progress),
    hence the long interval. `close()` gives collection back to CPython.
    """

    def __init__(self, interval_s: float = 300.0, force_after: int = 1_000_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval_s, self._force_after, self._clock = interval_s, force_after, clock
        self._last = clock()
        self.collections = 0
        self.collected = 0  # unreachable objects found, over all collections
        self._was_enabled = gc.isenabled()
        gc.disable()

    def step(self, idle: bool) -> bool:
        """Collect if it is time to (see the class); returns whether it collected."""
        now = self._clock()
        due = idle and now - self._last >= self._interval_s
        if not due and gc.get_count()[0] < self._force_after:
            return False
        self.collected += gc.collect()
        self.collections += 1
        self._last = now
        return True

    def close(self) -> None:
        """Give collection back to CPython."""
        if self._was_enabled:
            gc.enable()
