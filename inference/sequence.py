"""A drawing as a sequence of points, for stroke-sequence models (the raster's counterpart).

The points are the drawing's simplified vertices (Google's simplification, the same
`simplify_arrays(..., resample=False)` the serving raster uses, so 0..255 space with RDP
epsilon 2) in the order they were drawn. Each point becomes five numbers:

- `x`, `y`: its position with the drawing's box centred, divided by 255 (about -0.5..0.5);
- `dx`, `dy`: the step from the previous point (0 for a drawing's first point), / 255;
- `pen_up`: 1 on the last point of every stroke (the pen lifts after it), else 0.

At most `max_points` points are kept, the first ones (a drawing's first strokes carry its
outline; children add details later); shorter drawings are padded with zero rows, which the
model learns to ignore (a real point of a one-point stroke has pen_up = 1, so no real row is
all zeros but the centre point of a drawing's box, which is rare and harmless).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inference.raster import normalize_strokes, simplify_arrays

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


def encode_simplified(strokes: Sequence[np.ndarray], max_points: int) -> np.ndarray:
    """Simplified (m, 2) strokes in 0..255 -> float32 (max_points, 5), see the module doc."""
    out = np.zeros((max_points, len(FEATURES)), dtype=np.float32)
    strokes = [np.asarray(s, dtype=np.float64) for s in strokes if len(s)]
    if not strokes:
        return out
    points = np.concatenate(strokes)
    ends = np.zeros(len(points), dtype=np.float32)
    ends[np.cumsum([len(s) for s in strokes]) - 1] = 1.0
    n = min(len(points), max_points)
    # Centre the box as the raster does (both use the whole drawing's box, not the kept part).
    centre = (points.max(axis=0) + points.min(axis=0)) / 2.0
    p = (points[:n] - centre) / 255.0
    out[:n, 0:2] = p
    out[1:n, 2:4] = np.diff(p, axis=0)
    out[:n, 4] = ends[:n]
    return out


def encode(strokes: Any, spec: Mapping[str, Any] | None = None, fmt: str | None = None) -> np.ndarray:
    """A drawing in any format `normalize_strokes` accepts -> float32 (max_points, 5)."""
    max_points = int((spec or DEFAULT_SEQUENCE_SPEC).get("max_points", DEFAULT_SEQUENCE_SPEC["max_points"]))
    return encode_simplified(simplify_arrays(normalize_strokes(strokes, fmt), resample=False), max_points)
