"""Smoke test of the load generator (bench/load): a few children against an in-process server.

No timing assertions (speed goals live in the benchmark's JSON): only that the generator plays the
protocol, measures what it claims to measure, and accounts for every stroke it sent.
"""
from __future__ import annotations

import asyncio
import socket
import time

import uvicorn

from bench.load.__main__ import table
from bench.load.drawings import fit, synthetic_library
from bench.load.generator import GeneratorConfig, run_generator
from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import CATEGORY, FixedTopics, ListSink, ScriptedRecognizer


def test_fit_places_a_raw_drawing_on_the_canvas_with_its_timing() -> None:
    raw = [[[1000, 3000], [50, 2050], [120, 170]], [[2000, 2100], [100, 200], [900, 950]]]
    drawing = fit("cat", raw, (1024, 700))
    assert drawing is not None
    xs = [p[0] for s in drawing.strokes for p in s]
    ys = [p[1] for s in drawing.strokes for p in s]
    assert min(xs) >= 0 and max(xs) <= 1024 and min(ys) >= 0 and max(ys) <= 700
    assert [p[2] for p in drawing.strokes[0]] == [0.0, 50.0]  # rebased to the first point
    assert drawing.duration_ms == 830.0


def test_synthetic_drawings_have_pauses_between_strokes() -> None:
    library = synthetic_library(["cat"], (1024, 700), per_label=2)
    drawing = library.by_label["cat"][0]
    gaps = [b[0][2] - a[-1][2] for a, b in zip(drawing.strokes, drawing.strokes[1:])]
    assert gaps and all(g >= 200 for g in gaps)


def test_three_children_play_and_every_stroke_is_accounted_for(tmp_path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, intermission_ms=200,
                        default_time_limit_s=1.5, default_stage_count=20, log_json=False)
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=ListSink()))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    port = sock.getsockname()[1]
    labels = [t.label for t in CATEGORY.topics]

    async def scenario() -> dict:
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            cfg = GeneratorConfig(
                urls=[f"ws://127.0.0.1:{port}/ws/play"], children=3, process_index=0,
                processes=1, categories=[("animals", labels)], t0_wall_s=time.time(),
                ramp_s=0.5, steady_s=4.0, raw_dir=None, guard_ms=300)
            return await asyncio.wait_for(run_generator(cfg), 60)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 30)

    result = asyncio.run(scenario())
    assert result["children"] == 3
    assert result["games_started"] >= 3
    assert result["strokes_sent"] > 0
    # Every ended stroke is acknowledged, or refused because its stage had just timed out.
    assert result["strokes_unacked"] <= result["wrong_stage_errors"]
    assert result["strokes_acked"] + result["strokes_unacked"] == result["strokes_sent"]
    assert result["stroke_to_guess_all_ms"], "no stroke was followed by a covering guess"
    assert result["timer_lateness_ms"], "no timed-out stage was seen"
    assert result["stages"].get("timeout", 0) >= 1
    assert set(result["errors"]) <= {"wrong_stage"}
    assert result["msgs_sent"] > result["strokes_sent"]  # strokes go in several chunks
    assert result["disconnects"] == {}
    assert result["connect_failures"] == 0


def _run(p99: float, lost: int = 0) -> dict:
    return {"target": "ours", "store": "redis", "server_processes": 1, "children": 400,
            "stroke_to_guess_ms": {"p50": p99 / 4, "p99": p99}, "server": {"cpu_percent_of_one_core": 90.0},
            "msgs_per_s": {"to_server": 2400.0}, "strokes": {"lost": lost, "unacked": lost},
            "connect_failures": 0, "unexpected_disconnects": {},
            "generator": {"failed": [], "children_cancelled": 0}}


def test_a_step_of_several_runs_is_their_median_with_the_spread_and_any_lost_stroke_fails_it() -> None:
    from bench.load.__main__ import median_of_runs, steps_table

    step = median_of_runs([_run(50.0), _run(200.0), _run(80.0)], bound_ms=100.0)
    assert step["stroke_to_guess_p99_ms"] == {"median": 80.0, "min": 50.0, "max": 200.0}
    assert step["runs"] == 3 and step["passes_latency_bound"]
    assert not median_of_runs([_run(50.0), _run(200.0), _run(150.0)], 100.0)["passes_latency_bound"]
    lossy = median_of_runs([_run(50.0), _run(60.0, lost=1), _run(70.0)], 100.0)
    assert lossy["strokes_lost"] == 1 and not lossy["passes_latency_bound"]
    assert "80 (50-200)" in steps_table([step])
