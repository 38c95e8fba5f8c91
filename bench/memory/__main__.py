"""`python -m bench.memory`: server memory per tablet, by process, after a game and a half.

    .venv/bin/python -m bench.memory --tablets 100

Starts `python -m server` on the embedded defaults (one inference worker), reads the resident
memory (VmRSS) of the server process and of its worker, then lets N tablets each play one whole
game (a real Quick, Draw! drawing of every topic, or a skip) and draw the first strokes of a
second game, and reads the memory again while all N stay connected. The growth divided by N is
what one connected, drawing tablet costs each process, with what finished games leave behind.
Writes `bench/results/memory-<UTC>.json` and prints a line per process.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.load.drawings import DrawingLibrary, load_raw_library, synthetic_library
from bench.load.servers import ServerSet
from bench.report import command_line, write_report
from bench.tablet import Tablet

ROOT = Path(__file__).resolve().parents[2]
RAW = Path("/work/shared/data/quickdraw/strokes/raw")
CANVAS = (1024, 700)


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS of a process and of its children (the inference workers), KiB."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    out = {}
    for name, p in [("server", pid)] + [(f"worker-{i}", int(c)) for i, c in enumerate(children)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out[name] = int(line.split()[1])
    return out


async def tablet(url: str, n: int, category: str, library: DrawingLibrary,
                 gate: asyncio.Semaphore, ready: asyncio.Queue, hold: asyncio.Event) -> None:
    rng = random.Random(n)
    async with gate:
        first = Tablet(url, player_id=f"mem-{n:05d}", category=category, canvas=CANVAS,
                       keep_received=False)
        async with first:
            await first.hello()
            message = await first.recv_until("stage_start")
            while message["type"] == "stage_start":
                drawing = library.pick(message["topic"]["label"], rng)
                _, message = await first.play_stage(message, [list(s) for s in drawing.strokes])
        second = Tablet(url, player_id=f"mem-{n:05d}", category=category, canvas=CANVAS,
                        keep_received=False)
        await second.__aenter__()
        await second.hello()
        start = await second.recv_until("stage_start")
        drawing = library.pick(start["topic"]["label"], rng)
        for index, stroke in enumerate(drawing.strokes[:3]):
            await second.draw_stroke(start["stage"], index, stroke)
            if (await second.recv_until("ack", "stage_result"))["type"] == "stage_result":
                break
    await ready.put(n)
    try:
        await hold.wait()
    finally:
        await second.ws.close()


async def measure(url: str, pid: int, args: argparse.Namespace, library: DrawingLibrary) -> dict:
    idle = rss_kib(pid)
    gate, ready, hold = asyncio.Semaphore(args.concurrency), asyncio.Queue(), asyncio.Event()
    tasks = [asyncio.create_task(tablet(url, n, args.category, library, gate, ready, hold))
             for n in range(args.tablets)]
    try:
        for _ in range(args.tablets):
            getter = asyncio.ensure_future(ready.get())
            done, _ = await asyncio.wait([getter, *tasks], timeout=args.timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                failed = [t.exception() for t in tasks if t.done() and t.exception()]
                raise RuntimeError(f"a tablet failed or stalled: {failed[:3]}")
        loaded = rss_kib(pid)
    finally:
        hold.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    per = {name: round((loaded[name] - idle.get(name, 0)) / args.tablets, 1) for name in loaded}
    return {"idle_kib": idle, "loaded_kib": loaded, "per_tablet_kib": per,
            "per_tablet_total_kib": round(sum(per.values()), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tablets", type=int, default=100)
    parser.add_argument("--category", default="animals")
    parser.add_argument("--concurrency", type=int, default=100, help="tablets playing at once")
    parser.add_argument("--raw-dir", type=Path, default=RAW)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    categories = json.loads((ROOT / "models" / "categories.json").read_text(encoding="utf-8"))
    labels = [t["label"] for c in categories["categories"] if c["code"] == args.category
              for t in c["topics"]]
    library = (load_raw_library(args.raw_dir, labels, CANVAS, per_label=20)
               if args.raw_dir.is_dir() else synthetic_library(labels, CANVAS))
    with tempfile.TemporaryDirectory(prefix="doodle-memory-") as tmp:
        env = {"DATA_DIR": tmp, "INFERENCE_WORKERS": "1", "DEFAULT_TIME_LIMIT_S": "8",
               "INTERMISSION_MS": "0", "LOG_LEVEL": "WARNING"}
        servers = ServerSet(kind="ours", env=env, log_dir=Path(tmp) / "logs").start()
        try:
            time.sleep(2.0)  # let the freshly started workers settle before the idle reading
            result = asyncio.run(measure(servers.urls[0], servers.pids[0], args, library))
        finally:
            servers.stop()
    stamp = datetime.now(timezone.utc)
    report = {"date": stamp.isoformat(timespec="seconds"), "tablets": args.tablets,
              "category": args.category, "command": command_line("bench.memory", argv),
              "data": "Quick, Draw! raw drawings (Google, CC BY 4.0)" if args.raw_dir.is_dir()
              else "synthetic drawings", **result}
    out = write_report("memory", report, stamp, out=args.out, latest=False)
    for name, kib in result["per_tablet_kib"].items():
        print(f"{name:10s} {result['idle_kib'][name]:>8d} KiB idle  "
              f"{result['loaded_kib'][name]:>8d} KiB with {args.tablets} tablets  {kib:>7.1f} KiB/tablet")
    print(f"total {result['per_tablet_total_kib']} KiB per tablet; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
