"""Failover benchmark: N tablets over two server processes sharing Redis; process A is killed -9.

    .venv/bin/python -m bench.failover --tablets 500 --kill-after-s 30 --duration-s 90

Starts two `python -m server` processes (A and B) on free ports, sharing one Redis database
(`--redis-url`, flushed first) and a fresh MariaDB results database (`dq_failover_<ts>`, dropped at
the end; SQLite if MariaDB does not answer). Ramps N tablets up, half on each process, each
playing games back to back with real raw Quick, Draw! drawings at their recorded pace (x`--speed`).
At `--kill-after-s` after the ramp starts, A gets SIGKILL: its tablets reconnect with backoff and
jitter to B with their resume token and resend what `stage_start.received` says is missing.
At `--duration-s` the load stops; the results are drained and checked:

- every game a tablet saw `game_over` for is in the `games` table exactly once;
- every stroke a tablet drew (ended) was acknowledged (by `ack`, or by `received` after a resume)
  or refused because its stage was over, and every acknowledged stroke of a finished game is in
  `drawing_strokes` with the acknowledged number of points; anything else is listed by game,
  stage and stroke;
- failovers: how many tablets, how long from the drop to `welcome` (resumed) p50/p95/p99/max;
- guesses received per second and stroke-to-guess latency before and after the kill;
- errors by code; the surviving process's CPU and memory.

Writes `bench/results/failover-<UTC>.json` and `bench/results/latest-failover.json`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import shlex
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.failover.generator import GeneratorConfig, generator_process_main
from bench.load import procstats
from bench.load.servers import ROOT, ServerSet, other_load, prepare_redis

RESULTS = ROOT / "bench" / "results"
DEFAULT_RAW_DIR = "/work/shared/data/quickdraw/strokes/raw"


def _dist(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    a = np.asarray(values, dtype=float)
    return {"n": len(values), "p50": round(float(np.percentile(a, 50)), 1),
            "p95": round(float(np.percentile(a, 95)), 1),
            "p99": round(float(np.percentile(a, 99)), 1), "max": round(float(a.max()), 1)}


# ---------------------------------------------------------------------------- results database

class ResultsDb:
    """The bench's own results database: MariaDB `dq_failover_<ts>`, or SQLite as a fallback."""

    def __init__(self, log_dir: Path, stamp: str, use_mariadb: bool = True) -> None:
        self.kind = "sqlite"
        self.name = f"dq_failover_{stamp}"
        self.sqlite_path = log_dir / "results.db"
        if use_mariadb:
            try:
                import pymysql

                conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                                       connect_timeout=5)
                with conn.cursor() as cur:
                    cur.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
                conn.commit()
                conn.close()
                self.kind = "mariadb"
            except Exception as exc:  # noqa: BLE001 - stated in the results
                self.fallback_reason = repr(exc)

    @property
    def url(self) -> str:
        if self.kind == "mariadb":
            return f"mysql+aiomysql://root@127.0.0.1:3306/{self.name}"
        return f"sqlite+aiosqlite:///{self.sqlite_path}"

    def query(self, sql: str) -> list[tuple]:
        if self.kind == "mariadb":
            import pymysql

            conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                                   database=self.name, connect_timeout=5)
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return list(cur.fetchall())
            finally:
                conn.close()
        with sqlite3.connect(self.sqlite_path) as conn:
            return list(conn.execute(sql))

    def game_ids(self) -> list[str]:
        try:
            return [r[0] for r in self.query("select game_id from games")]
        except Exception:  # noqa: BLE001 - not migrated yet
            return []

    def drop(self) -> None:
        if self.kind == "mariadb":
            import pymysql

            conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
            conn.commit()
            conn.close()


# ---------------------------------------------------------------------------- the run

