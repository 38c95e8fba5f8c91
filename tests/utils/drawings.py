"""Real Quick, Draw! drawings from the repository's fixture, as a tablet would send them."""
from __future__ import annotations

import json
from pathlib import Path

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw"

Point = tuple[float, float, float]
Drawing = list[list[Point]]


def raw_drawings(label: str) -> list[Drawing]:
    """Every raw fixture drawing of `label` as strokes of (x, y, t_ms) points."""
    path = FIXTURE_DIR / "raw" / f"{label}.ndjson"
    drawings = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            drawing = json.loads(line)["drawing"]
            drawings.append([list(zip(s[0], s[1], s[2], strict=True)) for s in drawing])
    return drawings


def fit_to_canvas(drawing: Drawing, width: int, height: int, margin: float = 20.0) -> Drawing:
    """Place a drawing on a tablet canvas as a child would: shifted in, shrunk if too large."""
    xs = [p[0] for s in drawing for p in s]
    ys = [p[1] for s in drawing for p in s]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    scale = min(1.0, (min(width, height) - 2 * margin) / span)
    return [
        [((x - min(xs)) * scale + margin, (y - min(ys)) * scale + margin, t) for x, y, t in s]
        for s in drawing
    ]
