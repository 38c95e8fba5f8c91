"""Recognition benchmark: guesses per second and latency, stroke in to guess out.

    .venv/bin/python -m bench.inference [--models-dir models] [--duration-s 8] [--quick]

Writes `bench/results/inference-<UTC time>.json` and `bench/results/latest-inference.json`.
Realistic strokes: Google's raw Quick, Draw! drawings (canvas pixels with time) replayed a stroke
at a time, each request carrying the whole drawing so far, as the game sends it.

Scenarios:
- baseline: Keras `model.predict` per request, in process (rasterising included).
- direct/<runtime>: one core, in process, no pool: rasterise (incremental) + predict in batches;
  the ceiling of one worker.
- pool closed-loop: N clients each sending its next stroke as soon as the last answer came back;
  the pool's capacity.
- pool open-loop: Poisson arrivals at a fixed rate (latency counted from the planned arrival time,
  so a stalled pool cannot hide its backlog), one drawing per simulated child.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import glob
import json
import os
import platform
import random
import statistics
import sys
import time
from array import array
from pathlib import Path

import numpy as np

from inference import fastpath
from inference.api import RecognizeRequest
from inference.errors import ModelLoadError
from inference.gc_policy import settle_after_startup
from inference.pool import WorkerPool, default_worker_count
from inference.registry import ModelRegistry

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
RAW_DIRS = [ROOT / "tests" / "fixtures" / "quickdraw", Path("/work/shared/data/quickdraw/strokes/raw")]


def load_drawings(limit: int = 600, seed: int = 0) -> tuple[list[list[list[tuple]]], str]:
    """Raw drawings as lists of strokes of (x, y, t) points."""
    rng = random.Random(seed)
    for d in RAW_DIRS:
        files = sorted(glob.glob(str(d / "**" / "*.ndjson"), recursive=True))
        drawings = []
        for f in files:
            for line in Path(f).read_text().splitlines():
                try:
                    strokes = json.loads(line)["drawing"]
                except (ValueError, KeyError):
                    continue
                if strokes and len(strokes[0]) == 3:  # raw format: x, y and t
                    drawings.append([list(zip(*s)) for s in strokes])
        if len(drawings) >= 50:
            rng.shuffle(drawings)
            return drawings[:limit], str(d)
    raise SystemExit("no raw Quick, Draw! drawings found for the benchmark")


def worker_cpu_s(pids) -> float:
    """CPU seconds (user + system) used so far by the worker processes."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        if pid is None:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentiles(lat_ms: list[float]) -> dict:
    if not lat_ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    a = np.asarray(lat_ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 2)}


def stroke_requests(drawings, category: str, labels: tuple[str, ...]):
    """Every prefix of every drawing, as the game would send them (one key per drawing)."""
    out = []
    for i, d in enumerate(drawings):
        for n in range(1, len(d) + 1):
            out.append(RecognizeRequest(f"bench-{i}", category, labels, d[:n]))
    return out


# ----------------------------------------------------------------------------- in process


def bench_baseline(models_dir: Path, drawings, n: int) -> dict:
    """Keras model.predict per request, rasterising each whole drawing (what a naive server does)."""
    from inference import inputs as model_inputs
    from inference.runtime import load_runtime

    reg = ModelRegistry.load(models_dir)
    cat = reg.categories()[0]
    info = reg.models[reg.model_for(cat).model]
    rt = load_runtime(info.path, "keras", threads=1)
    reqs = stroke_requests(drawings, cat, ())[:n]
    rt.predict(model_inputs.stack([model_inputs.drawing_input(reqs[0].strokes, info.spec)]))
    lat = []
    t0 = time.perf_counter()
    for r in reqs:
        t = time.perf_counter()
        rt.predict(model_inputs.stack([model_inputs.drawing_input(r.strokes, info.spec)]))
        lat.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - t0
    return {"scenario": "baseline", "runtime": "keras", "policy": "model.predict per request",
            "requests": len(reqs), "guesses_per_s": round(len(reqs) / wall, 1),
            **percentiles(lat)}