def run(args: argparse.Namespace) -> dict[str, Any]:
    started = dt.datetime.now(dt.timezone.utc)
    stamp = f"{started:%Y%m%dT%H%M%S}"
    log_dir = Path(tempfile.mkdtemp(prefix="doodle-failover-"))
    models_dir = ROOT / "models"
    cats_doc = json.loads((models_dir / "categories.json").read_text(encoding="utf-8"))
    categories = [(c["code"], [t["label"] for t in c["topics"]]) for c in cats_doc["categories"]]
    if args.categories:
        categories = [c for c in categories if c[0] in args.categories.split(",")]
    prepare_redis(args.redis_url)
    db = ResultsDb(log_dir, stamp, use_mariadb=not args.sqlite)
    env = {"OPEN_CLASS": "true", "INFERENCE_WORKERS": "1",
           "DEFAULT_TIME_LIMIT_S": str(args.time_limit_s), "INTERMISSION_MS": "500",
           "LOG_LEVEL": "WARNING", "REDIS_URL": args.redis_url, "DATABASE_URL": db.url,
           "LEGACY_API_URL": "", "SESSION_SECRET": "bench-failover-secret-0123456789"}
    servers = []
    doc: dict[str, Any] = {}
    try:
        for name in ("a", "b"):
            servers.append(ServerSet("ours", {**env, "DATA_DIR": str(log_dir / f"data-{name}")},
                                     log_dir / name).start())
        a, b = servers
        urls = [a.urls[0], b.urls[0]]
        a_pid, b_pid = a.pids[0], b.pids[0]
        time.sleep(1.0)
        idle = procstats.sample([a_pid, b_pid])
        t0 = time.time() + 6.0  # generators load their drawings meanwhile
        ramp_end = t0 + args.ramp_s
        kill_wall = t0 + args.kill_after_s
        stop_wall = t0 + args.duration_s
        ctx = mp.get_context("spawn")
        gens = []
        for i in range(args.procs):
            cfg = GeneratorConfig(urls=urls, tablets=args.tablets, process_index=i,
                                  processes=args.procs, categories=categories, t0_wall_s=t0,
                                  ramp_s=args.ramp_s, stop_wall_s=stop_wall, speed=args.speed,
                                  chunk_ms=args.chunk_ms,
                                  raw_dir=None if args.raw_dir == "synthetic" else args.raw_dir,
                                  per_label=args.per_label, seed=args.seed + i)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=generator_process_main, args=(child, cfg), daemon=True)
            proc.start()
            gens.append((proc, parent))
        gen_pids = [p.pid for p, _ in gens]
        print(f"servers A={urls[0]} (pid {a_pid}) B={urls[1]} (pid {b_pid}); results {db.kind} "
              f"{db.name if db.kind == 'mariadb' else db.sqlite_path}; logs {log_dir}", flush=True)
        time.sleep(max(0.0, ramp_end - time.time()))
        at_ramp_end = procstats.sample([a_pid, b_pid])
        gen_start = procstats.sample(gen_pids)
        time.sleep(max(0.0, kill_wall - time.time()))
        a_tree = procstats.tree(a_pid)
        before_kill = procstats.sample([a_pid, b_pid])
        os.kill(a_pid, signal.SIGKILL)
        killed_wall = time.time()
        a.procs[0].wait(timeout=30)
        print(f"killed A (pid {a_pid}) at t0+{killed_wall - t0:.1f} s", flush=True)
        b_at_kill = procstats.sample([b_pid])
        orphans = {}
        time.sleep(5.0)
        for pid in a_tree[1:]:  # A's inference worker: does it go away with its parent?
            alive = Path(f"/proc/{pid}").exists() and procstats._stat_fields(pid) is not None \
                and procstats._stat_fields(pid)[0] != "Z"
            orphans[str(pid)] = "alive 5 s after the kill (killed by the bench)" if alive \
                else "gone"
            if alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        b_peak = b_at_kill
        while time.time() < stop_wall:  # B's memory through the rest of the run, for its peak
            time.sleep(min(2.0, max(0.0, stop_wall - time.time())))
            s = procstats.sample([b_pid])
            if s.total_rss_kib > b_peak.total_rss_kib:
                b_peak = s
        b_at_stop = procstats.sample([b_pid])
        gen_end = procstats.sample(gen_pids)
        results = []
        for proc, conn in gens:
            if conn.poll(max(10.0, stop_wall + 180 - time.time())):
                results.append(conn.recv())
            else:
                results.append({"failed": "generator did not report in time"})
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        b_after = procstats.sample([b_pid])
        failed = [r["failed"] for r in results if "failed" in r]
        results = [r for r in results if "failed" not in r]
        over_ids = {g["game_id"] for r in results for g in r["games_over"]}
        drain_started = time.time()
        drain_deadline = drain_started + args.drain_timeout_s
        in_db = db.game_ids()
        while not over_ids <= set(in_db) and time.time() < drain_deadline:
            time.sleep(2.0)
            in_db = db.game_ids()
        drain_s = time.time() - drain_started
        b_drained = procstats.sample([b_pid])
        db_strokes = db.query(
            "select s.game_id, s.stage_index, d.stroke_index, d.point_count "
            "from drawing_strokes d join stages s on s.id = d.stage_id")
        db_outcomes = db.query("select outcome, count(*) from games group by outcome")
        db_stages = db.query("select game_id, stage_index, ended_at, outcome from stages")
        doc = summarise(args, results, failed, t0=t0, ramp_end=ramp_end, kill_wall=killed_wall,
                        stop_wall=stop_wall, in_db=in_db, db_strokes=db_strokes,
                        db_outcomes=db_outcomes, drain_s=drain_s, db_stages=db_stages)
        doc["servers"] = {
            "A": {"pid": a_pid, "url": urls[0], "tree_at_kill": a_tree, "after_kill": orphans,
                  "cpu_percent_ramp_end_to_kill": _cpu(at_ramp_end, before_kill, a_tree)},
            "B": {"pid": b_pid, "url": urls[1], "tree": sorted(b_at_stop.cpu_s),
                  "cpu_percent_ramp_end_to_kill": _cpu(at_ramp_end, before_kill,
                                                        procstats.tree(b_pid)),
                  "cpu_percent_kill_to_stop": round(procstats.cpu_percent(b_at_kill, b_at_stop), 1),
                  "cpu_percent_during_drain": round(procstats.cpu_percent(b_after, b_drained), 1),
                  "per_process_cpu_percent_kill_to_stop": {
                      str(p): round(100 * (b_at_stop.cpu_s[p] - b_at_kill.cpu_s.get(p, 0.0))
                                    / max(1e-9, b_at_stop.at_s - b_at_kill.at_s), 1)
                      for p in b_at_stop.cpu_s},
                  "waiting_for_cpu_percent_kill_to_stop": {
                      str(p): round(100 * (b_at_stop.wait_s[p] - b_at_kill.wait_s.get(p, 0.0))
                                    / max(1e-9, b_at_stop.at_s - b_at_kill.at_s), 1)
                      for p in b_at_stop.wait_s},
                  "rss_idle_kib": sum(idle.rss_kib.get(p, 0) for p in procstats.tree(b_pid)),
                  "rss_at_kill_kib": b_at_kill.total_rss_kib,
                  "rss_at_stop_kib": b_at_stop.total_rss_kib,
                  "rss_peak_sampled_kib": b_peak.total_rss_kib,
                  "hwm_kib": b_after.hwm_kib},
            "A_and_B_cpu_percent_ramp_end_to_kill": round(
                procstats.cpu_percent(at_ramp_end, before_kill), 1),
        }
        doc["generator"] = {
            "processes": args.procs,
            "cpu_percent_of_one_core": round(procstats.cpu_percent(gen_start, gen_end), 1),
            "loop_lag_ms": _dist([v for r in results for v in r["loop_lag_ms"]]),
            "failed": failed,
            "tablets_cancelled": sum(r["tablets_cancelled"] for r in results),
            "tablet_crashes": [c for r in results for c in r["tablet_crashes"]],
            "library": results[0]["library"] if results else None,
        }
    finally:
        for s in servers:
            s.stop()
        if not args.keep_db:
            db.drop()
    doc.update({
        "date_utc": started.isoformat(timespec="seconds"),
        "command": "python -m bench.failover " + " ".join(shlex.quote(x) for x in sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_after": os.getloadavg()},
        "other_load": other_load(),
        "settings": vars(args),
        "server_env": env,
        "results_db": {"kind": db.kind, "name": db.name if db.kind == "mariadb" else
                       str(db.sqlite_path), "dropped": not args.keep_db,
                       "fallback_reason": getattr(db, "fallback_reason", None)},
        "logs": str(log_dir),
    })
    return doc


def _cpu(before: procstats.Sample, after: procstats.Sample, pids: list[int]) -> float:
    wall = after.at_s - before.at_s
    used = sum(after.cpu_s.get(p, 0.0) - before.cpu_s.get(p, 0.0) for p in pids
               if p in before.cpu_s)
    return round(100 * used / wall, 1) if wall > 0 else 0.0


def summarise(args, results, failed, *, t0, ramp_end, kill_wall, stop_wall, in_db, db_strokes,
              db_outcomes, drain_s, db_stages=()) -> dict[str, Any]:
    def cat(key):
        return [v for r in results for v in r[key]]

    def merged(key):
        out: Counter = Counter()
        for r in results:
            out.update(r[key])
        return dict(out)

    games_over = cat("games_over")
    over_count = Counter(g["game_id"] for g in games_over)
    over_ids = set(over_count)
    db_count = Counter(in_db)
    missing = sorted(over_ids - set(db_count))
    dupes = {g: c for g, c in db_count.items() if c > 1}
    unfinished = {g["game_id"] for g in cat("games_unfinished")}
    extra = sorted(set(db_count) - over_ids)
    games = {
        "started": sum(r["games_started"] for r in results),
        "game_over_seen": len(over_ids),
        "game_over_seen_on_a_failed_over_tablet": len({g["game_id"] for g in games_over
                                                       if len(g["servers"]) > 1}),
        "in_db_exactly_once": sum(1 for g in over_ids if db_count.get(g) == 1),
        "missing_from_db": missing,
        "duplicated_in_db": dupes,
        "in_db_but_no_game_over_seen": {"count": len(extra),
                                        "of_them_unfinished_at_stop": len(set(extra) & unfinished),
                                        "ids": extra[:50]},
        "unfinished_at_stop": len(unfinished),
        "db_outcomes": {str(o): int(c) for o, c in db_outcomes},
        "drain_wait_s": round(drain_s, 1),
        "outcomes_seen": dict(Counter(g["outcome"] for g in games_over)),
        "stage_outcomes_seen": merged("stages"),
    }
    # ---- strokes
    strokes = cat("strokes")
    db_map = {(g, int(st), int(sk)): int(pc) for g, st, sk, pc in db_strokes}
    fin = [s for s in strokes if s["game_finished"]]
    lost, mismatch, acked_not_stored_yet, stored_unacked, refused_stored = [], [], [], [], []
    for s in fin:
        key = (s["game_id"], s["stage"], s["stroke"])
        stored = db_map.get(key)
        where = {k: s[k] for k in ("tablet", "game_id", "stage", "stroke", "points",
                                   "acked_points", "ack_via", "refused", "end_sent_server",
                                   "resent")}
        where["stored_points"] = stored
        if s["acked_points"] is not None:
            if stored is None:
                lost.append({**where, "why": "acknowledged, not in drawing_strokes"})
            elif stored != s["acked_points"]:
                mismatch.append({**where, "why": "stored point count differs from the ack"})
        elif s["refused"] is not None:
            if stored is not None:
                refused_stored.append(where)
        else:
            if stored is None:
                lost.append({**where, "why": "never acknowledged, not in drawing_strokes"})
            else:
                stored_unacked.append({**where, "why": "stored, but no ack reached the tablet"})
    # Each lost stroke with its tablet's reconnects in that game (times from the ramp start).
    fos_by_game: dict[str, list] = {}
    for r in results:
        for fo in r["failovers"]:
            fos_by_game.setdefault(fo["game_id"], []).append(fo)
    over_by_id = {g["game_id"]: g for g in games_over}
    for item in lost + mismatch:
        src = next((s for s in fin if (s["game_id"], s["stage"], s["stroke"]) ==
                    (item["game_id"], item["stage"], item["stroke"])), None)
        rel = (lambda w: None if w is None else round(w - t0, 2))
        if src is not None:
            item["end_sent_t_s"] = rel(src["end_sent_wall"])
        item["game_over_t_s"] = rel(over_by_id.get(item["game_id"], {}).get("over_wall"))
        item["stage_outcomes"] = over_by_id.get(item["game_id"], {}).get("stages")
        item["reconnects"] = [{"from": fo["from"], "to": fo.get("to"), "reason": fo["reason"],
                               "drop_t_s": rel(fo["drop_wall"]),
                               "welcome_t_s": rel(fo["welcome_wall"]), "first": fo["first"],
                               "stage": fo["stage"], "resumed": fo["resumed"],
                               "resent_strokes": fo["resent_strokes"]}
                              for fo in fos_by_game.get(item["game_id"], [])]
    # When did the server end that stage (stages.ended_at, UTC)? A stroke whose end went out after
    # that was refused (wrong_stage) by a server whose reply never reached the tablet (its
    # connection dropped first): not a lost drawing. One sent while the stage ran is lost.
    stage_end = {}
    for g, st, ended_at, outcome in db_stages:
        if isinstance(ended_at, str):
            ended_at = dt.datetime.fromisoformat(ended_at)
        stage_end[(g, int(st))] = (ended_at.replace(tzinfo=dt.timezone.utc).timestamp(), outcome)
    really_lost, refusal_unseen = [], []
    for item in lost:
        end_wall, outcome = stage_end.get((item["game_id"], item["stage"]), (None, None))
        item["stage_outcome_in_db"] = outcome
        item["stage_ended_t_s"] = None if end_wall is None else round(end_wall - t0, 3)
        sent = item.get("end_sent_t_s")
        if end_wall is not None and sent is not None and sent + t0 >= end_wall:
            item["why"] += "; drawn after the stage had ended (its refusal never arrived)"
            refusal_unseen.append(item)
        else:
            item["why"] += "; sent while the stage was running: LOST"
            really_lost.append(item)
    lost = really_lost
    unfinished_strokes = [s for s in strokes if not s["game_finished"]]
    strokes_doc = {
        "drawn_and_ended": len(strokes),
        "end_sent_live": sum(1 for s in strokes if s["end_sent_wall"] is not None),
        "acked_by_ack": sum(1 for s in strokes if s["ack_via"] == "ack"),
        "acked_by_received_after_resume": sum(1 for s in strokes if s["ack_via"] == "received"),
        "refused_stage_over": dict(Counter(s["refused"] for s in strokes
                                           if s["refused"] and s["acked_points"] is None)),
        "unacked": sum(1 for s in strokes if s["acked_points"] is None and not s["refused"]),
        "resent_after_resume": sum(1 for s in strokes if s["resent"]),
        "resent_points": sum(r["resent_points"] for r in results),
        "cut_by_stage_end_or_stop": sum(r["strokes_cut"] for r in results),
        "finished_games": {"strokes": len(fin),
                           "acked": sum(1 for s in fin if s["acked_points"] is not None),
                           "in_db": sum(1 for s in fin if (s["game_id"], s["stage"], s["stroke"])
                                        in db_map),
                           "lost": len(lost),
                           "unacked_sent_after_stage_end_refusal_unseen": len(refusal_unseen),
                           "point_count_mismatch": len(mismatch),
                           "stored_but_unacked": len(stored_unacked),
                           "refused_but_stored": len(refused_stored)},
        "unfinished_games_at_stop": {
            "strokes": len(unfinished_strokes),
            "acked": sum(1 for s in unfinished_strokes if s["acked_points"] is not None),
            "unacked_not_refused": sum(1 for s in unfinished_strokes if s["acked_points"] is None
                                       and not s["refused"])},
        "lost_details": lost[:200],
        "unacked_sent_after_stage_end_details": refusal_unseen[:100],
        "mismatch_details": mismatch[:100],
        "stored_but_unacked_details": stored_unacked[:100],
        "refused_but_stored_details (the stage ended mid-stroke: the points that arrived in time "
        "are kept)": refused_stored[:50],
    }
    # ---- failovers
    fos = cat("failovers")
    kill_fos = [f for f in fos if f["from"] == 0 and f["drop_wall"] >= kill_wall - 0.5]
    other_fos = [f for f in fos if f not in kill_fos]
    ok = [f for f in kill_fos if f["resumed"]]
    failover = {
        "tablets_failed_over": len({f["tablet"] for f in ok}),
        "drops_from_A_at_kill": len(kill_fos),
        "resumed": len(ok),
        "resume_failed": sum(1 for f in kill_fos if f["resumed"] is False),
        "gave_up": sum(1 for f in kill_fos if f.get("gave_up")),
        "drop_to_welcome_ms": _dist([(f["welcome_wall"] - f["drop_wall"]) * 1000 for f in ok]),
        "drop_to_resent_ms": _dist([(f["resumed_wall"] - f["drop_wall"]) * 1000 for f in ok
                                    if f.get("resumed_wall")]),
        "kill_to_drop_seen_ms": _dist([(f["drop_wall"] - kill_wall) * 1000 for f in kill_fos]),
        "attempts": dict(Counter(f["attempts"] for f in kill_fos)),
        "first_message_after_welcome": dict(Counter(f["first"] for f in ok)),
        "tablets_that_resent_strokes": sum(1 for f in ok if f["resent_strokes"]),
        "drop_reasons": dict(Counter(f["reason"] for f in kill_fos)),
        "other_drops": {"count": len(other_fos),
                        "by_server_and_reason": {f"{k[0]}:{k[1]}": v for k, v in Counter(
                            ("A" if f["from"] == 0 else "B", f["reason"]) for f in other_fos
                        ).items()},
                        "resumed": sum(1 for f in other_fos if f["resumed"]),
                        "samples": other_fos[:20]},
    }
    # ---- guesses and latency
    gbs: Counter = Counter()
    for r in results:
        gbs.update({int(k): v for k, v in r["guesses_by_s"].items()})

    def rate(lo, hi):
        span = hi - lo
        n = sum(v for k, v in gbs.items() if lo <= k < hi) if span > 0 else 0
        return round(n / span, 1) if span > 0 else None

    lo_b, hi_b = int(ramp_end), int(kill_wall)
    lo_a, hi_a = int(kill_wall), int(stop_wall)
    s2g = cat("stroke_to_guess")
    timeline = []
    for lo in range(int(t0), int(stop_wall), 5):
        lat = [ms for w, ms in s2g if lo <= w < lo + 5]
        timeline.append({"t_s": lo - int(t0), "guesses_per_s": rate(lo, lo + 5),
                         "stroke_to_guess_p50_ms": _dist(lat)["p50"],
                         "stroke_to_guess_p99_ms": _dist(lat)["p99"]})
    guesses = {
        "per_s_before_kill": rate(lo_b, hi_b), "per_s_after_kill": rate(lo_a, hi_a),
        "per_s_after_kill_from_plus_10s": rate(lo_a + 10, hi_a),
        "stroke_to_guess_ms_before_kill": _dist([ms for w, ms in s2g if ramp_end <= w < kill_wall]),
        "stroke_to_guess_ms_after_kill": _dist([ms for w, ms in s2g if kill_wall <= w < stop_wall]),
        "stroke_to_guess_ms_after_kill_from_plus_10s": _dist(
            [ms for w, ms in s2g if kill_wall + 10 <= w < stop_wall]),
        "timeline_5s": timeline,
    }
    anomalies = cat("anomalies")
    return {
        "tablets": args.tablets,
        "verdict": {
            "games_missing_or_duplicated": len(missing) + len(dupes),
            "strokes_lost": len(lost), "stroke_point_mismatches": len(mismatch),
            "anomalies": len(anomalies), "generator_failed": bool(failed),
        },
        "games": games, "strokes": strokes_doc, "failover": failover, "guesses": guesses,
        "errors_by_code": merged("errors"), "error_samples": cat("error_samples")[:50],
        "connect_failures": merged("connect_failures"),
        "anomalies": {"by_kind": dict(Counter(a["kind"] for a in anomalies)),
                      "details": anomalies[:100]},
        "phases_wall": {"t0": t0, "ramp_end": ramp_end, "kill": kill_wall, "stop": stop_wall},
    }


def _jsonable(o: Any, path: str = "") -> Any:
    """Keys as strings (a tuple key is reported in the path, then stringified)."""
    if isinstance(o, dict):
        return {(k if isinstance(k, str) else str(k)): _jsonable(v, f"{path}.{k}")
                for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v, path) for v in o]
    return o


