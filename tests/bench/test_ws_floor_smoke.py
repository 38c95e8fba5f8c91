"""Smoke test of bench.ws_floor: both framework-only servers answer and the JSON says so."""
from __future__ import annotations

import json

from bench.ws_floor.__main__ import main


def test_both_apps_are_driven_and_measured(tmp_path) -> None:
    out = tmp_path / "floor.json"
    assert main(["--connections", "4", "--rate", "6", "--seconds", "1", "--warmup-s", "0.5",
                 "--out", str(out), "--no-latest"]) == 0
    rows = {row["app"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"raw", "fastapi"}
    for row in rows.values():
        assert row["in_per_s"] > 0 and row["out_per_s"] > 0, row  # every third is answered
        # CPU time comes in clock ticks (10 ms): a second of a few messages may read as 0.
        assert row["server_us_per_message"] >= 0 and row["server_cpu_percent"] >= 0