def bench_direct(models_dir: Path, drawings, runtime: str, batch: int, seconds: float) -> dict:
    """One core, no pool: incremental raster per drawing + predict in batches of `batch`.
    ("raster" includes a two-input model's point sequence, built from the same raster.)"""
    from inference import inputs as model_inputs
    from inference.raster import IncrementalRaster
    from inference.runtime import load_runtime

    reg = ModelRegistry.load(models_dir)
    cat = reg.categories()[0]
    info = reg.models[reg.model_for(cat).model]
    rt = load_runtime(info.path, runtime, threads=1, max_batch_size=max(batch, 1))
    t_raster = t_predict = 0.0  # CPU time of this process: robust to a busy machine
    done = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for d in drawings:
            raster = IncrementalRaster(info.spec)
            images = []
            for stroke in d:
                t = time.process_time()
                raster.add_stroke(stroke)
                images.append(model_inputs.incremental_input(raster, raster.image(), info.spec))
                t_raster += time.process_time() - t
            for i in range(0, len(images), batch):
                t = time.process_time()
                rt.predict(model_inputs.stack(images[i:i + batch]))
                t_predict += time.process_time() - t
            done += len(images)
            if time.perf_counter() - t0 >= seconds:
                break
    wall = time.perf_counter() - t0
    return {"scenario": "direct", "runtime": runtime, "policy": f"batch {batch}, 1 core",
            "requests": done, "guesses_per_s": round(done / wall, 1),
            "raster_cpu_us_per_guess": round(t_raster / done * 1e6, 1),
            "predict_cpu_us_per_guess": round(t_predict / done * 1e6, 1)}


# ----------------------------------------------------------------------------- pool


class Sessions:
    """Simulated children: each draws one drawing a stroke at a time, then starts another."""

    def __init__(self, drawings, category: str, labels: tuple[str, ...], count: int, seed: int,
                 pool: WorkerPool | None = None):
        self.rng = random.Random(seed)
        self.drawings, self.category, self.labels = drawings, category, labels
        self.pool = pool
        self.next_key = 0
        self.sessions = [self._new() for _ in range(count)]

    def _new(self):
        self.next_key += 1
        return [f"child-{self.next_key}", self.rng.choice(self.drawings), 0]

    def forget_all(self) -> None:
        """The children stop drawing: the workers may drop their drawings."""
        if self.pool is not None:
            for key, _, _ in self.sessions:
                self.pool.forget(key)

    def request(self, i: int) -> RecognizeRequest:
        s = self.sessions[i]
        s[2] += 1
        req = RecognizeRequest(s[0], self.category, self.labels, s[1][:s[2]])
        if s[2] >= len(s[1]):
            if self.pool is not None:  # as the server does when a stage ends
                self.pool.forget(s[0])
            self.sessions[i] = self._new()
        return req


def _outcome(stats: dict, exc: BaseException | None) -> None:
    key = "ok" if exc is None else type(exc).__name__
    stats[key] = stats.get(key, 0) + 1


async def pool_closed_loop(pool: WorkerPool, sessions: Sessions, clients: int, seconds: float) -> dict:
    lat, outcomes = array("d"), {}  # not a list: see pool_open_loop
    stop = time.perf_counter() + seconds

    async def client(i: int) -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                await pool.recognize(sessions.request(i))
                exc = None
            except Exception as e:  # counted, not hidden
                exc = e
            lat.append((time.perf_counter() - t) * 1000)
            _outcome(outcomes, exc)

    t0 = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.perf_counter() - t0
    return {"mode": f"closed-loop, {clients} clients", "requests": len(lat), "wall_s": wall,
            "guesses_per_s": round(outcomes.get("ok", 0) / wall, 1), "outcomes": outcomes,
            **percentiles(lat)}


