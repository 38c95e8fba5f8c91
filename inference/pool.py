"""The recognition worker pool: requests from every game, batched, answered by worker processes.

Shape:

- The server process (one asyncio loop) validates a request against the `ModelRegistry` (bad
  category or label: refused at once), then queues it in a `Batcher`. Requests are spread over
  worker slots by drawing key (`hash(drawing_key) % workers`), so every stroke of a drawing goes
  to the same worker, whose incremental raster cache then only rasterises the new strokes.
- Each slot owns one worker process (rasterising plus inference in Python hold the GIL, so
  processes, not threads, scale over the cores; see the bench README) and has at most one batch
  in flight: while a worker computes, the next batch fills up.
- Frames over a Unix socket pair: a 4-byte length and a pickle.
- A worker process collects cyclic garbage only between batches, rarely
  (`inference.gc_policy.IdleCollector`): automatic collections paused batches for nothing.

Outcomes a caller can get (all `InferenceError`s, see `inference.errors`):

- overload: the queue is full -> `OverloadedError` at once (no waiting; the next stroke will ask
  again).
- superseded: a newer request for the same drawing replaced this one while it was queued -> this
  caller gets the newer request's result, or its error (latest wins; never a hang). Only if the
  newer caller is cancelled before its answer does this one get `SupersededError`.
- dead worker: its in-flight requests are queued again once (at the front); if the retry dies too
  -> `WorkerCrashedError`. A worker stuck on one batch for `batch_timeout_s` is killed and
  counts as dead. The slot starts a new worker; if workers keep failing to start, the
  slot's requests fail with `WorkerCrashedError` and the pool reports itself broken.
- shutdown: everything still queued or in flight -> `PoolClosedError`.
"""
from __future__ import annotations

import asyncio
import logging
import json
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inference import inputs as model_inputs
from inference.api import Guess, RecognizeRequest
from inference.batcher import Batcher, BatchPolicy, Entry, QueueFullError
from inference.errors import (BadRequestError, InferenceError, ModelLoadError, PoolClosedError,
                              SupersededError, WorkerCrashedError)
from inference.gc_policy import IdleCollector, settle_after_startup
from inference.registry import ModelRegistry

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<I")
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
_MAX_RESTART_FAILURES = 3  # consecutive workers of one slot failing to start: the slot is broken
DEFAULT_WORKER_START_TIMEOUT_S = 120.0
# A batch takes milliseconds; a worker still busy after this is stuck (a bug, or a pathological
# drawing) and is killed, so no caller waits forever.
DEFAULT_BATCH_TIMEOUT_S = 10.0
# Measured with the real server (bench.load, 400-800 children, bench/README.md): workers at nice
# 10 halved the p99 of stroke-to-guess and of the stroke acknowledgement at 600 and 800 children,
# with as many guesses answered.
DEFAULT_WORKER_NICE = 10


def default_worker_count() -> int:
    """One worker process per core the process may use.

    Rasterising dominates a request (about 0.5 ms of Python per stroke on a quiet core, the
    model about 0.07 ms), while the server's event loop spends well under 0.1 ms per request; so
    on the 2-core machine 2 workers nearly doubled throughput over 1 (bench/inference/README.md).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


# --------------------------------------------------------------------------- framing


def _send_frame(sock: socket.socket, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _recv_frame(sock: socket.socket) -> Any:
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    data = _recv_exact(sock, _HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


# --------------------------------------------------------------------------- worker side


class _RasterCache:
    """Per worker: the incremental raster of each drawing the pool routed here.

    The pool decides what is cached (it mirrors this cache, see `_Slot.sent`): a request
    carries only the strokes this worker has not seen (`base` = how many it has), and the pool's
    `forget` list says which drawings to drop. So a drawing's strokes cross the socket once, and
    each stroke is simplified once.
    """

    def __init__(self, raster_module: Any) -> None:
        self._raster = raster_module
        self._entries: dict[tuple[str, str], list] = {}  # (key, model) -> [raster, n, image]

    def forget(self, keys: list[tuple[str, str]]) -> None:
        for k in keys:
            self._entries.pop(k, None)

    def image(self, key: str, model: str, spec: dict, base: int, new_strokes: list) -> Any:
        """The drawing's model input row (its raster, and its points if the model reads them)."""
        cache_key = (key, model)
        if base == 0:
            entry = [self._raster.IncrementalRaster(spec), 0, None]
        else:
            entry = self._entries.get(cache_key)
            if entry is None or entry[1] != base:
                raise _CacheOutOfSync(f"worker has {entry[1] if entry else 0} strokes of "
                                      f"{key!r}, the pool assumed {base}")
        try:
            if new_strokes or entry[2] is None:
                for stroke in new_strokes:
                    entry[0].add_stroke(stroke)
                entry[1] += len(new_strokes)
                entry[2] = model_inputs.incremental_input(entry[0], entry[0].image(), spec)
        except Exception:
            self._entries.pop(cache_key, None)  # half-added: start again next time
            raise
        self._entries[cache_key] = entry
        return entry[2]


