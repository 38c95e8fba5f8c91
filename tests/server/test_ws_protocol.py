"""The WebSocket protocol in-process: bad input gets a clear error and the game goes on."""
from __future__ import annotations

import json

import pytest

HELLO = {"type": "hello", "v": 1, "player_id": "player-0001", "category": "animals",
         "canvas": {"width": 800, "height": 600}}


def receive_until(ws, kind: str, limit: int = 50) -> dict:
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} in {limit} messages")


def stroke(stage=0, index=0, points=((10, 10, 0), (20, 20, 16)), start=0, end=True) -> dict:
    return {"type": "stroke", "stage": stage, "stroke": index, "start": start,
            "points": [list(p) for p in points], "end": end}


def test_hello_welcome_and_first_stage(client):
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["v"] == 1 and not welcome["resumed"]
        assert welcome["category"] == {"code": "animals", "name_ko": "동물", "name_en": "Animals"}
        start = ws.receive_json()
        assert start["type"] == "stage_start" and start["stage"] == 0 and start["stage_count"] == 3
        assert start["time_limit_s"] == 40 and start["deadline_ms"] - start["started_at_ms"] == 40_000
        assert start["topic"]["name_ko"].endswith("-ko")


def test_messages_before_hello_are_refused_politely(client):
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json(stroke())
        assert ws.receive_json()["code"] == "hello_required"
        ws.send_json({"type": "ping", "id": 1})
        assert ws.receive_json() == {"type": "pong", "id": 1}
        ws.send_json({**HELLO, "category": "dinosaurs"})
        error = ws.receive_json()
        assert error["code"] == "unknown_category" and "dinosaurs" in error["message"]


BAD_MESSAGES = [
    ("{not json", "bad_json"),
    (json.dumps({"type": "dance"}), "unknown_type"),
    (json.dumps([1, 2]), "invalid_message"),
    (json.dumps({"type": "stroke", "stage": 0}), "invalid_message"),
    (json.dumps(stroke(stage=3)), "wrong_stage"),
    (json.dumps(stroke(points=[(1, 1, i) for i in range(600)])), "too_many_points"),
    (json.dumps(stroke(points=[(5000, 10, 0)])), "out_of_range"),
    (json.dumps(stroke(points=[(-1, -1000, 0)])), "out_of_range"),
    ('{"type": "stroke", "stage": 0, "stroke": 0, "points": [[1, NaN, 0]], "end": true}', "out_of_range"),
    ('{"type": "stroke", "stage": 0, "stroke": 0, "points": [[1, Infinity, 0]], "end": true}', "out_of_range"),
    (json.dumps(stroke(index=7)), "stroke_out_of_order"),
    (json.dumps({**HELLO}), "already_started"),
    ("x" * 70_000, "message_too_large"),
    (json.dumps({**stroke(), "extra": 1}), "invalid_message"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_MESSAGES, ids=[c for _, c in BAD_MESSAGES])
def test_each_bad_message_gets_its_error_and_the_game_goes_on(client, raw, code):
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        receive_until(ws, "stage_start")
        ws.send_text(raw)
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == code, error
        assert error["message"]
        # the same connection still plays: a good stroke is acknowledged and guessed
        ws.send_json(stroke())
        ack = receive_until(ws, "ack")
        assert ack == {"type": "ack", "stage": 0, "stroke": 0, "points": 2}
        guess = receive_until(ws, "guess")
        assert guess["guesses"][0]["label"] == "cat" and guess["guesses"][0]["name_ko"] == "cat-ko"


def test_a_whole_game_reaches_game_over_and_is_recorded(client, recognizer, sink):
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        welcome = receive_until(ws, "welcome")
        recognizer.points_to_recognize = 3
        message = receive_until(ws, "stage_start")
        results = []
        while message["type"] == "stage_start":
            stage = message["stage"]
            recognizer.target_by_key[f"{welcome['game_id']}:{stage}"] = message["topic"]["label"]
            if stage == 1:
                ws.send_json({"type": "skip", "stage": 1})
            else:
                ws.send_json(stroke(stage, 0, points=[(10, 10, 0), (50, 50, 10)], end=False))
                ws.send_json(stroke(stage, 0, points=[(60, 60, 20)], start=2, end=True))
            results.append(receive_until(ws, "stage_result"))
            message = ws.receive_json()
            while message["type"] not in ("stage_start", "game_over"):
                message = ws.receive_json()
        assert [r["outcome"] for r in results] == ["recognized", "skipped", "recognized"]
        over = message
        assert over["type"] == "game_over" and over["recognized"] == 2
        assert [s["outcome"] for s in over["stages"]] == ["recognized", "skipped", "recognized"]
    # run the recorder once on the app's own loop rather than waiting for its next round
    client.portal.call(client.app.state.recorder.run_once)
    [game] = sink.games
    assert game.game_id == welcome["game_id"]
    assert game.stages[0].strokes == (((10, 10, 0), (50, 50, 10), (60, 60, 20)),)
    assert game.stages[0].guesses, "the guesses over time are kept"


def test_resume_token_brings_the_tablet_back_to_its_stage_with_its_ink(client):
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        welcome = receive_until(ws, "welcome")
        receive_until(ws, "stage_start")
        ws.send_json(stroke(points=[(10, 10, 0), (20, 20, 5)]))
        receive_until(ws, "ack")
        ws.send_json(stroke(index=1, points=[(30, 30, 50)], end=False))
        ws.send_json({"type": "ping", "id": 2})
        receive_until(ws, "pong")
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json({**HELLO, "resume_token": welcome["resume_token"]})
        again = receive_until(ws, "welcome")
        assert again["resumed"] and again["game_id"] == welcome["game_id"]
        start = receive_until(ws, "stage_start")
        assert start["stage"] == 0
        assert start["received"] == [{"points": 2, "ended": True}, {"points": 1, "ended": False}]
        # the tablet resends stroke 1 from the start; only the new point is kept
        ws.send_json(stroke(index=1, points=[(30, 30, 50), (40, 40, 60)], end=True))
        assert receive_until(ws, "ack")["points"] == 2


def test_resume_with_another_players_token_is_refused(client):
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        token = receive_until(ws, "welcome")["resume_token"]
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json({**HELLO, "player_id": "someone-else", "resume_token": token})
        assert receive_until(ws, "error")["code"] == "resume_failed"


def test_unknown_resume_token_starts_a_new_game(client):
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json({**HELLO, "resume_token": "no-such-token"})
        assert ws.receive_json()["code"] == "resume_failed"
        assert receive_until(ws, "welcome")["resumed"] is False


def test_a_failed_guess_is_asked_again(tmp_path):
    """The pool was overloaded for the last stroke's guess: the child still gets it."""
    from fastapi.testclient import TestClient

    from inference.errors import OverloadedError
    from server.app import create_app
    from server.lifespan import Components
    from server.settings import Settings
    from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer

    class FlakyRecognizer(ScriptedRecognizer):
        def __init__(self) -> None:
            super().__init__()
            self.failures_left = 2

        async def recognize(self, request):
            if self.failures_left:
                self.failures_left -= 1
                raise OverloadedError("queue full")
            return await super().recognize(request)

    recognizer = FlakyRecognizer()
    app = create_app(Settings(_env_file=None, data_dir=tmp_path),
                     Components(recognizer=recognizer, topics=FixedTopics(), results=ListSink()))
    with TestClient(app) as client, client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        receive_until(ws, "stage_start")
        ws.send_json(stroke())
        guess = receive_until(ws, "guess")
        assert guess["points"] == 2 and recognizer.failures_left == 0
        assert len(recognizer.requests) == 1, "the third try answered"