async def pool_open_loop(pool: WorkerPool, sessions: Sessions, rate: float, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    rng = random.Random(1)
    # An array, not a list of tens of thousands of float objects that every GC pass of this
    # process (the pool's own) would walk.
    lat, outcomes = array("d"), {}
    n_sessions = len(sessions.sessions)
    # Count answers instead of keeping every future: tens of thousands of live futures made
    # this process's own full GC collections stall the loop (and so the pool) for 30-75 ms.
    outstanding = 0
    all_answered = asyncio.Event()

    def done(fut: asyncio.Future, planned: float) -> None:
        nonlocal outstanding
        lat.append((loop.time() - planned) * 1000)
        _outcome(outcomes, None if fut.cancelled() else fut.exception())
        outstanding -= 1
        if outstanding == 0:
            all_answered.set()

    t0 = loop.time()
    planned = t0
    end = t0 + seconds
    while planned < end:
        now = loop.time()
        while planned <= now and planned < end:
            req = sessions.request(rng.randrange(n_sessions))
            try:
                fut = pool.submit(req)
            except Exception as e:
                _outcome(outcomes, e)
            else:
                outstanding += 1
                fut.add_done_callback(lambda f, p=planned: done(f, p))
            planned += rng.expovariate(rate)
        await asyncio.sleep(max(0.0, planned - loop.time()))
    if outstanding:
        all_answered.clear()  # it may have been set by a lull during the run
        await all_answered.wait()
    wall = loop.time() - t0
    return {"mode": f"open-loop, {rate:.0f}/s offered", "offered_per_s": rate, "wall_s": wall,
            "requests": sum(outcomes.values()),
            "guesses_per_s": round(outcomes.get("ok", 0) / wall, 1), "outcomes": outcomes,
            **percentiles(lat)}


def pool_policy(workers: int, worker_kind: str, max_batch_size: int, max_wait_ms: float) -> str:
    """The pool's configuration as the results table names it."""
    return (f"{workers} {worker_kind}{'es' if worker_kind == 'process' else 's'}, "
            f"batch<={max_batch_size}, wait {max_wait_ms:g} ms, queue<=256")


async def bench_pool(models_dir: Path, drawings, *, runtime: str, workers: int, worker_kind: str,
                     max_batch_size: int, max_wait_ms: float, rates: list[float],
                     seconds: float, clients: int,
                     raster_module: str = "inference.raster") -> list[dict]:
    reg = ModelRegistry.load(models_dir)
    cat = reg.categories()[0]
    labels = tuple(sorted(reg.known_labels(cat)))
    pool = WorkerPool(models_dir, workers=workers, max_batch_size=max_batch_size,
                      max_wait_ms=max_wait_ms, max_queue=256, runtime=runtime,
                      worker_kind=worker_kind, raster_module=raster_module)
    policy = pool_policy(workers, worker_kind, max_batch_size, max_wait_ms)
    rows = []
    async with pool:
        # warm up the workers (first calls, caches)
        warm_up = Sessions(drawings, cat, labels, 64, 99, pool)
        await pool_closed_loop(pool, warm_up, 64, 1.0)
        warm_up.forget_all()
        settle_after_startup()  # as the server does once it has started
        runs = [("closed", clients)] + [("open", r) for r in rates]
        for kind, arg in runs:
            load0 = os.getloadavg()[0]
            s0 = dict(vars(pool.stats))
            pids = pool.worker_pids()
            cpu_main0, cpu_workers0 = time.process_time(), worker_cpu_s(pids)
            sessions = Sessions(drawings, cat, labels, arg if kind == "closed" else max(int(arg), 64),
                                7, pool)
            if kind == "closed":
                row = await pool_closed_loop(pool, sessions, arg, seconds)
            else:
                row = await pool_open_loop(pool, sessions, arg, seconds)
            sessions.forget_all()
            s1 = vars(pool.stats)
            items = s1["batch_items"] - s0["batch_items"]
            cpu_main = time.process_time() - cpu_main0
            cpu_workers = worker_cpu_s(pids) - cpu_workers0
            if worker_kind == "process" and items:
                # CPU cost per computed guess: independent of what else the machine runs, so
                # it gives the capacity of dedicated cores: cores / (main + workers).
                row["cpu_us_per_guess"] = {"server_loop": round(cpu_main / items * 1e6),
                                           "workers": round(cpu_workers / items * 1e6)}
            batches = max(1, s1["batches"] - s0["batches"])
            wall = row["requests"] and row.get("wall_s", seconds)
            row.update({"scenario": "pool", "runtime": runtime, "policy": policy,
                        "raster": raster_module,
                        "computed_per_s": round(items / wall, 1),
                        "mean_batch": round(items / batches, 1),
                        "superseded": s1["superseded"] - s0["superseded"],
                        "loadavg_1m_before": round(load0, 2)})
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def bench_pool_or_skip(models_dir: Path, drawings, *, runtime: str, workers: int,
                       worker_kind: str, max_batch_size: int, max_wait_ms: float, **kw) -> list[dict]:
    """`bench_pool`, or one "skipped" row saying why when the workers cannot load the model
    with that runtime (as the direct rows do: the tf runtime and a model that reads points)."""
    try:
        return asyncio.run(bench_pool(models_dir, drawings, runtime=runtime, workers=workers,
                                      worker_kind=worker_kind, max_batch_size=max_batch_size,
                                      max_wait_ms=max_wait_ms, **kw))
    except ModelLoadError as exc:
        row = {"scenario": "pool", "runtime": runtime,
               "policy": pool_policy(workers, worker_kind, max_batch_size, max_wait_ms),
               "skipped": str(exc)}
        print(json.dumps(row), flush=True)
        return [row]


# Issue 12's target for the pool: at least 5,000 guesses/s answered at p99 <= 20 ms on 2 workers.
TARGET_RATE_PER_S, TARGET_P99_MS, TARGET_WORKERS = 5000.0, 20.0, 2


def target_verdict(rows: list[dict]) -> dict:
    """Per pool policy with `TARGET_WORKERS` worker processes and the real raster: in how many of
    its open-loop runs at `TARGET_RATE_PER_S` the target was met (every request answered, at
    least 99 % of the offered rate -- Poisson arrivals offer a little more or less than the
    rate -- and p99 <= `TARGET_P99_MS`), with the spread of p99 over the runs. One run is not a
    verdict on a shared VM: the same code gave 7-98 ms on one day."""
    by_policy: dict[str, list[dict]] = {}
    for r in rows:
        if (r.get("scenario") == "pool" and "skipped" not in r
                and r.get("offered_per_s") == TARGET_RATE_PER_S
                and r.get("raster", "inference.raster") == "inference.raster"
                and r["policy"].startswith(f"{TARGET_WORKERS} processes")):
            by_policy.setdefault(f"{r['runtime']}, {r['policy']}", []).append(r)
    out = {}
    for policy, runs in by_policy.items():
        met = [r for r in runs
               if set(r["outcomes"]) <= {"ok"} and r["guesses_per_s"] >= 0.99 * TARGET_RATE_PER_S
               and r["p99_ms"] <= TARGET_P99_MS]
        p99 = [r["p99_ms"] for r in runs]
        out[policy] = {"runs": len(runs), "met": len(met), "p99_ms_min": min(p99),
                       "p99_ms_median": round(statistics.median(p99), 2), "p99_ms_max": max(p99)}
    return {"rate_per_s": TARGET_RATE_PER_S, "p99_ms": TARGET_P99_MS, "workers": TARGET_WORKERS,
            "by_policy": out}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__.split("\n")[0])
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--duration-s", type=float, default=8.0)
    ap.add_argument("--rates", default="250,500,1000,2000,5000")
    ap.add_argument("--clients", type=int, default=128, help="closed-loop clients")
    ap.add_argument("--quick", action="store_true", help="fewer configurations")
    ap.add_argument("--only", default="", help="comma list: baseline,direct,pool,threads,noraster")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the pool configurations this many rounds, one after another in turn "
                         "(the target's verdict counts the runs that met it)")
    ap.add_argument("--no-latest", action="store_true",
                    help="write only the timestamped results file: leave latest-inference.json and the README table "
                         "as they are (side-by-side and scratch runs)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    models_dir = args.models_dir
    model_note = str(models_dir)
    if not (models_dir / "categories.json").exists():
        from bench.inference.toy_model import build_toy_models_dir
        models_dir = Path("/tmp/doodle-bench-toy-models")
        if not (models_dir / "categories.json").exists():
            build_toy_models_dir(models_dir)
        model_note = "toy model (bench/inference/toy_model.py): no models/categories.json yet"
    drawings, source = load_drawings()
    only = set(filter(None, args.only.split(",")))
    rates = [float(r) for r in args.rates.split(",") if r]
    rows: list[dict] = []

    def want(name: str) -> bool:
        return not only or name in only

    if want("baseline"):
        rows.append(bench_baseline(models_dir, drawings, 30 if args.quick else 80))
        print(json.dumps(rows[-1]), flush=True)
    if want("direct"):
        for runtime, batch in [("litert", 1), ("litert", 32), ("tf", 32)]:
            try:
                rows.append(bench_direct(models_dir, drawings, runtime, batch, min(args.duration_s, 4)))
            except ModelLoadError as exc:  # e.g. the tf runtime and a model that reads points too
                rows.append({"scenario": "direct", "runtime": runtime, "policy": f"batch {batch}, 1 core",
                             "skipped": str(exc)})
            print(json.dumps(rows[-1]), flush=True)
    configs = []
    if want("pool"):
        configs += [("litert", 2, "process", 32, 0.0), ("litert", 1, "process", 32, 0.0),
                    ("litert", 2, "process", 32, 2.0)]
        if not args.quick:
            configs += [("litert", 2, "process", 8, 0.0), ("tf", 2, "process", 32, 0.0)]
    if want("threads") or (not only and not args.quick):
        configs += [("litert", 2, "thread", 32, 0.0)]
    configs = [(*c, "inference.raster") for c in configs]
    if want("noraster"):  # the pool's own cost: IPC, batching, event loop, inference
        configs += [("litert", 2, "process", 32, 0.0, "bench.inference.null_raster")]
    # Rounds go through every configuration in turn, so a VM that slows down for a while (its
    # neighbours) hits every configuration alike instead of the one that ran then.
    for round_ in range(args.repeat):
        for runtime, workers, kind, mbs, wait, raster_module in configs:
            new_rows = bench_pool_or_skip(models_dir, drawings, runtime=runtime, workers=workers,
                                          worker_kind=kind, max_batch_size=mbs, max_wait_ms=wait,
                                          rates=rates, seconds=args.duration_s,
                                          clients=args.clients, raster_module=raster_module)
            rows += [{**r, "round": round_} for r in new_rows]
    stamp = dt.datetime.now(dt.timezone.utc)
    doc = {"date_utc": stamp.isoformat(timespec="seconds"),
           "command": "python -m bench.inference " + " ".join(argv if argv is not None else sys.argv[1:]),
           "machine": {"cpus": os.cpu_count(), "default_workers": default_worker_count(),
                       "python": platform.python_version(), "loadavg": os.getloadavg(),
                       **cpu_description()},
           "model": model_note, "strokes": source, "drawings": len(drawings), "rows": rows,
           "target": target_verdict(rows)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"inference-{stamp:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(doc, indent=1))
    if not args.no_latest:
        (RESULTS / "latest-inference.json").write_text(json.dumps(doc, indent=1))
        update_readme(doc, out)
    print(f"wrote {out}")


def cpu_description() -> dict:
    """What makes runs on two machines comparable or not: the CPU and the SIMD it offers (the
    same code and model cost 3-4x more a guess on 12-08's VM than on 12-07's) and whether the C
    build of the raster's arithmetic ran (`inference.fastpath`)."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    simd = sorted(f for f in flags if f.startswith(("avx", "amx")) or f in ("fma", "f16c"))
    return {"cpu_model": model, "simd": simd, "c_fastpath": fastpath.fast is not None}


def update_readme(doc: dict, out: Path) -> None:
    """Rewrite the generated table in bench/inference/README.md (between the markers)."""
    readme = Path(__file__).with_name("README.md")
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    lines = [begin, "",
             f"Run {doc['date_utc']} with `{doc['command'].strip()}`; model: {doc['model']}; "
             f"strokes: {doc['strokes']}; 1-min load average at the end: "
             f"{doc['machine']['loadavg'][0]:.1f} on {doc['machine']['cpus']} cores "
             f"(shared machine). Raw: `{out.relative_to(ROOT)}` (and `bench/results/latest-inference.json`).", "",
             "| scenario | runtime | policy | load | answered/s | computed/s | mean batch | p50 ms "
             "| p95 ms | p99 ms | max ms | outcomes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['scenario']} | {r['runtime']} | {r['policy']} | skipped: {r['skipped']} |"
                         + " - |" * 8)
            continue
        scenario = r["scenario"]
        if r.get("round"):  # --repeat: the rounds after the first
            scenario += f" #{r['round'] + 1}"
        if r.get("raster", "inference.raster") != "inference.raster":
            scenario += " (no raster)"
        extra = ""
        if r["scenario"] == "direct":
            extra = (f"CPU per guess: raster {r['raster_cpu_us_per_guess']} us + predict "
                     f"{r['predict_cpu_us_per_guess']} us")
        elif "cpu_us_per_guess" in r:
            c = r["cpu_us_per_guess"]
            extra = (f"{r.get('outcomes')}; CPU per guess: loop {c['server_loop']} us + "
                     f"workers {c['workers']} us")
        lines.append("| " + " | ".join(str(x) for x in [
            scenario, r["runtime"], r["policy"], r.get("mode", "-"), r["guesses_per_s"],
            r.get("computed_per_s", "-"), r.get("mean_batch", "-"), r.get("p50_ms", "-"),
            r.get("p95_ms", "-"), r.get("p99_ms", "-"), r.get("max_ms", "-"),
            extra or r.get("outcomes", "-")]) + " |")
    target = doc.get("target") or {}
    if target.get("by_policy"):
        lines += ["", f"Target ({target['rate_per_s']:,.0f}/s answered at p99 <= {target['p99_ms']:g} ms, "
                  f"{target['workers']} workers), runs that met it:"]
        for policy, v in target["by_policy"].items():
            lines.append(f"- {policy}: **{v['met']} of {v['runs']}** (p99 {v['p99_ms_min']}-"
                         f"{v['p99_ms_max']} ms, median {v['p99_ms_median']})")
    lines += ["", "*load* = the offered load. Wall-clock figures depend on what else runs on the "
              "shared machine (see the load average); CPU per guess does not.", "", end]
    text = readme.read_text() if readme.exists() else f"# Recognition benchmark\n\n{begin}\n{end}\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1] if end in rest else ""
    readme.write_text(head + "\n".join(lines) + tail)


if __name__ == "__main__":
    main()
