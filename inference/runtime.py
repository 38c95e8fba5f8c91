"""Load a model directory into an inference runtime: the only module that imports TensorFlow,
LiteRT or ONNX Runtime (lazily, so a worker only pays for the runtime it uses).

Every runtime exposes the same small interface, `ModelRuntime.predict(batch) -> probabilities`,
and takes a float32 batch shaped like the model card's raster spec, or for a model that also
reads the drawing's points (a card `"input"` with a `"sequence"` part, `inference.inputs`) the
pair (images, points).

Runtimes (measured in `bench/inference/README.md`):
- ``litert``: the LiteRT interpreter over `model.tflite`, one interpreter per batch bucket so the
  batch dimension is fixed and never re-allocated on the hot path. The default: fastest here.
- ``tf``: the exported `saved_model/` serving function, through a `tf.function` traced once
  per batch bucket (a concrete function with a fully static shape each).
- ``keras``: `model.keras` with `model.predict` per call: the baseline, slow on small batches.

Batches run on buckets (powers of two up to `max_batch_size`): LiteRT covers a batch with the
cheapest mix of buckets, from each bucket's cost timed when the model loads (`plan_chunks`:
splitting 5 rows into 4 + 1 for a small CNN, padding them to 8 for a network with a costly call);
the others pad it up to the next bucket and drop the padding rows from the output.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from inference import inputs as model_inputs
from inference.errors import ModelLoadError

RUNTIMES = ("litert", "tf", "keras")
DEFAULT_RUNTIME = "litert"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model directory says about itself, read without importing any runtime."""

    name: str
    path: Path
    labels: tuple[str, ...]
    spec: dict  # the raster spec from card.json "input"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one raster."""
        size = int(self.spec["size"])
        return (size, size, len(self.spec.get("channels", ["ink"])))

    @property
    def sequence_shape(self) -> tuple[int, int] | None:
        """(points, features) of the second input, for a model that reads points too; else None."""
        return model_inputs.sequence_shape(self.spec)


