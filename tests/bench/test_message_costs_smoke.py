"""Smoke test of bench.message_costs: every piece runs and lands in the JSON (no timing goals)."""
from __future__ import annotations

import json

from bench.message_costs.__main__ import main

PIECES = ("frame_parse_us", "frame_send_us", "validate_us", "store_apply_us", "queue_hop_us",
          "loopback_send_recv_us", "store_apply_redis_us", "store_apply_redis_cpu_us",
          "store_apply_redis_concurrent_cpu_us", "store_apply_redis_concurrent_per_s",
          "redis_event_fanout_cpu_us", "redis_decode_state_us", "redis_encode_state_us")


def test_every_piece_is_timed_and_written(tmp_path, capsys) -> None:
    out = tmp_path / "costs.json"
    assert main(["--n", "200", "--games", "20", "--out", str(out), "--no-latest"]) == 0
    report = json.loads(out.read_text())
    assert report["n"] == 200 and report["costs"]["frame_bytes"] > 100
    assert all(report["costs"][name] > 0 for name in PIECES), report["costs"]
    printed = capsys.readouterr().out
    assert all(name in printed for name in PIECES)
