"""Property-based fuzzing of the protocol, the engine, the WebSocket handler and the HTTP API:
no crash, no hang, a clear error each time."""
from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from game import engine
from game.errors import ProtocolViolation
from game.rules import GameRules
from server import protocol
from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import CATEGORY, FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_ws_protocol import HELLO, receive_until

KNOWN_CODES = {
    "bad_json", "invalid_message", "unknown_type", "message_too_large", "too_many_points",
    "too_many_strokes", "out_of_range", "wrong_stage", "stroke_out_of_order", "points_missing",
    "stroke_ended", "hello_required", "already_started", "game_over", "rate_limited",
}

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
numbers = st.integers(-10, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.just(-0.0)
point = st.tuples(numbers, numbers, numbers) | st.lists(json_scalars, max_size=4)
stroke_like = st.fixed_dictionaries(
    {"type": st.just("stroke")},
    optional={
        "stage": json_scalars | st.integers(-2, 6), "stroke": json_scalars | st.integers(-2, 6),
        "start": json_scalars | st.integers(-2, 50), "end": json_scalars,
        "points": st.lists(point, max_size=40) | json_scalars,
        "extra": json_scalars,
    },
)
other_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["skip", "ping", "hello", "dance", "", "STROKE"]) | json_scalars},
    optional={"stage": json_scalars, "id": json_scalars, "player_id": json_scalars,
              "category": json_scalars, "canvas": json_values},
)


def as_text(value) -> str:
    return json.dumps(value, allow_nan=True)


messages = (
    stroke_like.map(as_text) | other_like.map(as_text) | json_values.map(as_text)
    | st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=messages)
def test_the_parser_returns_a_message_or_a_named_error(raw):
    try:
        message = protocol.parse_client_message(raw, max_bytes=65536, max_points=512)
    except protocol.ClientMessageError as exc:
        assert exc.code in KNOWN_CODES and str(exc)
        return
    if isinstance(message, protocol.Stroke):
        assert all(math.isfinite(v) for p in message.points for v in p)


@settings(max_examples=3000, deadline=None)
@given(chunks=st.lists(stroke_like, max_size=12))
def test_the_engine_never_breaks_on_any_sequence_of_chunks(chunks):
    rules = GameRules()
    state, _ = engine.new_game(game_id="g", player_id="p", category=CATEGORY, rules=rules, now_ms=0,
                               canvas_width=800, canvas_height=600)
    for i, data in enumerate(chunks):
        try:
            message = protocol.parse_client_message(as_text(data), max_bytes=65536, max_points=512)
        except protocol.ClientMessageError:
            continue
        command = engine.StrokeChunk(message.stage, message.stroke, message.start,
                                     tuple(message.points), message.end)
        before = state.to_dict()
        try:
            engine.handle(state, command, now_ms=i, rules=rules)
        except ProtocolViolation as exc:
            assert exc.code in KNOWN_CODES
            assert state.to_dict() == before, "a refused command changes nothing"
    assert len(state.stroke_points) == len(state.stroke_ended)
    assert all(n >= 0 for n in state.stroke_points)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    settings_ = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("fuzz"),
                         max_messages_per_s=1e9, max_points_per_s=1e12,
                         admin_token="teacher-secret-token")
    app = create_app(settings_, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                           results=ListSink()))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def fuzz_socket(fuzz_client):
    with fuzz_client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        receive_until(ws, "stage_start")
        yield ws


_ping_id = iter(range(10**9))


@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=messages)
def test_the_socket_answers_every_message_and_stays_open(fuzz_socket, raw):
    fuzz_socket.send_text(raw)
    marker = next(_ping_id)
    fuzz_socket.send_json({"type": "ping", "id": marker})
    for _ in range(100):
        reply = fuzz_socket.receive_json()
        assert isinstance(reply, dict) and isinstance(reply.get("type"), str)
        if reply["type"] == "error":
            assert reply["code"] in KNOWN_CODES, reply
            assert reply["message"]
        if reply == {"type": "pong", "id": marker}:
            return
    raise AssertionError("the socket stopped answering")


@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    path=st.sampled_from(["/api/v1/join", "/api/v1/classes"]),
    body=json_values | st.fixed_dictionaries({}, optional={
        "player_id": json_scalars, "code": json_scalars, "name": json_scalars, "ttl_s": json_scalars}),
    auth=st.sampled_from([None, "Bearer teacher-secret-token", "Bearer nope", "garbage"]),
)
def test_the_http_api_never_fails_with_a_server_error(fuzz_client, path, body, auth):
    headers = {"Authorization": auth} if auth else {}
    response = fuzz_client.post(path, content=as_text(body), headers={**headers, "content-type": "application/json"})
    assert response.status_code < 500, response.text
    assert response.json(), "every answer explains itself"
