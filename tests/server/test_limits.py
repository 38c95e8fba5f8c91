"""Rate limits: pure token buckets, and a flooding tablet cut off while others play on."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.lifespan import Components
from server.limits import FloodGuard, TokenBucket
from server.settings import Settings
from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_ws_protocol import HELLO, receive_until, stroke


def test_token_bucket_refills_at_its_rate_up_to_its_burst():
    bucket = TokenBucket(rate_per_s=10, burst=5)
    assert all(bucket.take(0.0) for _ in range(5))
    assert not bucket.take(0.0)
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert bucket.take(100.0, 5) and not bucket.take(100.0, 1)  # never more than the burst


def test_flood_guard_counts_violations_in_a_window():
    guard = FloodGuard.create(messages_per_s=1, points_per_s=100, max_violations=3)
    assert guard.admit(0.0) and guard.admit(0.0)  # the burst
    assert not guard.admit(0.0) and not guard.admit(0.0)
    assert not guard.should_disconnect()
    assert not guard.admit(0.0)
    assert guard.should_disconnect()
    assert not FloodGuard.create(messages_per_s=100, points_per_s=10).admit(0.0, points=21)


def test_a_flooding_tablet_is_throttled_then_cut_off_and_others_play_on(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, max_messages_per_s=5,
                        max_rate_violations=5)
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=ListSink()))
    with TestClient(app) as client:
        with client.websocket_connect("/ws/play") as calm, client.websocket_connect("/ws/play") as flood:
            calm.send_json(HELLO)
            receive_until(calm, "stage_start")
            flood.send_json({**HELLO, "player_id": "flooder-01"})
            receive_until(flood, "stage_start")
            for _ in range(40):
                flood.send_json({"type": "ping"})
            codes = []
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    message = flood.receive_json()
                    if message["type"] == "error":
                        codes.append(message["code"])
            assert closed.value.code == 1008
            assert codes and set(codes) == {"rate_limited"}
            # the calm tablet does not notice
            calm.send_json(stroke())
            assert receive_until(calm, "ack")["points"] == 2
