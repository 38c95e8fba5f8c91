"""Seed a results database for the export benchmark, fast: bulk inserts in one transaction per
chunk (SQLite through the stdlib driver; MariaDB through pymysql executemany).

    .venv/bin/python -m bench.export.seed --drawings 100000 --url sqlite+aiosqlite:///var/bench.sqlite3

Drawings: real raw Quick, Draw! drawings from tests/fixtures/quickdraw/raw when present (cycled),
else synthetic pen strokes; 5 stages per game, 10 games per consented player.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from legacy_bridge.results.migrate import sync_url, upgrade

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "quickdraw" / "raw"
T0 = datetime(2026, 9, 1, tzinfo=UTC).replace(tzinfo=None)


def drawings_pool() -> list[tuple[str, list[list[list[float]]]]]:
    pool = []
    for path in sorted(FIXTURES.glob("*.ndjson")) if FIXTURES.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                pool.append((d["word"], [[[x, y, t + 500] for x, y, t in zip(*s)]
                                         for s in d["drawing"]]))
    if pool:
        return pool
    rnd = random.Random(7)
    words = ["cat", "dog", "fish", "apple", "car", "house", "tree", "sun"]
    for i in range(400):
        strokes, t = [], 400.0
        for _ in range(rnd.randint(2, 5)):
            cx, cy, r = rnd.uniform(200, 800), rnd.uniform(150, 600), rnd.uniform(20, 150)
            n = rnd.randint(8, 40)
            strokes.append([[round(cx + r * math.cos(6.28 * k / n), 1),
                             round(cy + r * math.sin(6.28 * k / n), 1), round(t + 16 * k)]
                            for k in range(n)])
            t += 16 * n + 400
        pool.append((words[i % len(words)], strokes))
    return pool


def seed(url: str, drawings: int, chunk: int = 5000) -> dict[str, float]:
    started = time.perf_counter()
    upgrade(url)
    engine = sa.create_engine(sync_url(url))
    pool = drawings_pool()
    stages_per_game, games_per_player = 5, 10
    md = sa.MetaData()
    t = {n: sa.Table(n, md, autoload_with=engine) for n in (
        "players", "games", "stages", "stage_guesses", "drawings", "drawing_strokes",
        "research_consents")}
    n_games = math.ceil(drawings / stages_per_game)
    stage_id = 0
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        existing = conn.execute(sa.select(sa.func.count()).select_from(t["stages"])).scalar_one()
        if existing:
            raise SystemExit(f"database already holds {existing} stages: use a fresh one")
    for g0 in range(0, n_games, chunk // stages_per_game):
        rows: dict[str, list[dict]] = {k: [] for k in t}
        for g in range(g0, min(n_games, g0 + chunk // stages_per_game)):
            player = f"bench-{g // games_per_player:06d}"
            start = T0 + timedelta(minutes=g)
            if g % games_per_player == 0:
                rows["players"].append({"player_id": player, "age_band": "5-6",
                                        "first_seen_at": start, "last_seen_at": start})
                rows["research_consents"].append({
                    "player_id": player, "policy_version": "2026-11",
                    "granted_at": T0 - timedelta(days=1), "granted_by_role": "guardian"})
            gid = f"bench-game-{g:07d}"
            rows["games"].append({
                "game_id": gid, "player_id": player, "category": "bench", "age_band": "5-6",
                "outcome": "completed", "started_at": start,
                "ended_at": start + timedelta(seconds=225), "duration_ms": 225_000,
                "stage_count": stages_per_game, "recognized_count": 2,
                "recorded_at": start})
            for s in range(stages_per_game):
                if stage_id >= drawings:
                    break
                stage_id += 1
                word, strokes = pool[stage_id % len(pool)]
                rows["stages"].append({
                    "id": stage_id, "game_id": gid, "stage_index": s, "label": word,
                    "name_ko": word, "name_en": word, "time_limit_s": 40.0,
                    "started_at": start + timedelta(seconds=45 * s),
                    "ended_at": start + timedelta(seconds=45 * s + 30),
                    "outcome": "recognized" if s % 2 == 0 else "timeout",
                    "recognized": s % 2 == 0,
                    "time_to_recognize_ms": 9000 if s % 2 == 0 else None,
                    "final_guesses": [[word, 0.8]]})
                rows["stage_guesses"].extend(
                    {"stage_id": stage_id, "snapshot_index": k, "guess_rank": 0,
                     "t_ms": 800 * (k + 1), "label": word, "probability": 0.3 + 0.2 * k}
                    for k in range(3))
                npts = sum(len(x) for x in strokes)
                rows["drawings"].append({
                    "stage_id": stage_id, "canvas_width": 1024, "canvas_height": 768,
                    "stroke_count": len(strokes), "point_count": npts,
                    "first_t_ms": int(strokes[0][0][2]), "last_t_ms": int(strokes[-1][-1][2])})
                rows["drawing_strokes"].extend(
                    {"stage_id": stage_id, "stroke_index": i, "t_start_ms": int(st[0][2]),
                     "t_end_ms": int(st[-1][2]), "point_count": len(st), "points": st}
                    for i, st in enumerate(strokes))
        with engine.begin() as conn:
            for name in ("players", "research_consents", "games", "stages", "stage_guesses",
                         "drawings", "drawing_strokes"):
                if rows[name]:
                    conn.execute(t[name].insert(), rows[name])
    engine.dispose()
    return {"drawings": stage_id, "games": n_games, "seconds": time.perf_counter() - started,
            "source": "quickdraw fixtures" if FIXTURES.is_dir() else "synthetic"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--drawings", type=int, default=100_000)
    p.add_argument("--url", required=True)
    args = p.parse_args()
    print(json.dumps(seed(args.url, args.drawings)))


if __name__ == "__main__":
    main()
