"""One load generator process: its share of the children on one uvloop event loop."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from bench.load.child import Child, Stats, Window
from bench.load.drawings import load_raw_library, synthetic_library
from bench.load.procstats import self_cpu_s


@dataclasses.dataclass
class GeneratorConfig:
    urls: list[str]
    children: int  # over all processes
    process_index: int
    processes: int
    categories: list[tuple[str, list[str]]]  # (code, labels)
    t0_wall_s: float  # the ramp starts
    ramp_s: float
    steady_s: float
    chunk_ms: float = 50.0
    raw_dir: str | None = None  # None: synthetic drawings
    per_label: int = 100
    seed: int = 0
    compression: str | None = "deflate"
    keep_drawing: bool = True
    guard_ms: float = 500.0
    ping_s: float = 5.0


async def _loop_lag(stats: Stats, until_s: float, every_s: float = 0.1) -> None:
    while time.monotonic() < until_s:
        before = time.monotonic()
        await asyncio.sleep(every_s)
        stats.loop_lag_ms.append((time.monotonic() - before - every_s) * 1000)


async def run_generator(cfg: GeneratorConfig) -> dict[str, Any]:
    """Run this process's children through ramp-up and the steady phase; return what it saw."""
    labels = sorted({label for _, ls in cfg.categories for label in ls})
    canvas = (1024, 700)
    if cfg.raw_dir:
        library = load_raw_library(Path(cfg.raw_dir), labels, canvas, per_label=cfg.per_label)
    else:
        library = synthetic_library(labels, canvas, seed=cfg.seed)
    mono_t0 = time.monotonic() + (cfg.t0_wall_s - time.time())
    window = Window(mono_t0 + cfg.ramp_s, mono_t0 + cfg.ramp_s + cfg.steady_s)
    stop_s = window.end_s
    stats = Stats()
    mine = list(range(cfg.process_index, cfg.children, cfg.processes))
    children = [
        Child(cfg.urls[i % len(cfg.urls)], i, category=cfg.categories[i % len(cfg.categories)][0],
              library=library, stats=stats, window=window, stop_s=stop_s,
              seed=cfg.seed * 1_000_003 + i, chunk_ms=cfg.chunk_ms, compression=cfg.compression,
              keep_drawing=cfg.keep_drawing, guard_ms=cfg.guard_ms, ping_s=cfg.ping_s)
        for i in mine
    ]

    async def start(child: Child) -> None:
        at = mono_t0 + cfg.ramp_s * child.index / max(1, cfg.children)
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        await child.run()

    cpu = {}

    async def mark_cpu() -> None:
        await asyncio.sleep(max(0.0, window.start_s - time.monotonic()))
        cpu["start"] = self_cpu_s()
        connected_at_start = stats.connected
        await asyncio.sleep(max(0.0, window.end_s - time.monotonic()))
        cpu["end"] = self_cpu_s()
        cpu["connected_start"] = connected_at_start
        cpu["connected_end"] = stats.connected

    lag = asyncio.create_task(_loop_lag(stats, stop_s))
    marks = asyncio.create_task(mark_cpu())
    # Bounded: children stop drawing at stop_s and close within a few seconds after; any still
    # stuck (a server that stopped answering) are cancelled, and counted, 30 s later.
    tasks = [asyncio.create_task(start(c)) for c in children]
    pending: set = set()
    if tasks:  # a process may have no child (fewer children than processes)
        _, pending = await asyncio.wait(tasks, timeout=stop_s - time.monotonic() + 30)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await marks
    lag.cancel()
    result = dataclasses.asdict(stats)
    result["generator_cpu_s"] = cpu.get("end", 0.0) - cpu.get("start", 0.0)
    result["connected_at_steady_start"] = cpu.get("connected_start", 0)
    result["connected_at_steady_end"] = cpu.get("connected_end", 0)
    result["children"] = len(children)
    result["children_cancelled"] = len(pending)
    return result


def generator_process_main(conn: Any, cfg: GeneratorConfig) -> None:
    """Entry of a generator process (multiprocessing): run, send the result back."""
    run_and_report(conn, lambda: run_generator(cfg))


def run_and_report(conn: Any, main: Any) -> None:
    """Run `main()` on uvloop with every file descriptor allowed, and send its result (or its
    failure) down `conn`: a generator process always answers its coordinator."""
    import resource
    import traceback

    import uvloop

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        result = uvloop.run(main())
    except BaseException as exc:  # report, never hang the coordinator
        result = {"failed": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"}
    conn.send(result)
    conn.close()
