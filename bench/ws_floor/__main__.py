"""`python -m bench.ws_floor`: the server CPU per WebSocket message of the framework alone.

    .venv/bin/python -m bench.ws_floor [--connections 600] [--rate 6] [--seconds 20]

Starts uvicorn (its default WebSocket implementation, uvloop, as `python -m server` runs) with an
app that only reads messages and answers every third (`bench/ws_floor/apps.py`: a bare ASGI app,
and a FastAPI route like `server/`'s), drives it with N connections each sending a 212-byte stroke
chunk `--rate` times a second (as `bench.load`'s children do while drawing), and reads the server
process's CPU time over the steady phase from `/proc`. CPU divided by messages in and out is the
floor under any server built on this stack, to set against what `bench.load` measures for ours.
Writes `bench/results/ws-floor-<UTC>.json` (and `latest-ws-floor.json`) and prints a line per app.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
import websockets

from bench.load.servers import free_port
from bench.report import command_line, write_report

ROOT = Path(__file__).resolve().parents[2]
CHUNK = orjson.dumps({"type": "stroke", "stage": 0, "stroke": 3, "start": 12, "end": False,
                      "points": [[512.5 + i, 300.25 + i, 1234.0 + 16 * i] for i in range(6)]}
                     ).decode()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def connection(url: str, rate: float, stop: asyncio.Event, counts: list[int]) -> None:
    async with websockets.connect(url, compression=None) as ws:
        async def read() -> None:
            async for _ in ws:
                counts[1] += 1

        reader = asyncio.create_task(read())
        await asyncio.sleep(random.random() / rate)  # spread the connections over the period
        while not stop.is_set():
            await ws.send(CHUNK)
            counts[0] += 1
            await asyncio.sleep(1 / rate)
        reader.cancel()


async def drive(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    stop, counts = asyncio.Event(), [0, 0]
    tasks = [asyncio.create_task(connection(url, args.rate, stop, counts))
             for _ in range(args.connections)]
    await asyncio.sleep(args.warmup_s)
    cpu0, t0, in0, out0 = cpu_seconds(pid), time.monotonic(), *counts
    await asyncio.sleep(args.seconds)
    cpu1, t1, in1, out1 = cpu_seconds(pid), time.monotonic(), *counts
    stop.set()
    failed = [r for r in await asyncio.gather(*tasks, return_exceptions=True)
              if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} connections failed, the first: {failed[0]!r}")
    wall = t1 - t0
    msgs_in, msgs_out, cpu = (in1 - in0) / wall, (out1 - out0) / wall, (cpu1 - cpu0) / wall
    return {"in_per_s": round(msgs_in), "out_per_s": round(msgs_out),
            "server_cpu_percent": round(100 * cpu, 1),
            "server_us_per_message": round(1e6 * cpu / (msgs_in + msgs_out), 1)}


def measure(app: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "WS_FLOOR_APP": app}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.ws_floor.apps:app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", os.environ.get("WS_FLOOR_LOG", "warning")],
                            cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:  # another process's readiness cannot be awaited: poll, bounded
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the {app} app did not start")
            time.sleep(0.1)
        return {"app": app, **uvloop.run(drive(f"ws://127.0.0.1:{port}/ws", proc.pid, args))}
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--rate", type=float, default=6.0, help="messages a second per connection")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--apps", default="raw,fastapi")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-latest", action="store_true")
    args = parser.parse_args(argv)

    rows = [measure(app, args) for app in args.apps.split(",")]
    stamp = datetime.now(timezone.utc)
    report = {"date": stamp.isoformat(timespec="seconds"),
              "command": command_line("bench.ws_floor", argv),
              "connections": args.connections, "rate_per_connection": args.rate,
              "seconds": args.seconds, "rows": rows}
    out = write_report("ws-floor", report, stamp, out=args.out, latest=not args.no_latest)
    for row in rows:
        print(f"{row['app']:8s} in {row['in_per_s']}/s out {row['out_per_s']}/s  server "
              f"{row['server_cpu_percent']} % of a core  {row['server_us_per_message']} us/message")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
