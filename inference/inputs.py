"""What a model is fed: a raster, or a raster and the drawing's point sequence.

Every served model takes a raster (`inference.raster`, the card's `"input"` spec). A model that
also reads how the drawing was drawn (an ensemble with a stroke-sequence member,
`inference.training.ensemble`) has a second input, the points (`inference.sequence`), and says
so in its card: `"input": {...the raster spec..., "sequence": {"encoder": "sequence",
"max_points": 128, ...}}`. A batch for such a model is the pair `(images, points)`; for every
other model it stays one array of images. These helpers treat both alike.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from inference.raster import rasterize
from inference.sequence import encode as encode_sequence
from inference.sequence import encode_flat, is_sequence_spec, rdp_epsilon

#: One model input (a row, or a batch of rows): images, or (images, points).
ModelInput = Union[np.ndarray, tuple[np.ndarray, np.ndarray]]


def sequence_spec(spec: Mapping[str, Any] | None) -> dict | None:
    """The point-sequence part of a model's input spec, or None for a raster-only model."""
    seq = spec.get("sequence") if spec else None
    return dict(seq) if isinstance(seq, Mapping) else None


def raster_spec(spec: Mapping[str, Any]) -> dict:
    """The raster part of a model's input spec (without its point-sequence part)."""
    return {k: v for k, v in spec.items() if k != "sequence"}


def sequence_shape(spec: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(points, features) of one drawing's sequence input, or None."""
    seq = sequence_spec(spec)
    if seq is None:
        return None
    return (int(seq["max_points"]), len(seq.get("features", ())) or 5)


def drawing_input(drawing: Any, spec: Mapping[str, Any], fmt: str | None = None) -> ModelInput:
    """One whole drawing (any format `normalize_strokes` reads) as this model's input row
    (points only for a stroke-sequence model on its own, `is_sequence_spec`)."""
    if is_sequence_spec(spec):
        return encode_sequence(drawing, spec, fmt=fmt)
    image = rasterize(drawing, spec, fmt=fmt)
    seq = sequence_spec(spec)
    if seq is None:
        return image
    return image, encode_sequence(drawing, seq, fmt=fmt)


def incremental_input(raster: Any, image: np.ndarray, spec: Mapping[str, Any]) -> ModelInput:
    """The input row of a drawing held by an `IncrementalRaster`, given its current image.

    The points come from the raster's own simplified strokes, the very vertices `encode` gets
    from the whole drawing (both simplify with `simplify_arrays(..., resample=False)`)."""
    seq = sequence_spec(spec)
    if seq is None:
        return image
    return image, encode_flat(*raster.simplified_flat(rdp_epsilon(seq)), int(seq["max_points"]))


def stack(rows: Sequence[ModelInput]) -> ModelInput:
    """Rows -> one batch (float32). A batch of one row is a view of it, not a copy (the pool's
    usual batch when it is not busy); the runtimes copy their inputs and never write to them."""
    if len(rows) == 1:
        row = rows[0]
        if isinstance(row, tuple):
            return tuple(np.asarray(part, dtype=np.float32)[None] for part in row)
        return np.asarray(row, dtype=np.float32)[None]
    if rows and isinstance(rows[0], tuple):
        return tuple(np.stack([r[k] for r in rows]).astype(np.float32, copy=False) for k in range(len(rows[0])))
    return np.stack(rows).astype(np.float32, copy=False)


def rows(batch: ModelInput) -> int:
    """How many rows a batch holds."""
    return len(batch[0]) if isinstance(batch, tuple) else len(batch)


def take(batch: ModelInput, start: int, stop: int) -> ModelInput:
    """Rows `start:stop` of a batch."""
    if isinstance(batch, tuple):
        return tuple(part[start:stop] for part in batch)
    return batch[start:stop]


def as_float32(batch: ModelInput) -> ModelInput:
    """The batch as contiguous float32 array(s)."""
    if isinstance(batch, tuple):
        return tuple(np.ascontiguousarray(part, dtype=np.float32) for part in batch)
    return np.ascontiguousarray(batch, dtype=np.float32)
