"""Load benchmark: N children on tablets drawing real Quick, Draw! drawings in real time.

    .venv/bin/python -m bench.load -n 200,500,1000 [--target ours,baseline] [--store redis]

For each target server (ours: `python -m server`; baseline: `python -m bench.baseline_server`, the
reference first version) and each N: start the server, ramp N children up over `--ramp-s`, hold
them for `--steady-s`, stop; measure stroke-to-guess latency, stage timer lateness, messages per
second, the server's CPU and memory (the server process and its children: inference workers),
acknowledged strokes; the generator's own CPU and lag. Prints a table and writes
`bench/results/load-<UTC>.json` and `bench/results/latest-load.json`. See bench/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.load import procstats
from bench.load.generator import GeneratorConfig, generator_process_main
from bench.load.servers import ROOT, ServerSet, other_load, prepare_mariadb, prepare_redis, redis_for_bench

RESULTS = ROOT / "bench" / "results"
DEFAULT_RAW_DIR = "/work/shared/data/quickdraw/strokes/raw"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
DEFAULT_DATABASE_URL = "mysql+aiomysql://root@127.0.0.1:3306/doodle_bench"


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def _dist(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": _pct(values, 50), "p95": _pct(values, 95),
            "p99": _pct(values, 99), "max": round(max(values), 2) if values else None}


def models_dir_for(arg: str | None) -> tuple[Path, str]:
    """The models to serve: --models-dir, else models/ if trained, else a toy model (built)."""
    if arg:
        return Path(arg), f"models from {arg}"
    shipped = ROOT / "models"
    if (shipped / "categories.json").exists():
        return shipped, "models/ (trained)"
    toy = Path(tempfile.gettempdir()) / "doodle-bench-toy-models"
    if not (toy / "categories.json").exists():
        from bench.inference.toy_model import build_toy_models_dir

        build_toy_models_dir(toy)
        _name_categories(toy / "categories.json")
    return toy, "toy model (bench/inference/toy_model.py, random weights): models/ had no " \
                "categories.json"


def _name_categories(path: Path) -> None:
    """The toy file lacks the categories' display names the game server wants: add them."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for c in doc["categories"]:
        c.setdefault("name_ko", c["code"])
        c.setdefault("name_en", c["code"])
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def categories_of(models_dir: Path, only: list[str] | None) -> list[tuple[str, list[str]]]:
    doc = json.loads((models_dir / "categories.json").read_text(encoding="utf-8"))
    cats = [(c["code"], [t["label"] for t in c["topics"]]) for c in doc["categories"]]
    if only:
        cats = [c for c in cats if c[0] in only]
    return cats


def run_one(args: argparse.Namespace, target: str, n: int, models_dir: Path,
            categories: list[tuple[str, list[str]]], log_dir: Path) -> dict[str, Any]:
    """One server, N children, ramp + steady; the row of the table."""
    env = {"MODELS_DIR": str(models_dir), "LOG_LEVEL": "WARNING",
           "DATA_DIR": str(log_dir / f"data-{target}-{n}"),
           "DEFAULT_TIME_LIMIT_S": str(args.time_limit_s),
           "REDIS_URL": "", "DATABASE_URL": "", "LEGACY_API_URL": ""}
    if args.store == "redis" and target == "ours":
        prepare_redis(args.redis_url)
        prepare_mariadb(args.database_url)
        env.update(REDIS_URL=args.redis_url, DATABASE_URL=args.database_url, OPEN_CLASS="true",
                   SESSION_SECRET="bench-secret-0123456789")
    for item in args.server_env:
        key, _, value = item.partition("=")
        env[key] = value
    processes = args.server_procs if target == "ours" else 1
    servers = ServerSet(target, env, log_dir, processes=processes).start()
    try:
        time.sleep(1.0)
        idle = procstats.sample(servers.pids)
        t0 = time.time() + 3.0  # generator processes start and load drawings meanwhile
        ctx = mp.get_context("spawn")
        gens = []
        for i in range(args.procs):
            cfg = GeneratorConfig(
                urls=servers.urls, children=n, process_index=i, processes=args.procs,
                categories=categories, t0_wall_s=t0, ramp_s=args.ramp_s, steady_s=args.steady_s,
                chunk_ms=args.chunk_ms,
                raw_dir=None if args.raw_dir == "synthetic" else args.raw_dir,
                per_label=args.per_label, seed=args.seed + i,
                compression=None if args.no_compression else "deflate",
                keep_drawing=not args.draw_once, guard_ms=args.guard_ms, ping_s=args.ping_s)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=generator_process_main, args=(child, cfg), daemon=True)
            proc.start()
            gens.append((proc, parent))
        time.sleep(max(0.0, t0 + args.ramp_s - time.time()))
        start = procstats.sample(servers.pids)
        spies = _start_profilers(args, start, log_dir, f"{target}-{n}")
        gen_start = procstats.sample([p.pid for p, _ in gens])
        peak = start
        end_at = t0 + args.ramp_s + args.steady_s
        while time.time() < end_at:  # sample memory through the steady phase for its peak
            time.sleep(min(2.0, max(0.0, end_at - time.time())))
            s = procstats.sample(servers.pids)
            if s.total_rss_kib > peak.total_rss_kib:
                peak = s
        end = procstats.sample(servers.pids)
        end.cmd = {pid: _cmd(pid) for pid in end.cpu_s}
        gen_end = procstats.sample([p.pid for p, _ in gens])
        results = []
        for proc, conn in gens:
            if conn.poll(120):
                results.append(conn.recv())
            else:
                results.append({"failed": "generator did not report in 120 s"})
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        after = procstats.sample(servers.pids)
        profiles = _finish_profilers(spies)
    finally:
        servers.stop()
    row = summarise(args, target, n, results, idle, start, peak, end, after, gen_start, gen_end)
    if profiles:
        row["profile"] = profiles
    return row


