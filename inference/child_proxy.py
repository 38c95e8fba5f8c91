"""A child-likeness proxy: held-out adults' drawings under a fixed, seeded, strong distortion.

We have no children's drawings to measure on. This stands in for them: every held-out drawing is
distorted the way young children's drawings differ from adults' (parts missing, parts floating
free, wrong proportions, shaky lines, scribbles, a tilted page), with the same seed for every
model, and then goes through the serving path (`inference.raster.rasterize`). It is a separate
implementation from the training augmentation (`inference.training.childlike`) and never
changes once models have been measured with it: `PROXY_VERSION` names it in every card.

It is a proxy, not children: a model trained on similar distortions scores better on it than on
real children. Cards report it beside Google's `recognized: false` drawings (real drawings that
Google's own model missed, never trained on), which need no assumption about children.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

PROXY_VERSION = "child-proxy-1"
PROXY_SEED = 20261202
#: Strength per age band: younger children's drawings differ more from adults'. Strength 1.0 is
#: the proxy of the model cards; the bands only scale its probabilities and amplitudes.
BAND_STRENGTH = {"7-8": 0.6, "5-6": 1.0, "3-4": 1.6}
#: The proxy's distortions, by name (each can be measured alone: `distortions=("missing",)`).
DISTORTIONS = ("missing", "proportions", "floating", "shaky", "scribble", "tilt")


def _polyline_resample(p: np.ndarray, step: float) -> np.ndarray:
    if len(p) < 2:
        return p
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    if d[-1] < step:
        return p
    at = np.arange(0.0, d[-1] + 1e-9, step)
    return np.column_stack([np.interp(at, d, p[:, 0]), np.interp(at, d, p[:, 1])])


def child_proxy_drawing(
    drawing: Sequence[Any], index: int, seed: int = PROXY_SEED, strength: float = 1.0,
    distortions: Collection[str] = DISTORTIONS,
) -> list[list[list[float]]]:
    """The proxy version of one column-format drawing (deterministic in `index`, `seed`, `strength`).

    Returns Google's column format (`[[xs], [ys]]` per stroke), ready for `rasterize`. The random
    draws are the same at every strength (only what they are compared with or multiplied by
    changes), so a stronger proxy distorts the same drawing the same way, more; a distortion
    left out of `distortions` never happens, and the others happen exactly as they would.
    """
    rng = np.random.default_rng([seed, index])
    k_s = float(strength)

    def chance(p: float, name: str) -> float:
        return min(p * k_s, 0.95) if name in distortions else 0.0

    parts = [np.asarray(s, dtype=np.float64)[:2].T for s in drawing if len(s) and len(s[0])]
    if not parts:
        return []
    pts = np.concatenate(parts)
    size = max(float(np.ptp(pts, axis=0).max()), 1.0)
    # Missing parts: a child stops early or leaves details out (the first stroke stays).
    if len(parts) >= 2 and rng.random() < chance(0.5, "missing"):
        parts = [parts[0]] + [p for p in parts[1:] if rng.random() >= chance(0.4, "missing")]
    out = []
    for p in parts:
        mid = p.mean(axis=0)
        if rng.random() < chance(0.5, "proportions"):  # proportions: this part drawn much bigger or smaller
            p = (p - mid) * float(np.exp(rng.normal(0.0, 0.35) * k_s)) + mid
        if rng.random() < chance(0.5, "floating"):  # the part floats free of the others
            p = p + rng.uniform(-0.12, 0.12, 2) * size * k_s
        out.append(p)
    if rng.random() < chance(0.5, "shaky"):  # a shaky hand: smoothed noise along densely resampled lines
        shaky = []
        for p in out:
            q = _polyline_resample(p, 0.03 * size)
            noise = rng.normal(0.0, 0.025 * size * k_s, q.shape)
            if len(q) >= 3:  # neighbouring points move together: a wavy line, not sand
                noise = (noise + np.roll(noise, 1, axis=0) + np.roll(noise, -1, axis=0)) / 3
            shaky.append(q + noise)
        out = shaky
    if rng.random() < chance(0.3, "scribble"):  # loops of colouring-in inside one part
        p = out[int(rng.integers(len(out)))]
        lo, hi = p.min(axis=0), p.max(axis=0)
        t = np.linspace(0, 2 * np.pi * rng.integers(2, 5), 60)
        r = (hi - lo) * 0.25
        c = (lo + hi) / 2
        out.append(np.column_stack([c[0] + r[0] * np.cos(t) * (1 + 0.2 * np.sin(3 * t)), c[1] + r[1] * np.sin(t)]))
    if rng.random() < chance(0.3, "tilt"):  # the paper was tilted
        a = np.deg2rad(rng.uniform(-25, 25) * k_s)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        centre = np.concatenate(out).mean(axis=0)
        out = [(p - centre) @ rot.T + centre for p in out]
    allp = np.concatenate(out)
    lo = allp.min(axis=0)
    k = 255.0 / max(float(np.ptp(allp, axis=0).max()), 1.0)
    return [[((p[:, 0] - lo[0]) * k).tolist(), ((p[:, 1] - lo[1]) * k).tolist()] for p in out]


def child_proxy_set(
    drawings: Sequence[Any], seed: int = PROXY_SEED, strength: float = 1.0,
    distortions: Collection[str] = DISTORTIONS,
) -> list[list[list[list[float]]]]:
    """The proxy version of every drawing, drawing i distorted with (seed, i)."""
    return [child_proxy_drawing(d, i, seed, strength, distortions) for i, d in enumerate(drawings)]