def read_model_info(model_dir: Path) -> ModelInfo:
    """Read `labels.json` and `card.json` of a model directory."""
    model_dir = Path(model_dir)
    try:
        labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
        card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read model directory {model_dir}: {exc}") from exc
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelLoadError(f"{model_dir}/labels.json must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise ModelLoadError(f"{model_dir}/labels.json has duplicate labels")
    spec = card.get("input") if isinstance(card, dict) else None
    if not isinstance(spec, dict) or "size" not in spec:
        raise ModelLoadError(f"{model_dir}/card.json needs an \"input\" raster spec with a size")
    if spec.get("layout", "NHWC") != "NHWC":
        raise ModelLoadError(f"{model_dir}: only NHWC input layout is supported, "
                             f"not {spec.get('layout')!r}")
    return ModelInfo(name=model_dir.name, path=model_dir, labels=tuple(labels), spec=spec)


class ModelRuntime(Protocol):
    """A loaded model: float32 rasters in, softmax probabilities over `info.labels` out."""

    info: ModelInfo
    kind: str

    def predict(self, batch: "model_inputs.ModelInput") -> np.ndarray:
        """(n, H, W, C) float32 (or those and (n, points, features)) -> (n, len(labels)) float32."""
        ...


def batch_buckets(max_batch_size: int) -> tuple[int, ...]:
    """Powers of two up to and including `max_batch_size` (which is always the last bucket)."""
    buckets, b = [], 1
    while b < max_batch_size:
        buckets.append(b)
        b *= 2
    buckets.append(max_batch_size)
    return tuple(buckets)


def _bucket_for(n: int, buckets: tuple[int, ...]) -> int:
    for b in buckets:
        if b >= n:
            return b
    return buckets[-1]


def plan_chunks(n: int, costs: Mapping[int, float]) -> list[int]:
    """The cheapest bucket sizes that cover `n` rows (the last may be padded), largest first.

    `costs`: bucket -> the time one call of that bucket takes. A small CNN's cost is linear in
    its rows with little per call (qd_kids_v10, int8 weights, one thread: ~43 us a row, ~10 us a
    call), so 5 rows go as 4 + 1 rather than padded to 8; a network with a costly call (an
    unrolled LSTM: ~350 us a call) pads instead. Exact dynamic programming over the row count.
    """
    if n <= 0:
        return []
    buckets = sorted(costs)
    best = [0.0] + [float("inf")] * n
    choice = [0] * (n + 1)
    for m in range(1, n + 1):
        for b in buckets:
            c = costs[b] + best[max(0, m - b)]
            if c < best[m]:
                best[m], choice[m] = c, b
    out, m = [], n
    while m > 0:
        out.append(choice[m])
        m = max(0, m - choice[m])
    return sorted(out, reverse=True)


def _chunks(batch: np.ndarray, size: int):
    for start in range(0, len(batch), size):
        yield batch[start:start + size]


class LiteRTRuntime:
    """LiteRT interpreter per batch bucket over `model.tflite` (float32 in and out; weights float32
    or int8, as the model card's `tflite_weights` says)."""

    kind = "litert"

    def __init__(self, info: ModelInfo, *, threads: int, max_batch_size: int) -> None:
        from ai_edge_litert.interpreter import Interpreter  # the only LiteRT import

        self.info = info
        self._threads = threads
        self._buckets = batch_buckets(max_batch_size)
        try:
            self._content = (info.path / "model.tflite").read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read {info.path}/model.tflite: {exc}") from exc
        self._interpreter_cls = Interpreter
        self._by_bucket: dict[int, tuple[object, tuple[int, ...], int]] = {}
        self._interpreter(1)
        try:
            for b in self._buckets[1:]:  # allocate everything up front, not on the hot path
                self._interpreter(b)
        except ModelLoadError:
            # A graph exported with a fixed batch of 1 (a hard-coded reshape) cannot be
            # resized: run it one row at a time rather than not at all.
            self._buckets = (1,)
            self._by_bucket = {1: self._by_bucket[1]}
        self.bucket_costs = self._time_buckets()
        self._plans: dict[int, list[int]] = {}

    def _time_buckets(self, repeats: int = 3) -> dict[int, float]:
        """Seconds one call of each bucket takes (the fastest of a few, on zeros): what
        `plan_chunks` weighs splitting a batch against padding it with."""
        costs = {}
        for b in self._buckets:
            rows = np.zeros((b, *self.info.input_shape), np.float32)
            if self.info.sequence_shape is not None:
                rows = (rows, np.zeros((b, *self.info.sequence_shape), np.float32))
            self._invoke(rows, b)  # warm
            runs = []
            for _ in range(repeats):
                t = time.perf_counter()
                self._invoke(rows, b)
                runs.append(time.perf_counter() - t)
            costs[b] = min(runs)
        return costs

    def _interpreter(self, bucket: int):
        entry = self._by_bucket.get(bucket)
        if entry is None:
            try:
                interp = self._interpreter_cls(model_content=self._content,
                                               num_threads=self._threads)
                indices = self._resize_inputs(interp, bucket)
                interp.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelLoadError(f"LiteRT cannot load {self.info.path}/model.tflite: "
                                     f"{exc}") from exc
            out = interp.get_output_details()[0]
            entry = (interp, indices, out["index"])
            self._by_bucket[bucket] = entry
        return entry

    def _resize_inputs(self, interp, bucket: int) -> tuple[int, ...]:
        """Give the interpreter's inputs the bucket's batch; their tensor indices, in the order
        of a batch's parts (the image, then the points if the card has them)."""
        details = interp.get_input_details()
        shapes = [self.info.input_shape]
        if self.info.sequence_shape is not None:
            shapes.append(self.info.sequence_shape)
        if len(details) != len(shapes):
            raise ModelLoadError(f"{self.info.path}/model.tflite has {len(details)} inputs, its card "
                                 f"describes {len(shapes)}")
        indices = []
        for shape in shapes:  # matched by rank: images are 4-D, point sequences 3-D
            match = [d for d in details if len(d["shape"]) == len(shape) + 1]
            if len(match) != 1:
                raise ModelLoadError(f"{self.info.path}/model.tflite: no single input of rank "
                                     f"{len(shape) + 1} for the card's {shape} input")
            interp.resize_tensor_input(match[0]["index"], [bucket, *shape], strict=False)
            indices.append(match[0]["index"])
        return tuple(indices)

    def predict(self, batch: "model_inputs.ModelInput") -> np.ndarray:
        n = model_inputs.rows(batch)
        if n == 0:
            return np.zeros((0, len(self.info.labels)), np.float32)
        batch = model_inputs.as_float32(batch)
        sizes = self._plans.get(n)
        if sizes is None:
            sizes = plan_chunks(n, self.bucket_costs)
            if n <= 4 * self._buckets[-1]:  # a worker sees the same few sizes again and again
                self._plans[n] = sizes
        if len(sizes) == 1:
            return self._invoke(batch, sizes[0])
        # The cheapest cover of the rows by buckets (see plan_chunks); the last may be padded.
        parts, start = [], 0
        for size in sizes:
            parts.append(self._invoke(model_inputs.take(batch, start, start + size), size))
            start += size
        return np.concatenate(parts)[:n]

    def _invoke(self, rows: "model_inputs.ModelInput", bucket: int) -> np.ndarray:
        """Run `rows` (at most `bucket` of them, padded with zeros) on the bucket's interpreter."""
        interp, in_indices, out_idx = self._interpreter(bucket)
        n = model_inputs.rows(rows)
        for index, part in zip(in_indices, rows if isinstance(rows, tuple) else (rows,)):
            if n != bucket:
                padded = np.zeros((bucket, *part.shape[1:]), np.float32)
                padded[:n] = part
                part = padded
            interp.set_tensor(index, part)
        interp.invoke()
        return interp.get_tensor(out_idx)[:n].copy()


def _configure_tensorflow(threads: int):
    import tensorflow as tf  # the only TensorFlow import

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process: keep what was set first
    return tf


class TFFunctionRuntime:
    """The exported SavedModel's serving function, one traced `tf.function` per bucket."""

    kind = "tf"

    def __init__(self, info: ModelInfo, *, threads: int, max_batch_size: int) -> None:
        if info.sequence_shape is not None:
            raise ModelLoadError(f"{info.path}: the tf runtime serves raster-only models; this one "
                                 "reads points too (use litert or keras)")
        tf = _configure_tensorflow(threads)
        self.info = info
        self._buckets = batch_buckets(max_batch_size)
        try:
            loaded = tf.saved_model.load(str(info.path / "saved_model"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load {info.path}/saved_model: {exc}") from exc
        self._loaded = loaded  # keep the trackable alive
        serve = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
        if hasattr(loaded, "serve"):
            fn = loaded.serve
        elif serve is not None:
            def fn(x, _serve=serve):
                return next(iter(_serve(x).values()))
        else:
            raise ModelLoadError(f"{info.path}/saved_model has no serving function")
        traced = tf.function(lambda x: fn(x))
        # One concrete function per bucket: every graph has a fully static shape, traced and
        # warmed now rather than on the first request of that size.
        self._fns = {}
        for b in self._buckets:
            concrete = traced.get_concrete_function(
                tf.TensorSpec([b, *info.input_shape], tf.float32))
            concrete(tf.zeros([b, *info.input_shape], tf.float32))
            self._fns[b] = concrete
        self._tf = tf

    def predict(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        if n > self._buckets[-1]:
            return np.concatenate([self.predict(c) for c in _chunks(batch, self._buckets[-1])])
        bucket = _bucket_for(n, self._buckets)
        if n != bucket:
            padded = np.zeros((bucket, *batch.shape[1:]), np.float32)
            padded[:n] = batch
            batch = padded
        out = self._fns[bucket](self._tf.constant(batch, dtype=self._tf.float32))
        return np.asarray(out)[:n]


class KerasPredictRuntime:
    """`model.keras` through `model.predict`: the baseline the others are measured against."""

    kind = "keras"

    def __init__(self, info: ModelInfo, *, threads: int, max_batch_size: int) -> None:
        _configure_tensorflow(threads)
        import keras

        self.info = info
        try:
            self._model = keras.models.load_model(info.path / "model.keras", compile=False)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load {info.path}/model.keras: {exc}") from exc

    def predict(self, batch: "model_inputs.ModelInput") -> np.ndarray:
        x = list(batch) if isinstance(batch, tuple) else batch
        return np.asarray(self._model.predict(x, verbose=0), dtype=np.float32)


def load_runtime(model_dir: Path, kind: str = DEFAULT_RUNTIME, *, threads: int = 1,
                 max_batch_size: int = 64) -> ModelRuntime:
    """Load `model_dir` in runtime `kind` ("litert", "tf" or "keras").

    threads: intra-op threads of the runtime. One per worker process by default: with two
    cores and one worker per core, more threads only contend with the other worker.
    """
    info = read_model_info(Path(model_dir))
    if kind == "litert":
        return LiteRTRuntime(info, threads=threads, max_batch_size=max_batch_size)
    if kind == "tf":
        return TFFunctionRuntime(info, threads=threads, max_batch_size=max_batch_size)
    if kind == "keras":
        return KerasPredictRuntime(info, threads=threads, max_batch_size=max_batch_size)
    raise ValueError(f"unknown runtime {kind!r}; choose one of {', '.join(RUNTIMES)}")


def quiet_runtime_logs() -> None:
    """Silence TensorFlow's C++ start-up chatter in worker processes (call before loading)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
