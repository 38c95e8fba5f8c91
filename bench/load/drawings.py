"""Drawings for simulated children: Google's raw Quick, Draw! drawings with their real timing.

A raw drawing is strokes of `[xs, ys, ts]` (canvas pixels of the original device, milliseconds
since the drawing started): exactly what a tablet streams, pauses between strokes included.
`synthetic_library` makes timed drawings without any data file (for the smoke test, which may not
read ../shared).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import orjson

DEFAULT_RAW_DIR = Path("/work/shared/data/quickdraw/strokes/raw")

Point = tuple[float, float, float]  # x, y, t_ms since the drawing started


@dataclass(frozen=True)
class TimedDrawing:
    """One drawing placed on the tablet's canvas; `t` in ms since its first point."""

    label: str
    strokes: tuple[tuple[Point, ...], ...]

    @property
    def points(self) -> int:
        return sum(len(s) for s in self.strokes)

    @property
    def duration_ms(self) -> float:
        return self.strokes[-1][-1][2] if self.strokes and self.strokes[-1] else 0.0


def fit(label: str, raw: list, canvas: tuple[int, int], margin: float = 24.0) -> TimedDrawing | None:
    """Place raw strokes on the canvas (shifted in, shrunk if larger); times rebased to 0."""
    strokes = [list(zip(s[0], s[1], s[2])) for s in raw if len(s) >= 3 and len(s[0])]
    if not strokes:
        return None
    xs = [p[0] for s in strokes for p in s]
    ys = [p[1] for s in strokes for p in s]
    t0 = min(p[2] for s in strokes for p in s)
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    scale = min(1.0, (min(canvas) - 2 * margin) / span)
    x0, y0 = min(xs), min(ys)
    out = tuple(
        tuple((round((x - x0) * scale + margin, 1), round((y - y0) * scale + margin, 1),
               float(t - t0)) for x, y, t in s)
        for s in strokes
    )
    return TimedDrawing(label, out)


class DrawingLibrary:
    """Drawings by label; a label without drawings gets one of another label (any ink will do)."""

    def __init__(self, by_label: dict[str, list[TimedDrawing]]) -> None:
        self.by_label = {k: v for k, v in by_label.items() if v}
        self._all = [d for v in self.by_label.values() for d in v]
        if not self._all:
            raise ValueError("no drawings")

    def pick(self, label: str, rng: random.Random) -> TimedDrawing:
        pool = self.by_label.get(label) or self._all
        return pool[rng.randrange(len(pool))]

    def __len__(self) -> int:
        return len(self._all)


def load_raw_library(raw_dir: Path, labels: list[str], canvas: tuple[int, int], *,
                     per_label: int = 200, max_duration_ms: float = 30_000) -> DrawingLibrary:
    """Up to `per_label` drawings of each label found in `raw_dir/<label>.ndjson`.

    If none of `labels` has a file, a few other files are read so the children still draw.
    """
    by_label: dict[str, list[TimedDrawing]] = {}
    paths = [(label, raw_dir / f"{label}.ndjson") for label in labels]
    if not any(p.exists() for _, p in paths):
        paths = [(p.stem, p) for p in sorted(raw_dir.glob("*.ndjson"))[:20]]
    for label, path in paths:
        if not path.exists():
            continue
        drawings = by_label.setdefault(label, [])
        with path.open("rb") as f:
            for line in f:
                if len(drawings) >= per_label:
                    break
                try:
                    raw = orjson.loads(line)["drawing"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                drawing = fit(label, raw, canvas)
                if drawing is not None and 0 < drawing.duration_ms <= max_duration_ms:
                    drawings.append(drawing)
    return DrawingLibrary(by_label)


def synthetic_library(labels: list[str], canvas: tuple[int, int], *, seed: int = 0,
                      per_label: int = 5) -> DrawingLibrary:
    """Timed circles and zig-zags drawn at a child's pace (~60 points a second, pauses between)."""
    rng = random.Random(seed)
    by_label: dict[str, list[TimedDrawing]] = {}
    size = min(canvas)
    for label in labels:
        for _ in range(per_label):
            strokes, t = [], 0.0
            for k in range(rng.randint(2, 5)):
                n = rng.randint(15, 50)
                cx, cy, r = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size, size * 0.2
                stroke = []
                for i in range(n):
                    a = 2 * math.pi * i / n
                    x = cx + r * math.cos(a) if k % 2 == 0 else cx - r + 2 * r * i / n
                    y = cy + r * math.sin(a) if k % 2 == 0 else cy + (r / 3) * (-1) ** i
                    stroke.append((round(x, 1), round(y, 1), round(t, 1)))
                    t += rng.uniform(12, 20)
                strokes.append(tuple(stroke))
                t += rng.uniform(200, 700)  # the pause before the next stroke
            by_label.setdefault(label, []).append(TimedDrawing(label, tuple(strokes)))
    return DrawingLibrary(by_label)
