"""bench.inference's verdict on issue 12's pool target, and a runtime the model cannot run on
(no timing goals: speed goals live in the benchmark, not in tests)."""
from __future__ import annotations

from pathlib import Path

from bench.inference.__main__ import (TARGET_P99_MS, TARGET_RATE_PER_S, bench_pool_or_skip,
                                      load_drawings, pool_policy, target_verdict)

MODELS = Path(__file__).resolve().parents[2] / "models"


def _row(p99: float, *, policy: str | None = None, answered: float = 5001.0,
         outcomes: dict | None = None, rate: float = TARGET_RATE_PER_S, **extra) -> dict:
    return {"scenario": "pool", "runtime": "litert",
            "policy": policy or pool_policy(2, "process", 32, 0.0),
            "mode": f"open-loop, {rate:.0f}/s offered", "offered_per_s": rate,
            "guesses_per_s": answered, "outcomes": outcomes or {"ok": 40000}, "p99_ms": p99,
            "raster": "inference.raster", **extra}


def test_verdict_counts_the_runs_that_met_the_target() -> None:
    rows = [_row(8.2), _row(TARGET_P99_MS), _row(28.9), _row(98.1),
            # answered too few, or refused some: not met, whatever the p99
            _row(5.0, answered=4377.2), _row(5.0, outcomes={"ok": 39990, "QueueFullError": 10}),
            # not the target's load, workers or raster: not counted at all
            _row(3.0, rate=2000.0), _row(3.0, policy=pool_policy(1, "process", 32, 0.0)),
            _row(3.0, raster="bench.inference.null_raster"),
            {"scenario": "pool", "runtime": "tf", "policy": pool_policy(2, "process", 32, 0.0),
             "skipped": "the tf runtime serves raster-only models"}]
    verdict = target_verdict(rows)
    assert verdict["rate_per_s"] == TARGET_RATE_PER_S and verdict["p99_ms"] == TARGET_P99_MS
    assert list(verdict["by_policy"]) == ["litert, " + pool_policy(2, "process", 32, 0.0)]
    v = verdict["by_policy"]["litert, " + pool_policy(2, "process", 32, 0.0)]
    assert (v["runs"], v["met"]) == (6, 2)
    assert (v["p99_ms_min"], v["p99_ms_max"]) == (5.0, 98.1)
    assert v["p99_ms_median"] == round((8.2 + TARGET_P99_MS) / 2, 2)


def test_verdict_keeps_policies_apart() -> None:
    wait = pool_policy(2, "process", 32, 2.0)
    verdict = target_verdict([_row(10.0), _row(30.0, policy=wait), _row(12.0, policy=wait)])
    assert verdict["by_policy"]["litert, " + wait] == {
        "runs": 2, "met": 1, "p99_ms_min": 12.0, "p99_ms_median": 21.0, "p99_ms_max": 30.0}
    assert verdict["by_policy"]["litert, " + pool_policy(2, "process", 32, 0.0)]["met"] == 1


def test_a_runtime_the_model_cannot_run_on_is_a_skipped_row_not_a_crash() -> None:
    """The shipped model reads points too; the tf runtime serves raster-only models. The full
    benchmark used to die there, after minutes of runs, without writing anything."""
    drawings, _ = load_drawings()
    rows = bench_pool_or_skip(MODELS, drawings[:5], runtime="tf", workers=1,
                              worker_kind="process", max_batch_size=32, max_wait_ms=0.0,
                              rates=[], seconds=0.1, clients=1)
    assert len(rows) == 1 and rows[0]["scenario"] == "pool" and rows[0]["runtime"] == "tf"
    assert "raster-only" in rows[0]["skipped"]
    assert rows[0]["policy"] == pool_policy(1, "process", 32, 0.0)


def test_the_null_raster_feeds_a_model_that_reads_points_too() -> None:
    """The "noraster" scenario measures the pool without rasterising; with a two-input model
    every request used to fail there (no point sequence), so it measured failures."""
    import numpy as np

    from bench.inference import null_raster
    from inference import inputs as model_inputs
    from inference.registry import ModelRegistry
    from inference.runtime import load_runtime

    reg = ModelRegistry.load(MODELS)
    info = next(i for i in reg.models.values() if model_inputs.sequence_spec(i.spec) is not None)
    raster = null_raster.IncrementalRaster(info.spec)
    raster.add_stroke([(0, 0, 0), (10, 10, 5)])
    row = model_inputs.incremental_input(raster, raster.image(), info.spec)
    probs = load_runtime(info.path, "litert", threads=1, max_batch_size=1).predict(
        model_inputs.stack([row]))
    assert probs.shape == (1, len(info.labels)) and np.isfinite(probs).all()
