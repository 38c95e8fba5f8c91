"""Temperature scaling (Guo et al., 2017) for probabilities that mean what they say.

The game reads probabilities *within a category* (masked and renormalised), so the temperature
is fitted on masked validation probabilities: for a softmax output p, masking and renormalising
softmax(log p / T) over a category's columns equals the category softmax of the logits over T.
It is baked into the output layer (kernel and bias divided by T): serving needs no change.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _masked_log_probs(probs: np.ndarray, y: np.ndarray, columns: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per (drawing, category holding its label): the category's log-probabilities and the target's index."""
    logp = np.log(np.maximum(probs, 1e-12))
    rows, targets = [], []
    for cols in columns:
        cols = list(cols)
        pos = {c: i for i, c in enumerate(cols)}
        sel = np.flatnonzero(np.isin(y, cols))
        if len(sel):
            rows.append(logp[np.ix_(sel, cols)])
            targets.append(np.array([pos[v] for v in y[sel]]))
    return rows, targets  # type: ignore[return-value]


def _nll(rows: list[np.ndarray], targets: list[np.ndarray], t: float) -> float:
    total, n = 0.0, 0
    for z, y in zip(rows, targets):
        z = z / t
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        total += float((lse - z[np.arange(len(y)), y]).sum())
        n += len(y)
    return total / max(n, 1)


def fit_temperature(probs: np.ndarray, y: np.ndarray, columns: Sequence[Sequence[int]]) -> float:
    """The temperature minimising the masked validation NLL (grid, then a finer grid)."""
    rows, targets = _masked_log_probs(probs, np.asarray(y), columns)
    if not rows:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 60))
    best = min(grid, key=lambda t: _nll(rows, targets, float(t)))
    fine = np.linspace(best * 0.93, best * 1.07, 29)
    return float(min(fine, key=lambda t: _nll(rows, targets, float(t))))


def bake_temperature(model, temperature: float) -> None:
    """Divide the softmax layer's kernel and bias by T (the model then outputs softmax(z / T))."""
    layer = model.get_layer("probs")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel / temperature, bias / temperature])


def bake_prior_correction(model, counts: np.ndarray) -> np.ndarray:
    """Subtract log(class share in training) from the softmax layer's bias (logit adjustment,
    Menon et al., 2021), so the model scores as if every label had been trained on equally often.

    A child is asked to draw each topic equally often, but labels with extra drawings (sketch-rnn
    sets, bitmap rows) are seen up to 5x as often in training, which would tilt every guess in
    their category towards them. Returns the shift applied (a vector over the labels)."""
    layer = model.get_layer("probs")
    kernel, bias = layer.get_weights()
    share = np.maximum(np.asarray(counts, dtype=np.float64), 1) / max(float(np.sum(counts)), 1.0)
    shift = np.log(share) - np.log(share).mean()
    layer.set_weights([kernel, bias - shift.astype(bias.dtype)])
    return shift


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict:
    """Reliability table and expected calibration error (top-1 confidence against accuracy)."""
    edges = np.linspace(0, 1, bins + 1)
    table, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (confidence > lo) & (confidence <= hi)
        if m.any():
            conf, acc = float(confidence[m].mean()), float(correct[m].mean())
            ece += m.mean() * abs(conf - acc)
            table.append({"lo": float(lo), "hi": float(hi), "n": int(m.sum()), "confidence": conf, "accuracy": acc})
    return {"ece": float(ece), "bins": table, "n": int(len(confidence))}


def reliability_png(path: Path, curves: dict[str, dict], title: str) -> None:
    """Reliability diagram: accuracy against confidence per bin, one line per named curve."""
    w, h, m = 420, 440, 50
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    d.text((8, 6), title, fill="black", font=font)
    x0, y0, side = m, h - m, w - 2 * m + 20
    d.rectangle([x0, y0 - side, x0 + side, y0], outline="black")
    d.line([x0, y0, x0 + side, y0 - side], fill=(170, 170, 170))
    for k in range(0, 11, 2):
        d.text((x0 + k * side / 10 - 8, y0 + 4), f"{k / 10:.1f}", fill="black", font=font)
        d.text((x0 - 28, y0 - k * side / 10 - 5), f"{k / 10:.1f}", fill="black", font=font)
    d.text((x0 + side / 2 - 40, y0 + 20), "confidence (top-1 p)", fill="black", font=font)
    colours = [(200, 60, 60), (40, 90, 200), (40, 150, 60)]
    for i, (name, rel) in enumerate(curves.items()):
        pts = [(x0 + b["confidence"] * side, y0 - b["accuracy"] * side) for b in rel["bins"]]
        if len(pts) > 1:
            d.line(pts, fill=colours[i % 3], width=2)
        for x, y in pts:
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colours[i % 3])
        d.text((x0 + 8, y0 - side + 8 + 14 * i), f"{name}: ECE {rel['ece']:.3f}", fill=colours[i % 3], font=font)
    img.save(path)