class _CacheOutOfSync(Exception):
    """The pool and the worker disagree about a cached drawing (a bug, answered as an error)."""


def _stroke_signature(stroke: Any) -> Any:
    """Cheap identity of a stroke: its length and last point (strokes are append-only).

    A malformed stroke gets a fresh object, equal to nothing: the whole drawing then goes to
    the worker, whose rasteriser refuses it with a clear error for that request alone.
    """
    try:
        n = len(stroke)
        return (n, tuple(stroke[-1]) if n else None)
    except Exception:
        return object()


def _top_guesses(probs: np.ndarray, labels: tuple[str, ...], top_k: int) -> list[list[tuple[str, float]]]:
    """Rows of probabilities already masked to `labels`: renormalise, best `top_k` per row.

    Called once per batch, often of one row: written with few numpy calls (each ~1 us)."""
    totals = probs.sum(axis=1)
    if not (totals > 0.0).all():  # all zero (or NaN): say so evenly rather than divide by zero
        probs = probs.copy()
        probs[~(totals > 0.0)] = 1.0
        totals = probs.sum(axis=1)
    probs = probs / totals[:, None]
    k = min(top_k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k].tolist()
    return [[(labels[i], row[i]) for i in o] for o, row in zip(order, probs.tolist())]


def _handle_batch(items: list[tuple], cache: _RasterCache, runtimes: dict, specs: dict
                  ) -> list[tuple[int, bool, Any]]:
    """Rasterise, predict (one call per model) and mask one batch; one result per item."""
    results: list[tuple[int, bool, Any]] = []
    by_model: dict[str, list[tuple[int, np.ndarray, tuple]]] = {}
    for req_id, key, model, labels, index, top_k, base, strokes in items:
        try:
            image = cache.image(key, model, specs[model], base, strokes)
        except _CacheOutOfSync as exc:
            results.append((req_id, False, ("error", str(exc))))
            continue
        except Exception as exc:  # bad strokes: this request fails, the batch goes on
            results.append((req_id, False, ("bad_request", f"cannot rasterise the strokes: {exc}")))
            continue
        by_model.setdefault(model, []).append((req_id, image, (labels, index, top_k)))
    for model, rows in by_model.items():
        try:
            probs = runtimes[model].predict(model_inputs.stack([image for _, image, _ in rows]))
        except Exception as exc:
            results.extend((req_id, False, ("error", f"model {model!r} failed: {exc}"))
                           for req_id, _, _ in rows)
            continue
        groups: dict[tuple, list[int]] = {}
        for i, (_, _, mask) in enumerate(rows):
            groups.setdefault(mask, []).append(i)
        for (labels, index, top_k), members in groups.items():
            # One category in the batch (the usual case): its columns, no row selection.
            masked = probs.take(index, axis=1) if len(members) == len(rows) else probs[np.ix_(members, index)]
            guesses = _top_guesses(masked, labels, top_k)
            results.extend((rows[i][0], True, g) for i, g in zip(members, guesses))
    return results