def _start_profilers(args, start, log_dir: Path, tag: str) -> list[tuple[int, Path, Any]]:
    """py-spy on every server process (workers too) through the steady phase, if asked."""
    import subprocess

    if not args.py_spy:
        return []
    spies = []
    for pid in start.cpu_s:
        out = log_dir / f"profile-{tag}-{pid}.txt"
        proc = subprocess.Popen([args.py_spy, "record", "-p", str(pid), "-d",
                                 str(int(args.steady_s)), "-r", "50", "--format", "raw",
                                 "--nonblocking", "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spies.append((pid, out, proc))
    return spies


def _finish_profilers(spies) -> dict[str, Any]:
    """Per process: its samples and the functions with most samples (inclusive), in percent."""
    import collections

    out = {}
    for pid, path, proc in spies:
        try:
            proc.wait(timeout=60)
        except Exception:
            proc.kill()
        if not path.exists():
            continue
        total, incl = 0, collections.Counter()
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            for frame in set(stack.split(";")):
                incl[frame] += int(count)
        top = [(f, round(100 * c / total, 1)) for f, c in incl.most_common(60)
               if not f.startswith(("<module>", "_run_", "run (", "Runner.run", "main ("))]
        out[str(pid)] = {"samples": total, "file": str(path), "top_inclusive_percent": top[:40]}
    return out


def summarise(args, target, n, results, idle, start, peak, end, after, gen_start, gen_end):
    failed = [r["failed"] for r in results if "failed" in r]
    results = [r for r in results if "failed" not in r]

    def cat(key):
        return [v for r in results for v in r[key]]

    def tot(key):
        return sum(r[key] for r in results)

    def merged(key):
        out: dict[str, int] = {}
        for r in results:
            for k, v in r[key].items():
                out[k] = out.get(k, 0) + v
        return out

    steady = args.steady_s
    connected = tot("connected_at_steady_end")
    server_cpu = procstats.cpu_percent(start, end)
    mem_growth = end.total_rss_kib - idle.total_rss_kib
    unacked = tot("strokes_unacked")
    lost = max(0, unacked - tot("wrong_stage_errors"))
    guess = _dist(cat("stroke_to_guess_ms"))
    timers = _dist(cat("timer_lateness_ms"))
    row = {
        "target": target,
        "store": args.store if target == "ours" else "in-process",
        "server_processes": args.server_procs if target == "ours" else 1,
        "children": n,
        "connected_at_steady_start": tot("connected_at_steady_start"),
        "connected_at_steady_end": connected,
        "stroke_to_guess_ms": guess,
        "stroke_to_guess_all_phases_ms": _dist(cat("stroke_to_guess_all_ms")),
        "stroke_to_ack_ms": _dist(cat("stroke_to_ack_ms")),
        "timer_lateness_ms": timers,
        "msgs_per_s": {"to_server": round(tot("msgs_sent_steady") / steady, 1),
                       "from_server": round(tot("msgs_received_steady") / steady, 1)},
        "strokes": {"sent": tot("strokes_sent"), "acked": tot("strokes_acked"),
                    "unacked": unacked, "refused_wrong_stage": tot("wrong_stage_errors"),
                    "lost": lost, "without_guess_before_stage_end": tot("strokes_without_guess")},
        "guesses": tot("guesses"),
        "stages": merged("stages"),
        "games_started": tot("games_started"),
        "errors": merged("errors"),
        "unexpected_disconnects": merged("disconnects"),
        "connect_failures": tot("connect_failures"),
        "server": {
            "pids": sorted(end.cpu_s),
            "cpu_percent_of_one_core": round(server_cpu, 1),
            "per_process_cpu_percent": {
                str(p): round(100 * (end.cpu_s[p] - start.cpu_s.get(p, 0.0)) / max(
                    1e-9, end.at_s - start.at_s), 1) for p in end.cpu_s},
            "per_process": {
                str(pid): {"cmd": end.cmd.get(pid, "?"), "rss_idle_kib": idle.rss_kib.get(pid),
                           "waiting_for_cpu_percent": round(100 * (
                               end.wait_s.get(pid, 0.0) - start.wait_s.get(pid, 0.0)) / max(
                               1e-9, end.at_s - start.at_s), 1),
                           "rss_steady_end_kib": end.rss_kib.get(pid),
                           "hwm_kib": after.hwm_kib.get(pid)} for pid in end.rss_kib},
            "rss_idle_kib": idle.total_rss_kib,
            "rss_steady_end_kib": end.total_rss_kib,
            "rss_peak_sampled_kib": peak.total_rss_kib,
            "hwm_sum_kib": after.total_hwm_kib,
            "kib_per_tablet_growth": round(mem_growth / connected, 2) if connected else None,
            "kib_per_tablet_total": round(end.total_rss_kib / connected, 2) if connected else None,
        },
        "generator": {
            "processes": args.procs,
            "cpu_percent_of_one_core": round(procstats.cpu_percent(gen_start, gen_end), 1),
            "send_lag_ms": _dist(cat("send_lag_ms")),
            "loop_lag_ms": _dist(cat("loop_lag_ms")),
            "failed": failed,
            "children_cancelled": sum(r.get("children_cancelled", 0) for r in results),
        },
        "clock_offset_ms": [r["clock_offset_ms"] for r in results],
    }
    row["passes_latency_bound"] = within(row, args.p99_bound_ms)
    return row


def within(row: dict[str, Any], bound_ms: float) -> bool:
    """The row sustained its N at this stroke-to-guess p99: nothing lost, nobody turned away.

    (Connected-at-the-end is no criterion: children between two games are not connected.)"""
    p99 = row["stroke_to_guess_ms"]["p99"]
    return bool(p99 is not None and p99 <= bound_ms and not row["strokes"]["lost"]
                and not row["connect_failures"] and not row["unexpected_disconnects"]
                and not row["generator"]["failed"] and not row["generator"]["children_cancelled"])


def median_of_runs(runs: list[dict[str, Any]], bound_ms: float) -> dict[str, Any]:
    """One step (target, N) over its runs: the median of each figure with its spread (min, max).

    The step holds the bound when its median p99 does and no run lost a stroke or turned a
    child away (one bad run in three is a real failure, not noise)."""
    def spread(values: list[float | None]) -> dict[str, float | None]:
        vals = [v for v in values if v is not None]
        if not vals:
            return {"median": None, "min": None, "max": None}
        return {"median": round(float(np.median(vals)), 2), "min": min(vals), "max": max(vals)}

    first = runs[0]
    step = {
        "target": first["target"], "store": first["store"],
        "server_processes": first["server_processes"], "children": first["children"],
        "runs": len(runs),
        "stroke_to_guess_p50_ms": spread([r["stroke_to_guess_ms"]["p50"] for r in runs]),
        "stroke_to_guess_p99_ms": spread([r["stroke_to_guess_ms"]["p99"] for r in runs]),
        "server_cpu_percent": spread([r["server"]["cpu_percent_of_one_core"] for r in runs]),
        "msgs_in_per_s": spread([r["msgs_per_s"]["to_server"] for r in runs]),
        "strokes_lost": sum(r["strokes"]["lost"] for r in runs),
        "strokes_unacked": sum(r["strokes"]["unacked"] for r in runs),
        "generator_failed": [f for r in runs for f in r["generator"]["failed"]],
        "all_runs_clean": all(within(r, float("inf")) for r in runs),
    }
    step["passes_latency_bound"] = passes_at(step, bound_ms)
    return step


def passes_at(step: dict[str, Any], bound_ms: float) -> bool:
    p99 = step["stroke_to_guess_p99_ms"]["median"]
    return bool(p99 is not None and p99 <= bound_ms and step["all_runs_clean"])


def steps_table(steps: list[dict[str, Any]]) -> str:
    """Median (min-max) per step."""
    def fmt(d: dict[str, Any]) -> str:
        return "-" if d["median"] is None else f"{d['median']:g} ({d['min']:g}-{d['max']:g})"

    lines = [f"{'target':>8} {'store':>10} {'N':>5} {'runs':>4}  {'p50 ms':>22}  {'p99 ms':>24}  "
             f"{'srv CPU%':>20}  lost/unacked  ok"]
    for s in steps:
        lines.append(f"{s['target']:>8} {s['store'] + 'x' + str(s['server_processes']):>10} "
                     f"{s['children']:>5} {s['runs']:>4}  {fmt(s['stroke_to_guess_p50_ms']):>22}  "
                     f"{fmt(s['stroke_to_guess_p99_ms']):>24}  {fmt(s['server_cpu_percent']):>20}  "
                     f"{s['strokes_lost']}/{s['strokes_unacked']:<11} {'yes' if s['passes_latency_bound'] else 'no'}")
    return "\n".join(lines)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cmd(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"
    return " ".join(raw.split()[1:4])[:60]


def table(rows: list[dict[str, Any]]) -> str:
    head = ("target", "store", "N", "conn", "p50", "p95", "p99", "max", "timer p99", "in/s",
            "out/s", "srv CPU%", "KiB/tab", "lost/unacked", "gen CPU%", "gen lag p99", "ok")
    lines = [head]
    for r in rows:
        g, t, s = r["stroke_to_guess_ms"], r["timer_lateness_ms"], r["server"]
        lines.append((r["target"], f"{r['store']}x{r['server_processes']}", r["children"],
                      r["connected_at_steady_end"], g["p50"], g["p95"], g["p99"], g["max"],
                      t["p99"], r["msgs_per_s"]["to_server"], r["msgs_per_s"]["from_server"],
                      s["cpu_percent_of_one_core"], s["kib_per_tablet_growth"],
                      f"{r['strokes']['lost']}/{r['strokes']['unacked']}", r["generator"]["cpu_percent_of_one_core"],
                      r["generator"]["send_lag_ms"]["p99"], "yes" if r["passes_latency_bound"]
                      else "no"))
    cols = [max(len(str(x)) for x in c) for c in zip(*lines)]
    return "\n".join("  ".join(str(x).rjust(w) for x, w in zip(line, cols)) for line in lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--children", default="100",
                   help="children per run, comma-separated steps (ascending)")
    p.add_argument("--target", default="ours,baseline", help="ours, baseline or both")
    p.add_argument("--baseline-children", default=None,
                   help="steps of N for the baseline (default: the same as -n)")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs of each step; a step's figures are the median over them, with the spread")
    p.add_argument("--find-max", action="store_true",
                   help="per target, stop stepping N at the first N over the latency bound")
    p.add_argument("--p99-bound-ms", type=float, default=100.0)
    p.add_argument("--stop-above-ms", type=float, default=1000.0,
                   help="with --find-max: stop stepping a target once its p99 is above this")
    p.add_argument("--ramp-s", type=float, default=20.0)
    p.add_argument("--steady-s", type=float, default=40.0)
    p.add_argument("--chunk-ms", type=float, default=50.0, help="drawing time per stroke chunk")
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--store", choices=("embedded", "redis"), default="embedded",
                   help="ours on embedded defaults, or on Redis + MariaDB")
    p.add_argument("--redis-url", default=None,
                   help="with --store redis: this Redis (its database is flushed); default a "
                        "throwaway redis-server of the bench's own, so nobody else's load or keys "
                        f"disturb it (e.g. {DEFAULT_REDIS_URL})")
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    p.add_argument("--server-procs", type=int, default=1,
                   help="our server processes (more than 1 needs --store redis)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for our server (e.g. INFERENCE_WORKERS=1)")
    p.add_argument("--time-limit-s", type=float, default=40.0, help="stage time limit")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--categories", default=None, help="comma-separated category codes")
    p.add_argument("--raw-dir", default=DEFAULT_RAW_DIR, help="raw ndjson dir, or 'synthetic'")
    p.add_argument("--per-label", type=int, default=100, help="drawings read per label")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--guard-ms", type=float, default=500.0,
                   help="a child stops drawing this long before the deadline")
    p.add_argument("--ping-s", type=float, default=5.0,
                   help="heartbeat ping every this many seconds, as the page does (0: none)")
    p.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    p.add_argument("--draw-once", action="store_true",
                   help="one drawing per stage, then wait (default: keep drawing)")
    p.add_argument("--py-spy", default=None, metavar="PATH",
                   help="profile every server process with this py-spy through the steady phase")
    p.add_argument("--out", default=None, help="JSON path (default bench/results/load-<UTC>)")
    p.add_argument("--no-latest", action="store_true", help="do not write latest-load.json")
    args = p.parse_args(argv)
    if args.server_procs > 1 and args.store != "redis":
        p.error("several server processes share games through Redis: add --store redis")

    steps = [int(x) for x in args.children.split(",")]
    baseline_steps = [int(x) for x in args.baseline_children.split(",")] \
        if args.baseline_children else steps
    targets = [t.strip() for t in args.target.split(",")]
    models_dir, model_note = models_dir_for(args.models_dir)
    categories = categories_of(models_dir, args.categories.split(",") if args.categories else None)
    started = dt.datetime.now(dt.timezone.utc)
    busy_before = other_load()
    log_dir = Path(tempfile.mkdtemp(prefix="doodle-bench-load-"))
    rows: list[dict[str, Any]] = []
    steps_run: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if args.store == "redis":
            args.redis_url = stack.enter_context(redis_for_bench(args.redis_url))
        for target in targets:
            for n in (baseline_steps if target == "baseline" else steps):
                runs = []
                for k in range(args.repeat):
                    print(f"--- {target}, {n} children ({args.store if target == 'ours' else 'baseline'})"
                          f"{f', run {k + 1} of {args.repeat}' if args.repeat > 1 else ''}", flush=True)
                    row = run_one(args, target, n, models_dir, categories, log_dir)
                    row["run"] = k + 1
                    runs.append(row)
                    print(table([row]), flush=True)
                rows.extend(runs)
                step = median_of_runs(runs, args.p99_bound_ms)
                steps_run.append(step)
                p99 = step["stroke_to_guess_p99_ms"]["median"]
                if args.find_max and (p99 is None or p99 > args.stop_above_ms
                                      or step["strokes_lost"] or step["generator_failed"]):
                    break
    best = {}
    for t in targets:
        ok = [r["children"] for r in steps_run if r["target"] == t and r["passes_latency_bound"]]
        best[t] = max(ok) if ok else 0
    ratio = (best.get("ours", 0) / best["baseline"]) if best.get("baseline") else None
    by_bound = {}
    for bound in sorted({args.p99_bound_ms, 250.0, 500.0, 1000.0}):
        best_n = {t: max([r["children"] for r in steps_run if r["target"] == t
                          and passes_at(r, bound)], default=0) for t in targets}
        by_bound[f"p99<={bound:g}ms"] = {
            **best_n, "ratio": (best_n.get("ours", 0) / best_n["baseline"])
            if best_n.get("baseline") else None}
    doc = {
        "date_utc": started.isoformat(timespec="seconds"),
        "command": "python -m bench.load " + " ".join(shlex.quote(a) for a in
                                                       (argv if argv is not None else sys.argv[1:])),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "bench_niceness": os.nice(0),
                    "bench_autogroup": _read("/proc/self/autogroup"),
                    "loadavg_before": os.getloadavg(), "loadavg_after": os.getloadavg()},
        "other_load_before": busy_before,
        "other_load_after": other_load(),
        "model": model_note,
        "models_dir": str(models_dir),
        "model_names": sorted({c["model"] for c in json.loads(
            (models_dir / "categories.json").read_text(encoding="utf-8"))["categories"]}),
        "drawings": args.raw_dir,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "latency_bound": f"stroke-to-guess p99 <= {args.p99_bound_ms} ms, no stroke lost, no "
                         "connection refused or dropped",
        "max_children_within_bound": best,
        "ratio_ours_to_baseline": ratio,
        "max_children_by_p99_bound": by_bound,
        "server_logs": str(log_dir),
        "steps": steps_run,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"load-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(doc, indent=1))
    if not args.no_latest and not args.out:
        (RESULTS / "latest-load.json").write_text(json.dumps(doc, indent=1))
    print()
    print(table(rows))
    if args.repeat > 1:
        print()
        print(steps_table(steps_run))
    print(f"max children within the bound: {best}; ratio ours/baseline: {ratio}")
    print(f"by bound (of the steps run): {by_bound}")
    print(f"other load: {busy_before or 'none'}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
