"""What a teacher page watching a class costs the server: `python -m bench.teacher_watch`.

One real server process; N scripted tablets draw real Quick, Draw! drawings at a child's pace,
in alternating phases, side by side in one run:

- `plain`: the tablets play without a class (the open local class): the roster feed does nothing;
- `watched`: the same tablets play in a teacher's class and a teacher socket watches them
  (`/ws/teacher`: every tile, its thumbnail ink, at most once a `ROSTER_INTERVAL_MS`).

The server's CPU seconds (its process tree, from /proc) per phase are compared; phases alternate
(plain, watched, plain, watched...) so a machine that gets busier or quieter during the run
affects both alike. Writes bench/results/latest-teacher-watch.json.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from bench.load import procstats
from bench.load.servers import ServerSet

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "bench-admin-token-0123"
CANVAS = (800, 600)
CHUNK_POINTS = 8


def drawings() -> list[list[list[tuple[float, float]]]]:
    """Real drawings from the test fixture, placed on the canvas."""
    from tests.utils.drawings import fit_to_canvas, raw_drawings

    out = []
    for label in ("cat", "dog", "pig", "cow", "horse", "rabbit", "sheep", "elephant"):
        with contextlib.suppress(FileNotFoundError):
            out += [fit_to_canvas(d, *CANVAS) for d in raw_drawings(label)[:5]]
    return out


async def tablet(http: str, ws: str, player: str, code: str | None, stop: asyncio.Event,
                 pool: list[Any], chunk_ms: float, rng: random.Random) -> int:
    """Play games until `stop`, drawing at a child's pace; returns the chunks sent."""
    async with httpx.AsyncClient(base_url=http) as client:
        body = {"player_id": player, **({"code": code} if code else {})}
        session = (await client.post("/api/v1/join", json=body)).json()["session_token"]
    sent = 0
    while not stop.is_set():
        async with websockets.connect(ws, max_size=2**22) as sock:
            await sock.send(orjson.dumps({
                "type": "hello", "v": 1, "player_id": player, "category": "animals",
                "canvas": {"width": CANVAS[0], "height": CANVAS[1]}, "session_token": session}))
            stage: dict[str, int | None] = {"now": None}
            over = asyncio.Event()

            async def read() -> None:
                async for raw in sock:
                    message = orjson.loads(raw)
                    if message["type"] == "stage_start":
                        stage["now"] = message["stage"]
                    elif message["type"] == "stage_result":
                        stage["now"] = None
                    elif message["type"] == "game_over":
                        over.set()
                        return

            reader = asyncio.create_task(read())
            try:
                while not stop.is_set() and not over.is_set():
                    current = stage["now"]
                    if current is None:
                        await asyncio.sleep(0.05)
                        continue
                    drawing = rng.choice(pool)
                    for index, stroke in enumerate(drawing):
                        for offset in range(0, len(stroke), CHUNK_POINTS):
                            if stage["now"] != current or stop.is_set():
                                break
                            chunk = stroke[offset:offset + CHUNK_POINTS]
                            await sock.send(orjson.dumps({
                                "type": "stroke", "stage": current, "stroke": index,
                                "start": offset, "points": [list(p) for p in chunk],
                                "end": offset + CHUNK_POINTS >= len(stroke)}))
                            sent += 1
                            await asyncio.sleep(chunk_ms / 1000)  # a child's pace, not a wait
                    if stage["now"] == current and not stop.is_set():
                        await sock.send(orjson.dumps({"type": "skip", "stage": current}))
                        stage["now"] = None
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
    return sent


async def teacher(ws: str, token: str, code: str, stop: asyncio.Event) -> int:
    """A teacher page's socket: reads every roster message until `stop`; returns tiles seen."""
    tiles = 0
    async with websockets.connect(ws, max_size=2**24) as sock:
        await sock.send(orjson.dumps({"type": "watch", "token": token, "code": code}).decode())
        while not stop.is_set():
            try:
                message = orjson.loads(await asyncio.wait_for(sock.recv(), 0.5))
            except TimeoutError:
                continue
            tiles += len(message.get("tiles", []))
    return tiles


