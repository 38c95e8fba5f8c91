"""Drawing-level augmentation that imitates how young children draw (training only).

Children of 3 to 8 draw the same things as adults, differently: parts float free of each other,
a huge head sits on a tiny body, parts are missing or drawn twice, areas are scribbled in,
outlines are gone over again, the picture faces the other way, there are very few strokes, and
lines shake at several scales. `childlike_strokes` applies a random mix of those to one drawing;
training calls it afresh each epoch (a new seed per epoch), so the network never sees the same
distorted copy twice.

The evaluation proxy (`inference.child_proxy`) distorts held-out drawings with a *separate*,
fixed, seeded implementation; the two share ideas, so the proxy overstates what this
augmentation buys on real children's drawings (see the model card), and Google's own
`recognized: false` drawings are reported beside it as a real, untouched hard set.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inference.raster import render_simplified


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points every `spacing` units along the polyline (so shake can bend straight lines)."""
    if len(points) < 2:
        return points
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    total = float(seg.sum())
    if total < spacing:
        return points
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    at = np.linspace(0.0, total, max(2, int(total / spacing) + 1))
    return np.stack([np.interp(at, cum, points[:, 0]), np.interp(at, cum, points[:, 1])], axis=1)


def _shake(points: np.ndarray, rng: np.random.Generator, extent: float, amount: float) -> np.ndarray:
    """Smooth noise at two scales: a slow drift (unsteady hand) and a fine tremor."""
    if len(points) < 3 or amount <= 0:
        return points
    p = _resample(points, max(extent / 40.0, 1.0))
    n = len(p)
    out = p.copy()
    for scale, share in ((max(n // 4, 2), 0.7), (2, 0.3)):
        knots = rng.normal(0, amount * share * extent, size=(n // scale + 2, 2))
        at = np.arange(n) / scale
        out[:, 0] += np.interp(at, np.arange(len(knots)), knots[:, 0])
        out[:, 1] += np.interp(at, np.arange(len(knots)), knots[:, 1])
    return out


def _scribble(box_lo: np.ndarray, box_hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A back-and-forth zigzag filling part of a box (colouring in)."""
    lo = box_lo + (box_hi - box_lo) * rng.uniform(0.1, 0.35, 2)
    hi = box_hi - (box_hi - box_lo) * rng.uniform(0.1, 0.35, 2)
    k = int(rng.integers(4, 10))
    ys = np.linspace(lo[1], hi[1], k)
    xs = np.where(np.arange(k) % 2 == 0, lo[0], hi[0])
    return np.stack([xs, ys], axis=1) + rng.normal(0, 0.02 * float((box_hi - box_lo).max() + 1), (k, 2))


def childlike_strokes(
    drawing: Sequence[Any], rng: np.random.Generator, strength: float = 1.0,
    missing: float = 0.35, drop_rate: float = 0.3,
) -> list[np.ndarray]:
    """A randomly child-like copy of a column-format drawing, as (n, 2) float point arrays.

    `strength` scales every probability and amplitude (1.0: the training default); `missing` is
    the chance that parts are left out, and `drop_rate` the share of strokes then left out.
    """
    strokes = [np.asarray(s, dtype=np.float64)[:2].T for s in drawing if len(s) and len(s[0])]
    if not strokes:
        return strokes
    s = strength
    allp = np.concatenate(strokes)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    extent = max(float((hi - lo).max()), 1.0)
    n = len(strokes)

    # Very few strokes, or an unfinished drawing: the first k strokes.
    if n >= 2 and rng.random() < 0.3 * s:
        strokes = strokes[: int(rng.integers(1, n))]
    # Missing parts: drop some strokes other than the first (usually the outline).
    elif n >= 3 and rng.random() < missing * s:
        keep = [0] + [i for i in range(1, n) if rng.random() > drop_rate]
        strokes = [strokes[i] for i in keep]
    n = len(strokes)

    out: list[np.ndarray] = []
    # Proportions: one part (often the head, drawn first) much bigger or smaller than the rest.
    big = int(rng.integers(0, n)) if rng.random() < 0.4 * s else -1
    float_parts = rng.random() < 0.45 * s
    for i, st in enumerate(strokes):
        c = (st.max(axis=0) + st.min(axis=0)) / 2
        k = 1.0
        if i == big:
            k = float(np.exp(rng.normal(0.35, 0.25) * (1 if rng.random() < 0.7 else -1)))
        elif rng.random() < 0.25 * s:
            k = float(np.exp(rng.normal(0, 0.25)))
        ang = np.deg2rad(rng.normal(0, 12 * s)) if rng.random() < 0.3 * s else 0.0
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        t = (st - c) @ (rot * k).T + c
        if float_parts and i > 0:
            t = t + rng.normal(0, 0.09 * s * extent, 2)  # parts that do not meet
        out.append(t)
    # Parts drawn twice or outlines gone over again, slightly off.
    if rng.random() < 0.25 * s:
        i = int(rng.integers(0, len(out)))
        out.insert(i + 1, out[i] + rng.normal(0, 0.03 * extent, 2))
    # Colouring in.
    if rng.random() < 0.2 * s:
        i = int(rng.integers(0, len(out)))
        out.append(_scribble(out[i].min(axis=0), out[i].max(axis=0), rng))
    # Whole-drawing pose: mirror, tilt, stretch.
    allp = np.concatenate(out)
    centre = (allp.max(axis=0) + allp.min(axis=0)) / 2
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    ang = np.deg2rad(rng.normal(0, 12 * s))
    sx, sy = np.exp(rng.normal(0, 0.15 * s, 2))
    shear = rng.normal(0, 0.12 * s)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = rot @ np.array([[sx * mirror, shear], [0, sy]])
    amount = abs(rng.normal(0, 0.012 * s)) if rng.random() < 0.7 else 0.0
    return [_shake((t - centre) @ m.T, rng, extent, amount) for t in out]


def childlike_copy(
    drawing: Sequence[Any], rng: np.random.Generator, strength_range: tuple[float, float] | None = None,
    **params: float,
) -> list[np.ndarray]:
    """`childlike_strokes` at a strength drawn from `strength_range` (None: the strength in
    `params`, 1.0 by default, with no extra random draw)."""
    if strength_range is not None:
        params = dict(params, strength=float(rng.uniform(*strength_range)))
    return childlike_strokes(drawing, rng, **params)


def to_simplified_space(strokes: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Align to the top-left and scale the longer side to 255, as Google's simplification does."""
    allp = np.concatenate(strokes)
    lo = allp.min(axis=0)
    ext = float((allp.max(axis=0) - lo).max()) or 1.0
    return [(st - lo) * (255.0 / ext) for st in strokes]


def childlike_rasters(
    drawings: Sequence[Any], spec: Mapping[str, Any], seed: int, width_range: tuple[float, float] = (0.7, 1.5),
    strength_range: tuple[float, float] | None = None, **params: float,
) -> np.ndarray:
    """One child-like raster per drawing (float16); pen width varies too (thick crayons).

    `strength_range` (lo, hi): each drawing's strength drawn uniformly from it, so one epoch holds
    a three-year-old's drawings beside an eight-year-old's; None: strength 1.0 for all (and the
    random draws of earlier models, so their seeds reproduce). `params` go to
    `childlike_strokes` (missing, drop_rate).
    """
    rng = np.random.default_rng(seed)
    base = float(spec.get("line_width", 16.0))
    out = np.zeros((len(drawings), spec["size"], spec["size"], len(spec["channels"])), dtype=np.float16)
    for i, d in enumerate(drawings):
        strokes = childlike_copy(d, rng, strength_range, **params)
        if strokes:
            out[i] = render_simplified(to_simplified_space(strokes), dict(spec, line_width=base * rng.uniform(*width_range)))
    return out


def _childlike_chunk(args: tuple[list, dict, int, dict]) -> np.ndarray:
    drawings, spec, seed, params = args
    return childlike_rasters(drawings, spec, seed, **params)
