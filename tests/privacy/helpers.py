"""Finished games with real-looking drawings, as the game would hand them to the results sink.

Strokes come from `tests/fixtures/quickdraw/raw/*.ndjson` (real Quick, Draw! raw drawings: one
JSON per line with `word`, `key_id` and `drawing` = [[xs], [ys], [ts]]) for the words found
there, else from a deterministic generator of pen-like strokes (curves sampled every ~16 ms).
"""
from __future__ import annotations

import json
import math
import random
import uuid
from functools import lru_cache
from pathlib import Path

from game.records import FinishedGame, GameOutcome, GuessSnapshot, StageOutcome, StageRecord

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "quickdraw" / "raw"
T0_MS = 1_790_000_000_000  # 2026-09-21


@lru_cache(maxsize=1)
def quickdraw_records() -> dict[str, list[dict]]:
    """word -> the fixture's raw records (Google's ndjson objects), in file order."""
    out: dict[str, list] = {}
    if not FIXTURES.is_dir():
        return out
    for path in sorted(FIXTURES.glob("*.ndjson")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    out.setdefault(d["word"], []).append(d)
    return out


def points_of(google_drawing) -> list[list[list[float]]]:
    """Google's [[xs], [ys], [ts]] strokes as the tablet's [x, y, t] points."""
    return [[[float(x), float(y), float(t)] for x, y, t in zip(*s)] for s in google_drawing]


@lru_cache(maxsize=1)
def quickdraw_strokes() -> dict[str, list[list[list[list[float]]]]]:
    """word -> drawings, each a list of strokes of [x, y, t] points (from the fixtures)."""
    out: dict[str, list] = {}
    if not FIXTURES.is_dir():
        return out
    for path in sorted(FIXTURES.glob("*.ndjson")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                d = json.loads(line)
                drawing = d.get("drawing") or []
                if not drawing or len(drawing[0]) < 3:
                    continue  # simplified (no time): not what a tablet sends
                strokes = [[[float(x), float(y), float(t)] for x, y, t in zip(*s)]
                           for s in drawing]
                out.setdefault(d["word"], []).append(strokes)
                if len(out[d["word"]]) >= 50:
                    break
    return out


def synthetic_strokes(seed: int) -> list[list[list[float]]]:
    """A drawing of 2..5 pen strokes on a 1024x768 canvas, times in ms since stage start."""
    rnd = random.Random(seed)
    t = rnd.uniform(300, 1500)
    strokes = []
    for _ in range(rnd.randint(2, 5)):
        cx, cy, r = rnd.uniform(200, 800), rnd.uniform(150, 600), rnd.uniform(20, 150)
        a0, sweep = rnd.uniform(0, 6.28), rnd.uniform(1.0, 6.0)
        n = rnd.randint(6, 40)
        pts = []
        for k in range(n):
            a = a0 + sweep * k / (n - 1)
            pts.append([round(cx + r * math.cos(a), 1), round(cy + r * math.sin(a) * 0.8, 1),
                        round(t)])
            t += rnd.uniform(10, 20)
        strokes.append(pts)
        t += rnd.uniform(200, 900)
    return strokes


def drawing_for(word: str, seed: int) -> list[list[list[float]]]:
    """A real drawing of `word` when the fixtures have one, moved by `seed` tenths of a pixel
    so every stage's drawing is unique (tests find stages back by their raw drawing)."""
    real = quickdraw_strokes().get(word)
    if real:
        dx = (seed % 1000) / 10
        return [[[round(x + dx, 1), y, t] for x, y, t in s] for s in real[seed % len(real)]]
    return synthetic_strokes(seed)


def make_game(seed: int, *, player: str, labels: tuple[str, ...] = ("cat", "dog"),
              started_at_ms: int = T0_MS, age_band: str = "5-6",
              category: str = "animals") -> FinishedGame:
    """A finished game of `len(labels)` stages; even stages recognised, odd ones timed out."""
    stages = []
    for i, label in enumerate(labels):
        start = started_at_ms + i * 45_000
        recognized = (seed + i) % 2 == 0
        stages.append(StageRecord(
            index=i, label=label, name_ko="고양이" if label == "cat" else label, name_en=label,
            time_limit_s=40.0, started_at_ms=start, ended_at_ms=start + 30_000,
            outcome=StageOutcome.RECOGNIZED if recognized else StageOutcome.TIMEOUT,
            time_to_recognize_ms=9_500 + i if recognized else None,
            strokes=tuple(tuple(tuple(p) for p in s) for s in drawing_for(label, seed * 31 + i)),
            guesses=(GuessSnapshot(800, (("dog", 0.4), (label, 0.3))),
                     GuessSnapshot(2400, ((label, 0.8), ("dog", 0.1)))),
            final_guesses=((label, 0.8), ("dog", 0.1)),
            canvas_width=1024, canvas_height=768,
        ))
    return FinishedGame(
        game_id=f"g-{seed}-{uuid.uuid4().hex[:10]}", player_id=player, category=category,
        started_at_ms=started_at_ms, ended_at_ms=started_at_ms + len(labels) * 45_000,
        outcome=GameOutcome.COMPLETED, stages=tuple(stages), age_band=age_band,
        class_code="해바라기반", extra={"device": "tab-1"},
    )