async def phase(kind: str, server: ServerSet, n: int, seconds: float, chunk_ms: float,
                pool: list[Any], seed: int) -> dict[str, Any]:
    http = f"http://127.0.0.1:{server.ports[0]}"
    ws = server.urls[0]
    code = token = None
    if kind == "watched":
        async with httpx.AsyncClient(base_url=http) as client:
            token = (await client.post("/api/v1/admin/teachers", json={"label": "bench"},
                                       headers={"Authorization": f"Bearer {ADMIN}"})).json()["token"]
            code = (await client.post("/api/v1/teacher/classes",
                                      json={"name": "bench", "category": "animals"},
                                      headers={"Authorization": f"Bearer {token}"})).json()["code"]
    stop = asyncio.Event()
    rng = random.Random(seed)
    tasks = [asyncio.create_task(tablet(http, ws, f"player-{kind}-{seed}-{i:03d}", code, stop,
                                        pool, chunk_ms, random.Random(rng.random())))
             for i in range(n)]
    watcher = None
    if kind == "watched":
        watcher = asyncio.create_task(teacher(ws.replace("/ws/play", "/ws/teacher"),
                                              token, code, stop))
    await asyncio.sleep(3.0)  # tablets connect and start drawing before we measure
    before = procstats.sample(server.pids)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    after = procstats.sample(server.pids)
    wall = time.monotonic() - t0
    stop.set()
    chunks = sum(await asyncio.gather(*tasks))
    tiles = await watcher if watcher is not None else None
    cpu = after.total_cpu_s - before.total_cpu_s
    return {"kind": kind, "cpu_s": round(cpu, 3), "wall_s": round(wall, 2),
            "cpu_percent": round(100 * cpu / wall, 2), "chunks_sent": chunks, "tiles_seen": tiles}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--tablets", type=int, default=40)
    p.add_argument("--phase-s", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=2, help="plain+watched pairs")
    p.add_argument("--chunk-ms", type=float, default=75.0, help="a tablet's send interval")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest-teacher-watch.json"))
    args = p.parse_args(argv)
    log_dir = ROOT / "var" / "bench-teacher-watch"
    env = {"LOG_LEVEL": "WARNING", "DATA_DIR": str(log_dir / "data"), "REDIS_URL": "",
           "DATABASE_URL": "", "LEGACY_API_URL": "", "ADMIN_TOKEN": ADMIN, "OPEN_CLASS": "true",
           "DEFAULT_TIME_LIMIT_S": "30", "INFERENCE_WORKERS": "1", "CLASS_MAX_TABLETS": "40"}
    pool = drawings()
    server = ServerSet("ours", env, log_dir).start()
    try:
        phases = []
        for r in range(args.rounds):
            for kind in ("plain", "watched"):
                row = asyncio.run(phase(kind, server, args.tablets, args.phase_s, args.chunk_ms,
                                        pool, seed=r))
                print(json.dumps(row), flush=True)
                phases.append(row)
    finally:
        server.stop()
    plain = [r["cpu_s"] / r["wall_s"] for r in phases if r["kind"] == "plain"]
    watched = [r["cpu_s"] / r["wall_s"] for r in phases if r["kind"] == "watched"]
    overhead = 100 * (statistics.mean(watched) / statistics.mean(plain) - 1)
    report = {"bench": "teacher_watch", "tablets": args.tablets, "phase_s": args.phase_s,
              "rounds": args.rounds, "chunk_ms": args.chunk_ms, "cpu_count": os.cpu_count(),
              "load_before": os.getloadavg(), "phases": phases,
              "overhead_percent": round(overhead, 2), "goal_percent": 5.0,
              "within_goal": overhead < 5.0}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("overhead_percent", "within_goal")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
