"""Loading Quick, Draw! drawings for training: any format, seeded class-balanced splits, rasters."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inference.datasets import Sketch, find_class_files, read_bitmap_npy, read_bitmap_npz, read_strokes
from inference.datasets.readers import class_name_from_path, is_sketchrnn_npz
from inference.raster import rasterize, rasterize_simplified


@dataclass
class LabelData:
    """A class's drawings: `pool` (trainable strokes) and `real` (raw strokes with timing)."""

    pool: list[Sketch] = field(default_factory=list)
    real: list[Sketch] = field(default_factory=list)
    bitmaps: list[np.ndarray] = field(default_factory=list)
    #: Simplified drawings Google's own model missed (`recognized: false`), when held out.
    unrecognized: list[Sketch] = field(default_factory=list)


def _stable_seed(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode()).digest()[:8], "little")


def load_labels(
    data_dir: str | Path,
    labels: Sequence[str],
    max_pool_per_class: int | None = None,
    with_bitmaps: bool = False,
    hold_out_unrecognized: bool = False,
) -> dict[str, LabelData]:
    """Read every stroke file (.ndjson raw/simplified, .bin, sketch-rnn .npz) under `data_dir` for
    these labels. Drawings with timing (raw) go to `real`; the others to `pool`, minus any key_id
    that also appears among the raw drawings (those are held out from training). Optional
    bitmaps (.npy rows, .npz bundles) are collected too. With `hold_out_unrecognized`, simplified
    drawings marked `recognized: false` go to `unrecognized` (a real hard set, never trained on)."""
    wanted = set(labels)
    out = {label: LabelData() for label in labels}
    files = find_class_files(data_dir, (".ndjson", ".bin", ".npz"))
    for word, paths in files.items():
        for path in paths:
            if word not in wanted:
                continue
            if path.suffix == ".npz" and not is_sketchrnn_npz(path):
                continue
            for sketch in read_strokes(path):
                if sketch.word not in wanted:
                    continue
                (out[sketch.word].real if sketch.has_time else out[sketch.word].pool).append(sketch)
    for label, d in out.items():
        real_ids = {s.key_id for s in d.real}
        seen: set[str] = set()
        pool = []
        for s in d.pool:
            if s.key_id in real_ids or s.key_id in seen:
                continue
            seen.add(s.key_id)
            if hold_out_unrecognized and s.recognized is False:
                d.unrecognized.append(s)
            else:
                pool.append(s)
        d.pool = pool
    if with_bitmaps:
        for p in sorted(Path(data_dir).rglob("*")):
            if p.suffix == ".npy" and class_name_from_path(p) in wanted:
                out[class_name_from_path(p)].bitmaps.append(read_bitmap_npy(p))
            elif p.suffix == ".npz" and not is_sketchrnn_npz(p):
                b = read_bitmap_npz(p)
                if b["x"].shape[1:] != (28, 28):
                    continue
                for i, name in enumerate(b["class_names"]):
                    if name in wanted:
                        out[str(name)].bitmaps.append(b["x"][b["y"] == i])
    return out


@dataclass
class Split:
    train: dict[str, list[Sketch]]
    val: dict[str, list[Sketch]]
    test: dict[str, list[Sketch]]
    real: dict[str, list[Sketch]]
    unrecognized: dict[str, list[Sketch]] = field(default_factory=dict)


def split_balanced(
    data: Mapping[str, LabelData],
    seed: int,
    test_per_class: int,
    val_per_class: int,
    max_train_per_class: int | None,
) -> Split:
    """Seeded class-balanced split: per class a shuffle (seeded by seed and class name, so adding
    classes does not move other classes' splits), the same number of test and validation drawings
    for every class, the rest (capped) for training. Raw drawings stay in `real` (held out)."""
    train, val, test, real, unrecognized = {}, {}, {}, {}, {}
    for label, d in data.items():
        rng = np.random.default_rng(_stable_seed(seed, label))
        order = rng.permutation(len(d.pool))
        items = [d.pool[i] for i in order]
        n_test = min(test_per_class, len(items) // 4)
        n_val = min(val_per_class, len(items) // 8)
        test[label] = items[:n_test]
        val[label] = items[n_test : n_test + n_val]
        rest = items[n_test + n_val :]
        train[label] = rest[:max_train_per_class] if max_train_per_class else rest
        real[label] = list(d.real)
        unrecognized[label] = list(d.unrecognized)
    return Split(train, val, test, real, unrecognized)


def _is_google_simplified(drawing: Sequence[Any]) -> bool:
    """Already simplified by Google: two columns per stroke, integers 0..255, min 0 on both axes."""
    try:
        if any(len(s) != 2 for s in drawing):
            return False
        xs = [v for s in drawing for v in s[0]]
        ys = [v for s in drawing for v in s[1]]
        return bool(xs) and min(xs) == 0 and min(ys) == 0 and max(xs + ys) <= 255 and all(float(v).is_integer() for v in xs[:20])
    except (TypeError, ValueError):
        return False


def raster_for_training(drawing: Sequence[Any], spec: Mapping[str, Any]) -> np.ndarray:
    """`rasterize` for any drawing; a drawing Google already simplified is rendered directly
    (`rasterize_simplified`: the same renderer, skipping a second, near no-op RDP pass)."""
    if _is_google_simplified(drawing):
        return rasterize_simplified(drawing, spec)
    return rasterize(drawing, spec, fmt="columns")


def _raster_chunk(args: tuple[list, dict]) -> np.ndarray:
    drawings, spec = args
    return np.stack([raster_for_training(d, spec) for d in drawings]).astype(np.float16)


def rasterize_many(drawings: Sequence[Any], spec: Mapping[str, Any], workers: int = 1, progress: Any = None) -> np.ndarray:
    """Rasterise drawings (column format) with `inference.raster.rasterize`: (n, H, W, C) float16."""
    size = int(spec["size"])
    channels = len(spec["channels"])
    if not drawings:
        return np.zeros((0, size, size, channels), dtype=np.float16)
    chunk = 512
    parts = [list(drawings[i : i + chunk]) for i in range(0, len(drawings), chunk)]
    out = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            for arr in ex.map(_raster_chunk, [(p, dict(spec)) for p in parts]):
                out.append(arr)
                if progress is not None:
                    progress.update(len(arr))
    else:
        for p in parts:
            arr = _raster_chunk((p, dict(spec)))
            out.append(arr)
            if progress is not None:
                progress.update(len(arr))
    return np.concatenate(out)


def flatten(split_part: Mapping[str, list[Sketch]], labels: Sequence[str]) -> tuple[list, np.ndarray]:
    """(drawings, label indices) in label order."""
    index = {label: i for i, label in enumerate(labels)}
    drawings, ys = [], []
    for label in labels:
        for s in split_part.get(label, []):
            drawings.append(s.drawing)
            ys.append(index[label])
    return drawings, np.asarray(ys, dtype=np.int32)


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def iter_prefixes(drawing: Sequence[Any], fractions: Iterable[float]) -> list[list[Any]]:
    """The drawing after the first ceil(f * n) strokes, for each fraction f (at least 1 stroke)."""
    n = len(drawing)
    return [list(drawing[: max(1, int(np.ceil(f * n)))]) for f in fractions]
