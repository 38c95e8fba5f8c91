"""The single entry the server uses to get a recogniser."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from inference.api import Recognizer
from inference.pool import DEFAULT_WORKER_NICE, WorkerPool

# Measured defaults (bench/inference/README.md). No batch timeout: a worker has one batch in
# flight, so under load the next batch fills while it computes, and at low load waiting only adds
# latency. A queue of 256 is about a tenth of a second of work at full load: beyond that a guess
# would come after the child's next stroke anyway, so refusing is kinder than queueing.
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_MS = 0.0
DEFAULT_MAX_QUEUE = 256


@asynccontextmanager
async def open_recognizer(models_dir: Path, *, workers: int | None = None,
                          max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
                          max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
                          max_queue: int = DEFAULT_MAX_QUEUE,
                          runtime: str = "litert",
                          worker_nice: int = DEFAULT_WORKER_NICE) -> AsyncIterator[Recognizer]:
    """Start the worker pool over `models_dir` and yield it as a `Recognizer`; stop it on exit.

    Args:
        models_dir: `models/` with `categories.json` and the model directories it names.
        workers: worker processes; None picks `inference.pool.default_worker_count()`.
        max_batch_size: the most requests run through a model at once.
        max_wait_ms: how long a partial batch waits for more requests (0: never waits).
        max_queue: requests that may wait; one more gets `OverloadedError` at once.
        runtime: "litert" (default, fastest measured), "tf" or "keras".
        worker_nice: how much lower than this process the workers run (`WorkerPool`).

    Bad models or `categories.json` raise `ModelLoadError` here, before anything is served.
    Behaviour on overload, superseded requests, dead workers and shutdown: `inference.pool`.
    """
    pool = WorkerPool(Path(models_dir), workers=workers, max_batch_size=max_batch_size,
                      max_wait_ms=max_wait_ms, max_queue=max_queue, runtime=runtime,
                      worker_nice=worker_nice)
    async with pool:
        yield pool