def _worker_loop(sock: socket.socket, models_dir: str, runtime_kind: str, threads: int,
                 max_batch_size: int, raster_module_name: str, nice: int = 0) -> None:
    """Serve batches on `sock` until it closes. Runs in a worker process (or a thread)."""
    import importlib

    from inference.runtime import load_runtime

    own_process = threading.current_thread() is threading.main_thread()
    try:
        if nice and own_process:
            try:
                os.nice(nice)  # see WorkerPool: the server's event loop goes first
            except OSError:  # a speed measure only: serving at the pool's priority beats not
                pass
        raster = importlib.import_module(raster_module_name)
        registry = ModelRegistry.load(Path(models_dir))
        runtimes = {name: load_runtime(info.path, runtime_kind, threads=threads,
                                       max_batch_size=max_batch_size)
                    for name, info in registry.models.items()}
    except Exception as exc:  # report why, then exit: the pool decides what to do
        _send_frame(sock, ("error", f"{type(exc).__name__}: {exc}"))
        sock.close()
        return
    specs = {name: rt.info.spec for name, rt in runtimes.items()}
    cache = _RasterCache(raster)
    collector = None
    if own_process:
        settle_after_startup()
        collector = IdleCollector()  # collect between batches, not in the middle of one
    _send_frame(sock, ("ready", os.getpid()))
    while True:
        if collector is not None:
            collector.step(idle=not select.select([sock], [], [], 0)[0])
        msg = _recv_frame(sock)
        if msg is None:
            break
        batch_id, forget, items = msg
        cache.forget(forget)
        _send_frame(sock, (batch_id, _handle_batch(items, cache, runtimes, specs)))
    sock.close()


def _worker_process_main(sock: socket.socket, config: dict) -> None:
    try:
        _worker_loop(sock, **config)
    except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass  # the pool went away


def _worker_cli(argv: list[str]) -> None:
    """`python -m inference.pool FD CONFIG_JSON`: how the pool starts a worker process."""
    sock = socket.socket(fileno=int(argv[0]))
    _worker_process_main(sock, json.loads(argv[1]))


# --------------------------------------------------------------------------- pool side


@dataclass(slots=True)
class _Job:
    request: RecognizeRequest
    model: str
    index: tuple[int, ...]
    labels: tuple[str, ...]
    future: asyncio.Future
    req_id: int
    enqueued_s: float = 0.0


@dataclass(slots=True)
class _Slot:
    index: int
    batcher: Batcher
    process: Any = None  # subprocess.Popen or threading.Thread
    pid: int | None = None
    writer: asyncio.StreamWriter | None = None
    reader_task: asyncio.Task | None = None
    in_flight: list[Entry] | None = None
    deadline: asyncio.TimerHandle | None = None  # kills a worker stuck on its batch
    ready: bool = False
    timer: asyncio.TimerHandle | None = None
    start_failures: int = 0
    broken: str | None = None
    generation: int = 0
    # What the worker's raster cache holds: (key, model) -> (strokes sent, last and first
    # strokes' signatures), least recently used first; evicted keys go to the worker in `forget`.
    sent: OrderedDict = field(default_factory=OrderedDict)
    forget: list = field(default_factory=list)


@dataclass
class PoolStats:
    """Counters for metrics and the benchmark."""

    submitted: int = 0
    completed: int = 0
    superseded: int = 0
    rejected: int = 0
    retried: int = 0
    crashed: int = 0
    worker_restarts: int = 0
    stuck: int = 0  # workers killed for sitting on a batch past batch_timeout_s
    batches: int = 0
    batch_items: int = 0
    extra: dict = field(default_factory=dict)