def table(doc: dict[str, Any]) -> str:
    g, s, f, q = doc["games"], doc["strokes"], doc["failover"], doc["guesses"]
    b = doc["servers"]["B"]
    fs = s["finished_games"]
    rows = [
        ("tablets", doc["tablets"]),
        ("games started / game_over seen", f"{g['started']} / {g['game_over_seen']}"),
        ("game_over games in DB exactly once", f"{g['in_db_exactly_once']} / {g['game_over_seen']}"
                                               f" (missing {len(g['missing_from_db'])}, "
                                               f"duplicated {len(g['duplicated_in_db'])})"),
        ("strokes ended / acked (ack + received) / refused / unacked",
         f"{s['drawn_and_ended']} / {s['acked_by_ack']} + {s['acked_by_received_after_resume']}"
         f" / {sum(s['refused_stage_over'].values())} / {s['unacked']}"),
        ("ended strokes: in DB / lost / sent after stage end, refusal unseen / mismatched",
         f"{fs['strokes']}: {fs['in_db']} / {fs['lost']} / "
         f"{fs['unacked_sent_after_stage_end_refusal_unseen']} / {fs['point_count_mismatch']}"),
        ("tablets failed over (resumed) / drops at kill",
         f"{f['tablets_failed_over']} / {f['drops_from_A_at_kill']} (resume failed "
         f"{f['resume_failed']}, gave up {f['gave_up']})"),
        ("drop -> welcome ms p50/p95/p99/max", "/".join(str(f["drop_to_welcome_ms"][k])
                                                        for k in ("p50", "p95", "p99", "max"))),
        ("guesses/s before / after kill", f"{q['per_s_before_kill']} / {q['per_s_after_kill']}"),
        ("stroke->guess ms p50/p99 before", f"{q['stroke_to_guess_ms_before_kill']['p50']} / "
                                            f"{q['stroke_to_guess_ms_before_kill']['p99']}"),
        ("stroke->guess ms p50/p99 after", f"{q['stroke_to_guess_ms_after_kill']['p50']} / "
                                           f"{q['stroke_to_guess_ms_after_kill']['p99']}"),
        ("errors by code", json.dumps(doc["errors_by_code"])),
        ("anomalies", json.dumps(doc["anomalies"]["by_kind"])),
        ("B CPU % of a core, kill->stop", b["cpu_percent_kill_to_stop"]),
        ("B RSS MiB at kill / peak / stop", f"{b['rss_at_kill_kib'] // 1024} / "
                                            f"{b['rss_peak_sampled_kib'] // 1024} / "
                                            f"{b['rss_at_stop_kib'] // 1024}"),
        ("generator CPU % / loop lag p99 ms", f"{doc['generator']['cpu_percent_of_one_core']} / "
                                              f"{doc['generator']['loop_lag_ms']['p99']}"),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(w)}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tablets", type=int, default=500)
    p.add_argument("--kill-after-s", type=float, default=30.0,
                   help="SIGKILL process A this long after the ramp starts")
    p.add_argument("--duration-s", type=float, default=90.0,
                   help="the load stops this long after the ramp starts")
    p.add_argument("--ramp-s", type=float, default=15.0)
    p.add_argument("--speed", type=float, default=2.0,
                   help="drawing time compression (2: drawn twice as fast as recorded)")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="drawing time per stroke chunk")
    p.add_argument("--time-limit-s", type=float, default=20.0, help="DEFAULT_TIME_LIMIT_S")
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    p.add_argument("--sqlite", action="store_true", help="SQLite results instead of MariaDB")
    p.add_argument("--keep-db", action="store_true", help="do not drop the results database")
    p.add_argument("--drain-timeout-s", type=float, default=180.0)
    p.add_argument("--raw-dir", default=DEFAULT_RAW_DIR, help="raw ndjson dir, or 'synthetic'")
    p.add_argument("--per-label", type=int, default=30)
    p.add_argument("--categories", default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument("--no-latest", action="store_true")
    args = p.parse_args(argv)
    if not (0 < args.kill_after_s < args.duration_s):
        p.error("--kill-after-s must be within --duration-s")
    doc = _jsonable(run(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"failover-{doc['date_utc'][:19].replace('-', '').replace(':', '')}Z.json"
    out.write_text(json.dumps(doc, indent=1, default=str))
    if not args.no_latest and not args.out:
        (RESULTS / "latest-failover.json").write_text(json.dumps(doc, indent=1, default=str))
    if "games" in doc:
        print(table(doc))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
