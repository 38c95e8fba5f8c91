"""One load generator process: its share of the failover tablets on one uvloop event loop."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from bench.failover.tablet import FailoverTablet, Record
from bench.load.drawings import load_raw_library, synthetic_library
from bench.load.procstats import self_cpu_s


@dataclasses.dataclass
class GeneratorConfig:
    urls: list[str]  # [A, B]: tablet i starts on urls[i % 2]
    tablets: int  # over all generator processes
    process_index: int
    processes: int
    categories: list[tuple[str, list[str]]]
    t0_wall_s: float  # the ramp starts
    ramp_s: float
    stop_wall_s: float
    speed: float = 1.0
    chunk_ms: float = 100.0
    raw_dir: str | None = None
    per_label: int = 30
    seed: int = 0


async def run_generator(cfg: GeneratorConfig) -> dict[str, Any]:
    labels = sorted({label for _, ls in cfg.categories for label in ls})
    canvas = (1024, 700)
    if cfg.raw_dir:
        library = load_raw_library(Path(cfg.raw_dir), labels, canvas, per_label=cfg.per_label)
        library_note = f"raw Quick, Draw! drawings from {cfg.raw_dir}: {len(library)} drawings"
    else:
        library = synthetic_library(labels, canvas, seed=cfg.seed)
        library_note = "synthetic drawings"
    rec = Record()
    mine = list(range(cfg.process_index, cfg.tablets, cfg.processes))
    tablets = [
        FailoverTablet(i, cfg.urls, i % len(cfg.urls),
                       category=cfg.categories[i % len(cfg.categories)][0], library=library,
                       rec=rec, stop_wall=cfg.stop_wall_s, seed=cfg.seed * 1_000_003 + i,
                       speed=cfg.speed, chunk_ms=cfg.chunk_ms)
        for i in mine
    ]
    lag: list[float] = []

    async def loop_lag() -> None:
        while time.time() < cfg.stop_wall_s:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            lag.append((time.monotonic() - before - 0.1) * 1000)

    async def start(t: FailoverTablet) -> None:
        at = cfg.t0_wall_s + cfg.ramp_s * t.index / max(1, cfg.tablets)
        await asyncio.sleep(max(0.0, at - time.time()))
        await t.run()

    cpu0 = self_cpu_s()
    lagger = asyncio.create_task(loop_lag())
    tasks = [asyncio.create_task(start(t)) for t in tablets]
    # Bounded: tablets stop drawing at stop_wall and close; a reconnect in progress has its own
    # bounded attempts; anything still running 120 s after the stop is cancelled and counted.
    _, pending = await asyncio.wait(tasks, timeout=cfg.stop_wall_s - time.time() + 120)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    lagger.cancel()
    errors = [repr(t.exception()) for t in tasks if t.done() and not t.cancelled()
              and t.exception() is not None]
    out = dataclasses.asdict(rec)
    # dataclasses.asdict rebuilds a Counter from (key, value) pairs, counting the pairs: redo them
    for name in ("guesses_by_s", "errors", "stages", "connect_failures"):
        out[name] = dict(getattr(rec, name))
    out["tablets"] = len(tablets)
    out["tablets_cancelled"] = len(pending)
    out["tablet_crashes"] = errors[:20]
    out["tablet_crash_count"] = len(errors)
    out["generator_cpu_s"] = self_cpu_s() - cpu0
    out["loop_lag_ms"] = lag
    out["library"] = library_note
    return out


def generator_process_main(conn: Any, cfg: GeneratorConfig) -> None:
    """Entry of a generator process (multiprocessing): run, send the result back."""
    from bench.load.generator import run_and_report

    run_and_report(conn, lambda: run_generator(cfg))