class WorkerPool:
    """`inference.api.Recognizer` backed by worker processes; use as an async context manager.

    Args:
        models_dir: the `models/` directory (categories.json plus model directories).
        workers: worker processes (None: `default_worker_count()`).
        max_batch_size, max_wait_ms: the batching policy (see `inference.batcher`).
        max_queue: requests that may wait, over all workers.
        runtime: "litert" (default), "tf" or "keras" (see `inference.runtime`).
        threads_per_worker: intra-op threads per worker runtime (1: one core per worker).
        worker_kind: "process" (default) or "thread" (only to measure the GIL's cost).
        raster_module: the module with `IncrementalRaster` (the real `inference.raster`).
        raster_cache_size: drawings whose incremental raster each worker keeps.
        worker_start_timeout_s: how long a worker may take to load its models.
        batch_timeout_s: a worker still on one batch after this is killed (and the batch
            retried once on its replacement).
        worker_nice: how much lower than this process the workers run (0-19, Unix nice). The
            process owning the pool is the game server's event loop: timers, stroke
            acknowledgements and every answer pass through it, and the workers are the bulk of
            the CPU; below it, the loop is scheduled first when both want a core
            (`DEFAULT_WORKER_NICE`; 0 runs them level with this process).
    """

    def __init__(self, models_dir: Path, *, workers: int | None = None, max_batch_size: int = 32,
                 max_wait_ms: float = 0.0, max_queue: int = 256, runtime: str = "litert",
                 threads_per_worker: int = 1, worker_kind: str = "process",
                 raster_module: str = "inference.raster", raster_cache_size: int = 4096,
                 worker_start_timeout_s: float = DEFAULT_WORKER_START_TIMEOUT_S,
                 batch_timeout_s: float = DEFAULT_BATCH_TIMEOUT_S,
                 worker_nice: int = DEFAULT_WORKER_NICE) -> None:
        if worker_kind not in ("process", "thread"):
            raise ValueError("worker_kind must be 'process' or 'thread'")
        if type(worker_nice) is not int or not 0 <= worker_nice <= 19:
            raise ValueError(f"worker_nice must be an integer from 0 to 19, not {worker_nice!r}")
        self.worker_nice = worker_nice
        self.models_dir = Path(models_dir)
        self.registry = ModelRegistry.load(self.models_dir)  # bad models fail here, loudly
        self.workers = workers if workers is not None else default_worker_count()
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        # Each slot's batcher could hold all of max_queue; the pool bounds the total (submit).
        self.policy = BatchPolicy(max_batch_size, max_wait_ms, max_queue)
        self.max_queue = max_queue
        self.runtime = runtime
        self.threads_per_worker = threads_per_worker
        self.worker_kind = worker_kind
        self.raster_module = raster_module
        self.raster_cache_size = raster_cache_size
        self.worker_start_timeout_s = worker_start_timeout_s
        self.batch_timeout_s = batch_timeout_s
        self.stats = PoolStats()
        self._slots = [_Slot(i, Batcher(self.policy)) for i in range(self.workers)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = 0
        self._closed = True
        self._waiters: list[asyncio.Future] = []
        self._restarts: set[asyncio.Task] = set()
        self._resolved: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[int, ...]]] = {}
        self._models_used: set[str] = set()  # models requests went to (to forget drawings)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> "WorkerPool":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def start(self) -> None:
        """Start every worker and wait until each has loaded its models."""
        self._loop = asyncio.get_running_loop()
        self._closed = False
        try:
            await asyncio.gather(*(self._start_worker(slot) for slot in self._slots))
        except BaseException:
            await self.close()
            raise

    async def _start_worker(self, slot: _Slot) -> None:
        """Start the slot's worker and wait for its ready frame; raise if it cannot start."""
        parent, child = socket.socketpair()
        config = {"models_dir": str(self.models_dir), "runtime_kind": self.runtime,
                  "threads": self.threads_per_worker,
                  "max_batch_size": self.policy.max_batch_size,
                  "raster_module_name": self.raster_module, "nice": self.worker_nice}
        if self.worker_kind == "process":
            # A plain subprocess running this module, not multiprocessing: spawn would re-import
            # the server's __main__ in every worker, and fork would copy the event loop.
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                [_PROJECT_ROOT, *filter(None, [env.get("PYTHONPATH")])])
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "inference.pool", str(child.fileno()),
                     json.dumps(config)],
                    pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
            finally:
                child.close()  # the worker has its copy; ours would hide the worker's death
        else:
            proc = threading.Thread(target=_worker_process_main, args=(child, config),
                                    name=f"inference-worker-{slot.index}", daemon=True)
            proc.start()
        slot.process = proc
        slot.generation += 1
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        try:
            kind, detail = await asyncio.wait_for(self._read_frame(reader),
                                                  self.worker_start_timeout_s)
        except asyncio.CancelledError:  # the pool is closing: leave no worker behind
            writer.close()
            self._kill(slot)
            raise
        except (asyncio.IncompleteReadError, ConnectionError, TypeError) as exc:
            writer.close()
            raise PoolClosedError(f"inference worker {slot.index} died while starting") from exc
        except asyncio.TimeoutError:
            writer.close()
            self._kill(slot)
            raise PoolClosedError(f"inference worker {slot.index} did not start within "
                                  f"{self.worker_start_timeout_s:.0f} s") from None
        if kind != "ready":
            writer.close()
            raise ModelLoadError(f"inference worker {slot.index} cannot start: {detail}")
        slot.pid = detail
        slot.writer = writer
        slot.ready = True
        slot.start_failures = 0
        slot.reader_task = asyncio.create_task(self._read_results(slot, reader, slot.generation),
                                               name=f"inference-reader-{slot.index}")
        self._pump(slot)
        self._notify()

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader) -> Any:
        header = await reader.readexactly(_HEADER.size)
        return pickle.loads(await reader.readexactly(_HEADER.unpack(header)[0]))

    async def close(self) -> None:
        """Stop the workers; everything queued or in flight fails with `PoolClosedError`."""
        if self._closed and all(s.process is None for s in self._slots):
            return
        self._closed = True
        restarts, self._restarts = self._restarts, set()
        for task in restarts:
            task.cancel()
        await asyncio.gather(*restarts, return_exceptions=True)
        err = PoolClosedError("the inference pool is shut down")
        for slot in self._slots:
            if slot.timer is not None:
                slot.timer.cancel()
                slot.timer = None
            for entry in slot.batcher.drain():
                self._fail(entry.item, err)
            for entry in slot.in_flight or ():
                self._fail(entry.item, err)
            slot.in_flight = None
            if slot.deadline is not None:
                slot.deadline.cancel()
                slot.deadline = None
            slot.ready = False
            if slot.reader_task is not None:
                slot.reader_task.cancel()
            if slot.writer is not None:
                slot.writer.close()  # the worker sees EOF and exits
                slot.writer = None
        for slot in self._slots:
            proc, slot.process = slot.process, None
            if isinstance(proc, subprocess.Popen):
                try:
                    await asyncio.to_thread(proc.wait, 5.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    await asyncio.to_thread(proc.wait)
        self._notify()

    def _kill(self, slot: _Slot) -> None:
        if isinstance(slot.process, subprocess.Popen) and slot.process.poll() is None:
            slot.process.kill()

    # ------------------------------------------------------------------ Recognizer

    def known_labels(self, category: str) -> frozenset[str]:
        """The labels `category` can be answered with (empty if no model serves it)."""
        return self.registry.known_labels(category)

    def check_labels(self, category: str, labels: Sequence[str]) -> dict[str, str | None]:
        """Per label: None when a shipped model can recognise it in `category`, else why not
        (`ModelRegistry.check_labels`)."""
        return self.registry.check_labels(category, labels)

    def assign_categories(self, categories: Mapping[str, Sequence[str]]) -> None:
        """Serve exactly these categories' labels from now on (`ModelRegistry.assign_categories`);
        requests are then checked against them."""
        self.registry.assign_categories(categories)
        self._resolved.clear()  # cached answers were checked against the previous labels

    def forget(self, drawing_key: str) -> None:
        """The drawing is finished: its worker drops its incremental raster (told with the next
        batch), so a worker holds only the drawings being drawn, not every one since it
        started (a kept raster is tens of KiB)."""
        if not self._slots:
            return
        slot = self._slot_for(drawing_key)
        for model in self._models_used:
            cache_key = (drawing_key, model)
            if slot.sent.pop(cache_key, None) is not None:
                slot.forget.append(cache_key)

    def _slot_for(self, drawing_key: str) -> _Slot:
        """The slot every request of this drawing goes to (its worker holds the raster)."""
        return self._slots[zlib.crc32(drawing_key.encode()) % len(self._slots)]

    async def recognize(self, request: RecognizeRequest) -> list[Guess]:
        """Queue the request and wait for its guesses (or the newer request's, if superseded).

        Raises `UnknownCategoryError`, `UnknownLabelError` or `BadRequestError` at once for a bad
        request, `OverloadedError` when the queue is full, `WorkerCrashedError` or
        `PoolClosedError` as described in the module docstring.
        """
        future = self.submit(request)
        return await future

    def submit(self, request: RecognizeRequest) -> asyncio.Future:
        """Queue `request` without waiting: returns the future of its guesses."""
        if self._closed:
            raise PoolClosedError("the inference pool is not running")
        if not isinstance(request.top_k, int) or request.top_k < 1:
            raise BadRequestError(f"top_k must be a positive integer, got {request.top_k!r}")
        if not isinstance(request.strokes, Sequence) or isinstance(request.strokes, (str, bytes)):
            raise BadRequestError("strokes must be a list of strokes, each a list of (x, y, t) "
                                  f"points, not {type(request.strokes).__name__}")
        labels = tuple(request.labels)
        resolved = self._resolved.get((request.category, labels))
        if resolved is None:
            resolved = self.registry.resolve(request.category, labels)  # raises if refused
            self._models_used.add(resolved[0])
            if len(self._resolved) < 4096:
                self._resolved[(request.category, labels)] = resolved
        model, index = resolved
        slot = self._slot_for(request.drawing_key)
        if slot.broken is not None:
            raise WorkerCrashedError(slot.broken)
        loop = self._loop
        assert loop is not None
        self._next_id += 1
        job = _Job(request, model, index, labels, loop.create_future(), self._next_id)
        now_s = loop.time()
        job.enqueued_s = now_s
        if request.drawing_key not in slot.batcher and self.queued() >= self.max_queue:
            self.stats.rejected += 1
            raise QueueFullError(f"inference queue is full ({self.max_queue} requests waiting); "
                                 "try again with the next stroke")
        try:
            replaced = slot.batcher.submit(request.drawing_key, job, now_s * 1000.0)
        except InferenceError:
            self.stats.rejected += 1
            raise
        self.stats.submitted += 1
        if replaced is not None:
            self.stats.superseded += 1
            self._chain(replaced, job)
        self._pump(slot)
        return job.future

    # ------------------------------------------------------------------ dispatch

    def _chain(self, old: _Job, new: _Job) -> None:
        """Answer the superseded caller with whatever the newer request gets."""
        def copy(done: asyncio.Future, target: asyncio.Future = old.future) -> None:
            if target.done():
                return
            if done.cancelled():  # the newer caller gave up: nobody computes this drawing now
                target.set_exception(SupersededError(old.request.drawing_key))
            elif done.exception() is not None:
                target.set_exception(done.exception())
            else:
                target.set_result(done.result())
        new.future.add_done_callback(copy)

    def _pump(self, slot: _Slot) -> None:
        """Send the slot's next batch if its worker is free and the policy says so."""
        if not slot.ready or slot.in_flight is not None or self._closed:
            return
        loop = self._loop
        now_ms = loop.time() * 1000.0
        batch = slot.batcher.take(now_ms, force=self.policy.max_wait_ms == 0)
        batch = [e for e in batch if not e.item.future.done()]  # cancelled callers
        if not batch:
            deadline = slot.batcher.next_deadline_ms()
            if deadline is not None and slot.timer is None:
                slot.timer = loop.call_at(deadline / 1000.0, self._on_timer, slot)
            self._check_idle()
            return
        items = []
        sent, cap = slot.sent, self.raster_cache_size
        for entry in batch:
            job: _Job = entry.item
            entry.attempts += 1
            r = job.request
            strokes = r.strokes
            n = len(strokes)
            cache_key = (r.drawing_key, job.model)
            prev = sent.get(cache_key)
            # Send only the strokes the worker lacks, if the drawing just grew (checked on the
            # count and the first and last strokes sent: strokes are append-only); else all.
            if prev is not None and prev[0] <= n and (prev[0] == 0 or (
                    _stroke_signature(strokes[prev[0] - 1]) == prev[1]
                    and _stroke_signature(strokes[0]) == prev[2])):
                base = prev[0]
                sent.move_to_end(cache_key)
            else:
                base = 0
            sent[cache_key] = ((n, _stroke_signature(strokes[-1]), _stroke_signature(strokes[0]))
                               if n else (0, None, None))
            if len(sent) > cap:
                slot.forget.append(sent.popitem(last=False)[0])
            items.append((job.req_id, r.drawing_key, job.model, job.labels, job.index,
                          r.top_k, base, list(strokes[base:])))
        forget, slot.forget = slot.forget, []
        try:
            payload = pickle.dumps((id(batch), forget, items), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            batch, payload = self._drop_unpicklable(slot, batch, items, forget)
            if not batch:
                return self._pump(slot)
        slot.in_flight = batch
        slot.deadline = loop.call_later(self.batch_timeout_s, self._on_stuck, slot, batch)
        self.stats.batches += 1
        self.stats.batch_items += len(batch)
        slot.writer.write(_HEADER.pack(len(payload)) + payload)

    def _drop_unpicklable(self, slot: _Slot, batch: list[Entry], items: list[tuple],
                          forget: list) -> tuple[list[Entry], bytes]:
        keep_entries, keep_items = [], []
        for entry, item in zip(batch, items):
            try:
                pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                slot.sent.pop((entry.key, entry.item.model), None)
                self._fail(entry.item, BadRequestError(f"strokes are not plain numbers: {exc}"))
                continue
            keep_entries.append(entry)
            keep_items.append(item)
        return keep_entries, pickle.dumps((id(keep_entries), forget, keep_items),
                                          protocol=pickle.HIGHEST_PROTOCOL)

    def _on_timer(self, slot: _Slot) -> None:
        slot.timer = None
        self._pump(slot)

    async def _read_results(self, slot: _Slot, reader: asyncio.StreamReader,
                            generation: int) -> None:
        try:
            while True:
                _, results = await self._read_frame(reader)
                self._deliver(slot, results)
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, OSError, pickle.UnpicklingError,
                ValueError, TypeError) as exc:
            if not self._closed and slot.generation == generation:
                self._on_worker_death(slot, exc)

    def _on_stuck(self, slot: _Slot, batch: list[Entry]) -> None:
        """A worker that sits on a batch this long is as good as dead: kill it (the death path
        then retries the batch once, on a new worker)."""
        if slot.in_flight is batch and not self._closed:
            log.error("inference worker %d (pid %s) spent over %.1f s on a batch: killing it",
                      slot.index, slot.pid, self.batch_timeout_s)
            self.stats.stuck += 1
            self._kill(slot)

    def _deliver(self, slot: _Slot, results: list[tuple[int, bool, Any]]) -> None:
        entries = slot.in_flight or []
        slot.in_flight = None
        if slot.deadline is not None:
            slot.deadline.cancel()
            slot.deadline = None
        by_id = {e.item.req_id: e.item for e in entries}
        for req_id, ok, payload in results:
            job = by_id.pop(req_id, None)
            if job is None or job.future.done():
                continue
            self.stats.completed += 1
            if ok:
                job.future.set_result([Guess(label, p) for label, p in payload])
            else:
                kind, message = payload
                slot.sent.pop((job.request.drawing_key, job.model), None)  # worker dropped it
                job.future.set_exception(BadRequestError(message) if kind == "bad_request"
                                         else InferenceError(message))
        for job in by_id.values():  # a worker that answers short must not leave callers waiting
            self._fail(job, InferenceError("the worker returned no result for this request"))
        self._pump(slot)
        if self._waiters:
            self._notify()

    def _fail(self, job: _Job, exc: BaseException) -> None:
        if not job.future.done():
            job.future.set_exception(exc)

    def _on_worker_death(self, slot: _Slot, exc: BaseException) -> None:
        """Retry the dead worker's batch once, fail what was already retried, start a new one."""
        log.warning("inference worker %d (pid %s) died: %r", slot.index, slot.pid, exc)
        slot.ready = False
        if slot.writer is not None:
            slot.writer.close()
            slot.writer = None
        self._kill(slot)
        slot.sent.clear()  # the new worker starts with an empty raster cache
        slot.forget.clear()
        entries, slot.in_flight = slot.in_flight or [], None
        if slot.deadline is not None:
            slot.deadline.cancel()
            slot.deadline = None
        retry = []
        for entry in entries:
            if entry.attempts >= 2:
                self.stats.crashed += 1
                self._fail(entry.item, WorkerCrashedError(
                    f"the inference worker died twice while computing this request "
                    f"(drawing {entry.key!r})"))
            elif not entry.item.future.done():
                self.stats.retried += 1
                retry.append(entry)
        for stale, newer in slot.batcher.requeue(retry):
            self.stats.superseded += 1
            self._chain(stale, newer)
        self.stats.worker_restarts += 1
        self._notify()
        task = asyncio.create_task(self._restart(slot), name=f"inference-restart-{slot.index}")
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, slot: _Slot) -> None:
        old = slot.process
        if isinstance(old, subprocess.Popen):
            await asyncio.to_thread(old.wait)  # reap it: no zombies
        while not self._closed:
            try:
                await self._start_worker(slot)
                return
            except InferenceError as exc:
                slot.start_failures += 1
                log.error("inference worker %d failed to restart (%d): %s", slot.index,
                          slot.start_failures, exc)
                if slot.start_failures >= _MAX_RESTART_FAILURES:
                    slot.broken = f"inference worker {slot.index} cannot be restarted: {exc}"
                    for entry in slot.batcher.drain():
                        self._fail(entry.item, WorkerCrashedError(slot.broken))
                    self._notify()
                    return
                await asyncio.sleep(0.2 * 2 ** slot.start_failures)  # back off, then try again

    # ------------------------------------------------------------------ tests and metrics

    @property
    def broken(self) -> list[str]:
        """Why slots stopped serving (empty while the pool is healthy)."""
        return [s.broken for s in self._slots if s.broken is not None]

    def worker_pids(self) -> list[int | None]:
        """The current worker process ids, by slot (for tests and operations)."""
        return [s.pid if s.ready else None for s in self._slots]

    def queued(self) -> int:
        """Requests waiting in the queues (not yet sent to a worker)."""
        return sum(len(s.batcher) for s in self._slots)

    def status(self) -> dict[str, Any]:
        """For `/healthz`: "ok" while every worker serves, "degraded" while some are being
        replaced or cannot be, "down" when none serves (games go on; guesses fail)."""
        serving = sum(1 for s in self._slots if s.ready)
        state = "closed" if self._closed else (
            "ok" if serving == len(self._slots) else "degraded" if serving else "down")
        return {"state": state, "workers": len(self._slots), "serving": serving,
                "queued": self.queued(), "worker_restarts": self.stats.worker_restarts,
                "broken": self.broken}

    def cached_drawings(self) -> int:
        """Drawings whose incremental raster the workers hold (the pool mirrors their caches)."""
        return sum(len(s.sent) for s in self._slots)

    def _is_idle(self) -> bool:
        return all((len(s.batcher) == 0 or s.broken) and s.in_flight is None
                   for s in self._slots)

    def _check_idle(self) -> None:
        if self._waiters and self._is_idle():
            self._notify()

    def _notify(self) -> None:
        """Wake `wait_until` callers to re-check their condition (the pool's state changed)."""
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def wait_until(self, condition) -> None:
        """Wait until `condition()` holds, re-checked whenever a worker starts or dies, a batch
        is answered or the pool closes (for tests and operations; returns early on close)."""
        while not self._closed and not condition():
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter

    async def wait_until_serving(self) -> None:
        """Wait until every slot has a live worker (after a restart), or is broken."""
        await self.wait_until(lambda: all(s.ready or s.broken for s in self._slots))

    async def run_until_idle(self) -> None:
        """Wait until nothing is queued or in flight (every submitted request is answered)."""
        await self.wait_until(self._is_idle)


if __name__ == "__main__":
    _worker_cli(sys.argv[1:])
