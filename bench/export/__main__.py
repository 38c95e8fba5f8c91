"""Export benchmark: peak memory and speed of exporting N consented drawings.

    .venv/bin/python -m bench.export --drawings 100000 [--database-url URL] [--keep]

Seeds a fresh database in a child process (default: an SQLite file under a temporary directory;
or `--database-url` of an empty MariaDB database), then runs `server.export.run_export` in this
process while a thread samples RSS every 50 ms. Peak RSS is the kernel's high-water mark
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`, which covers the whole process lifetime, imports
included) and the sampled maximum. Writes `bench/results/export-<UTC time>.json` and
`bench/results/latest-export.json`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
LIMIT_MB = 200


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, interval_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()
        self._t0 = time.perf_counter()

    def run(self) -> None:
        while not self._halt.is_set():
            mb = rss_mb()
            self.peak_mb = max(self.peak_mb, mb)
            if not self.samples or time.perf_counter() - self._t0 - self.samples[-1][0] >= 5:
                self.samples.append((round(time.perf_counter() - self._t0, 1), round(mb, 1)))
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join()


async def export(url: str, out: Path, batch_size: int) -> dict:
    from tqdm import tqdm

    from legacy_bridge.bridge import create_results_engine
    from server.export import run_export

    engine = create_results_engine(url)
    bar = tqdm(unit="drawing", file=sys.stderr, mininterval=2.0)
    try:
        t0 = time.perf_counter()
        result = await run_export(engine=engine, out_dir=out, batch_size=batch_size,
                                  on_total=lambda n: setattr(bar, "total", n),
                                  on_progress=bar.update)
        seconds = time.perf_counter() - t0
    finally:
        bar.close()
        await engine.dispose()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"drawings": result.drawings, "words": len(result.by_label),
            "seconds": round(seconds, 2),
            "drawings_per_s": round(result.drawings / seconds, 1) if seconds else None,
            "export_bytes": size}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.export")
    p.add_argument("--drawings", type=int, default=100_000)
    p.add_argument("--database-url", help="an EMPTY results database (default: temp SQLite)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--no-seed", action="store_true",
                   help="use --database-url as it is (already seeded by bench.export.seed)")
    args = p.parse_args()
    if args.no_seed and not args.database_url:
        p.error("--no-seed needs --database-url")
    tmp = Path(tempfile.mkdtemp(prefix="dq-bench-export-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'results.sqlite3'}"
    try:
        # Seeding in a child process: this process's high-water mark is the export's alone.
        if args.no_seed:
            seed_info = {"reused": url}
        else:
            seeded = subprocess.run(
                [sys.executable, "-m", "bench.export.seed", "--drawings", str(args.drawings),
                 "--url", url], cwd=ROOT, check=True, capture_output=True, text=True)
            seed_info = json.loads(seeded.stdout.strip().splitlines()[-1])
        print(f"seeded: {seed_info}", file=sys.stderr)
        baseline_mb = rss_mb()
        sampler = Sampler()
        sampler.start()
        info = asyncio.run(export(url, tmp / "export", args.batch_size))
        sampler.stop()
        peak_kernel_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report = {
            "benchmark": "export",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench.export"] + sys.argv[1:]),
            "database": url.split(":", 1)[0],
            "seed": seed_info, "export": info, "batch_size": args.batch_size,
            "rss_mb": {"before_export": round(baseline_mb, 1),
                       "peak_sampled": round(sampler.peak_mb, 1),
                       "peak_ru_maxrss": round(peak_kernel_mb, 1),
                       "timeline_s_mb": sampler.samples},
            "limit_mb": LIMIT_MB, "under_limit": peak_kernel_mb < LIMIT_MB,
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "platform": platform.platform()},
        }
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2) + "\n"
    (RESULTS / f"export-{stamp}.json").write_text(text)
    (RESULTS / "latest-export.json").write_text(text)
    print(json.dumps({k: report[k] for k in ("export", "rss_mb", "under_limit")}, indent=2))


if __name__ == "__main__":
    main()
