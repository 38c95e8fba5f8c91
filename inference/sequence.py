"""A drawing as a sequence of points, for stroke-sequence models (the raster's counterpart).

The points are the drawing's simplified vertices (Google's simplification, the same
`simplify_arrays(..., resample=False)` the serving raster uses, so 0..255 space with RDP
epsilon 2, or a coarser epsilon if the spec says `"rdp_epsilon"`: fewer vertices, less of a
shaky hand's wobble) in the order they were drawn. Each point becomes five numbers:

- `x`, `y`: its position with the drawing's box centred, divided by 255 (about -0.5..0.5);
- `dx`, `dy`: the step from the previous point (0 for a drawing's first point), / 255;
- `pen_up`: 1 on the last point of every stroke (the pen lifts after it), else 0.

At most `max_points` points are kept, the first ones (a drawing's first strokes carry its
outline; children add details later); shorter drawings are padded with zero rows, which the
model learns to ignore (a real point of a one-point stroke has pen_up = 1, so no real row is
all zeros but the centre point of a drawing's box, which is rare and harmless).
"""
from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any

import numpy as np

from inference.fastpath import fast as _fast
from inference.raster import RDP_EPSILON, normalize_strokes, simplify_arrays

FEATURES = ("x", "y", "dx", "dy", "pen_up")
DEFAULT_SEQUENCE_SPEC: dict[str, Any] = {
    "encoder": "sequence",
    "max_points": 128,
    "features": list(FEATURES),
    "dtype": "float32",
}


def is_sequence_spec(spec: Mapping[str, Any] | None) -> bool:
    """Whether a model card's `"input"` asks for point sequences rather than a raster."""
    return bool(spec) and spec.get("encoder") == "sequence"


def _is_doubles(values: Any) -> bool:
    return isinstance(values, array) and values.typecode == "d"


def encode_flat(xs: Sequence[float], ys: Sequence[float], counts: Sequence[int], max_points: int) -> np.ndarray:
    """Simplified vertices given flat (all x's, all y's, each stroke's vertex count) -> float32
    (max_points, 5), see the module doc. The worker's path: `IncrementalRaster.simplified_flat`
    keeps its vertices this way (arrays of doubles, read here without a copy), so nothing is
    split into strokes. Once per guess, so written with few numpy calls (each costs ~1 us)."""
    out = np.zeros((max_points, len(FEATURES)), dtype=np.float32)
    if not len(xs):
        return out
    if _fast is not None and _is_doubles(xs) and _is_doubles(ys) and type(counts) is list:
        _fast.encode(out, xs, ys, counts)
        return out
    x = np.frombuffer(xs) if _is_doubles(xs) else np.asarray(xs, dtype=np.float64)
    y = np.frombuffer(ys) if _is_doubles(ys) else np.asarray(ys, dtype=np.float64)
    n = min(len(x), max_points)
    p = np.empty((n, 2))
    p[:, 0] = x[:n]
    p[:, 1] = y[:n]
    # Centre the box as the raster does (both use the whole drawing's box, not the kept part).
    p -= ((x.max() + x.min()) / 2.0, (y.max() + y.min()) / 2.0)
    p /= 255.0
    out[:n, :2] = p
    out[1:n, 2:4] = p[1:] - p[:-1]
    out[[end - 1 for end in accumulate(counts) if end <= n], 4] = 1.0
    return out


def encode_simplified(strokes: Sequence[np.ndarray], max_points: int) -> np.ndarray:
    """Simplified (m, 2) strokes in 0..255 -> float32 (max_points, 5), see the module doc."""
    strokes = [np.asarray(s, dtype=np.float64) for s in strokes if len(s)]
    if not strokes:
        return np.zeros((max_points, len(FEATURES)), dtype=np.float32)
    points = np.concatenate(strokes)
    return encode_flat(points[:, 0], points[:, 1], [len(s) for s in strokes], max_points)


def rdp_epsilon(spec: Mapping[str, Any] | None) -> float:
    """The simplification a sequence spec asks for (0..255 space; absent: Google's, the raster's)."""
    return float((spec or {}).get("rdp_epsilon", RDP_EPSILON))


def encode(strokes: Any, spec: Mapping[str, Any] | None = None, fmt: str | None = None) -> np.ndarray:
    """A drawing in any format `normalize_strokes` accepts -> float32 (max_points, 5)."""
    max_points = int((spec or DEFAULT_SEQUENCE_SPEC).get("max_points", DEFAULT_SEQUENCE_SPEC["max_points"]))
    strokes = simplify_arrays(normalize_strokes(strokes, fmt), resample=False, epsilon=rdp_epsilon(spec))
    return encode_simplified(strokes, max_points)
