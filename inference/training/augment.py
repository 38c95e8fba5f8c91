"""Stroke-level augmentation that looks like young children's drawing.

Applied to a drawing in column format before rasterising with the shared rasteriser: rotation,
uneven scaling and shear (wonky proportions), wobble (shaky hands), a dropped stroke (forgot a
part), an unfinished drawing (the first strokes only: early recognition) and pen width.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inference.raster import render_simplified


def augment_drawing(drawing: Sequence[Any], rng: np.random.Generator) -> list[np.ndarray]:
    """A randomly altered copy of a column-format drawing, as (n, 2) point arrays."""
    strokes = [np.asarray(s, dtype=np.float64)[:2].T for s in drawing if len(s) and len(s[0])]
    if not strokes:
        return strokes
    n = len(strokes)
    # Unfinished: keep the first k strokes (k >= 1), a third of the time.
    if n >= 2 and rng.random() < 0.33:
        strokes = strokes[: rng.integers(max(1, n // 3), n)]
    # Forgot one part.
    elif n >= 3 and rng.random() < 0.2:
        drop = rng.integers(1, n)  # never the first stroke, usually the outline
        strokes = strokes[:drop] + strokes[drop + 1 :]
    allp = np.concatenate(strokes)
    centre = (allp.max(axis=0) + allp.min(axis=0)) / 2
    extent = max(float(np.ptp(allp, axis=0).max()), 1.0)
    angle = np.deg2rad(rng.normal(0, 10))
    sx, sy = np.exp(rng.normal(0, 0.12, size=2))
    shear = rng.normal(0, 0.1)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = rot @ np.array([[sx, shear], [0, sy]])
    wobble = abs(rng.normal(0, 0.008)) * extent
    out = []
    for s in strokes:
        t = (s - centre) @ m.T
        if wobble > 0 and len(t) > 1:
            # Smooth wobble: noise on the vertices, correlated along the stroke.
            noise = rng.normal(0, wobble, size=t.shape)
            if len(t) > 2:
                noise = (noise + np.roll(noise, 1, axis=0) + np.roll(noise, -1, axis=0)) / 3
            t = t + noise
        out.append(t)
    return out


def augmented_rasters(
    drawings: Sequence[Any], spec: Mapping[str, Any], seed: int, width_range: tuple[float, float] = (0.75, 1.3)
) -> np.ndarray:
    """One augmented raster per drawing (float16), pen width varied around the spec's."""
    rng = np.random.default_rng(seed)
    base = float(spec.get("line_width", 16.0))
    out = np.zeros((len(drawings), spec["size"], spec["size"], len(spec["channels"])), dtype=np.float16)
    for i, d in enumerate(drawings):
        s = dict(spec, line_width=base * rng.uniform(*width_range))
        strokes = augment_drawing(d, rng)
        if strokes:
            # Align and scale to the simplified 0..255 space (as Google's simplification does),
            # then the shared renderer; the wobble is kept (no RDP smoothing it away).
            allp = np.concatenate(strokes)
            lo = allp.min(axis=0)
            extent = float((allp.max(axis=0) - lo).max()) or 1.0
            out[i] = render_simplified([(st - lo) * (255.0 / extent) for st in strokes], s)
    return out


def _aug_chunk(args: tuple[list, dict, int]) -> np.ndarray:
    drawings, spec, seed = args
    return augmented_rasters(drawings, spec, seed)
