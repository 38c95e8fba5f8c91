"""Access: session tokens, classes with join codes, closed mode, origin checks."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.access import AccessDenied, ClassRegistry, SessionTokens, origin_allowed
from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_ws_protocol import HELLO, receive_until

ADMIN = {"Authorization": "Bearer teacher-secret-token"}


def test_tokens_verify_and_refuse_forgery_and_expiry():
    tokens = SessionTokens(b"0123456789abcdef0123")
    token = tokens.issue(player_id="player-1", class_code="ABC234", ttl_s=60, now_s=1000)
    claims = tokens.verify(token, now_s=1059)
    assert (claims.player_id, claims.class_code) == ("player-1", "ABC234")
    with pytest.raises(AccessDenied, match="expired"):
        tokens.verify(token, now_s=1061)
    with pytest.raises(AccessDenied):
        SessionTokens(b"another-secret-key-xx").verify(token, now_s=1000)
    forged = token.replace(token.split(".")[1], token.split(".")[1][::-1])
    with pytest.raises(AccessDenied):
        tokens.verify(forged, now_s=1000)
    with pytest.raises(AccessDenied, match="malformed"):
        tokens.verify("garbage", now_s=1000)


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_class_registry_codes(backend, clean_redis_db):
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(clean_redis_db) if backend == "redis" else None
    registry = ClassRegistry(client)
    info = await registry.open(name="해바라기반", ttl_s=60, now_s=1000)
    assert len(info.code) == 6 and not set(info.code) & set("01OIL")
    spoken = f" {info.code[:3].lower()}-{info.code[3:]} "
    assert (await registry.get(spoken, now_s=1001)).name == "해바라기반"
    assert await registry.get(info.code, now_s=1061) is None, "expired"
    assert await registry.close(info.code)
    assert await registry.get(info.code, now_s=1001) is None
    if client is not None:
        await client.aclose()


def test_origin_check():
    assert origin_allowed(None, "school:8000", [])
    assert origin_allowed("http://school:8000", "school:8000", [])
    assert not origin_allowed("http://evil.example", "school:8000", [])
    assert origin_allowed("https://tablets.school.kr", "school:8000", ["https://tablets.school.kr"])


@pytest.fixture
def closed_client(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, open_class=False,
                        admin_token="teacher-secret-token")
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=ListSink()))
    with TestClient(app) as client:
        yield client


def test_a_closed_server_wants_a_class_code_then_a_token(closed_client):
    client = closed_client
    assert client.post("/api/v1/join", json={"player_id": "player-0001"}).status_code == 403
    assert client.post("/api/v1/classes", json={"name": "a"}).status_code == 401
    assert client.post("/api/v1/classes", json={"name": "a"},
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    opened = client.post("/api/v1/classes", json={"name": "해바라기반"}, headers=ADMIN)
    assert opened.status_code == 201
    code = opened.json()["code"]
    assert client.post("/api/v1/join", json={"player_id": "player-0001", "code": "ZZZZZZ"}).status_code == 404
    joined = client.post("/api/v1/join", json={"player_id": "player-0001", "code": code.lower()})
    assert joined.status_code == 200 and joined.json()["class_code"] == code
    token = joined.json()["session_token"]

    with client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)  # no token
        assert receive_until(ws, "error")["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json({**HELLO, "player_id": "player-0002", "session_token": token})
        assert receive_until(ws, "error")["code"] == "unauthorized"
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json({**HELLO, "session_token": token})
        assert receive_until(ws, "stage_start")["stage"] == 0
    assert client.delete(f"/api/v1/classes/{code}", headers=ADMIN).status_code == 204
    assert client.post("/api/v1/join", json={"player_id": "player-0001", "code": code}).status_code == 404


def test_the_embedded_default_has_one_open_class(client):
    joined = client.post("/api/v1/join", json={"player_id": "player-0001"})
    assert joined.status_code == 200 and joined.json()["class_code"] == "LOCAL"
    assert client.post("/api/v1/classes", json={"name": "a"}, headers=ADMIN).status_code == 503


def test_a_foreign_origin_cannot_open_the_socket(client):
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws/play", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()
