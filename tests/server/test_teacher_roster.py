"""The teacher's live roster over /ws/teacher: tiles of the class's tablets, and nothing else."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_teacher import ADMIN, open_class, teacher
from tests.server.test_ws_protocol import HELLO, receive_until, stroke


# The app on embedded defaults: TestClient's lifespan shutdown with a Redis-backed app hung now
# and then on this busy machine (not understood yet); the Redis state is tested directly in
# test_teacher_redis.py and across two real server processes in tests/browser/test_teacher.py.
@pytest.fixture
def app_client(tmp_path) -> Iterator[TestClient]:
    extra: dict[str, str] = {}
    settings = Settings(_env_file=None, data_dir=tmp_path, open_class=True,
                        admin_token="admin-secret-token", roster_interval_ms=100, default_time_limit_s=600,
                        session_secret="0123456789abcdef-test", **extra)
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=ListSink()))
    with TestClient(app) as c:
        yield c


def join(client: TestClient, player: str, code: str | None) -> str:
    body = {"player_id": player, **({"code": code} if code else {})}
    r = client.post("/api/v1/join", json=body)
    assert r.status_code == 200, r.text
    return r.json()["session_token"]


def tiles_until(watch, predicate, limit: int = 50) -> dict:
    """The first tile (from `tiles` messages) that satisfies `predicate`."""
    for _ in range(limit):
        message = watch.receive_json()
        assert message["type"] == "tiles", message
        for tile in message["tiles"]:
            if predicate(tile):
                return tile
    raise AssertionError("no such tile")


def test_the_roster_shows_the_class_tablets_live_and_nothing_of_others(app_client):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    other_code = open_class(app_client, teacher(app_client, "room 2"))["code"]
    mine = join(app_client, "player-0001", code)
    theirs = join(app_client, "player-0002", other_code)
    local = join(app_client, "player-0003", None)  # a tablet without a code
    with app_client.websocket_connect("/ws/teacher") as watch:
        watch.send_json({"type": "watch", "token": auth["Authorization"][7:], "code": code})
        roster = watch.receive_json()
        assert roster["type"] == "roster" and roster["class"]["code"] == code
        assert [(t["seat"], t["phase"]) for t in roster["tiles"]] == [(1, "joined")]
        # The other class's tablet and the tablet without a code draw first: none of it shows.
        for player, token in [("player-0002", theirs), ("player-0003", local)]:
            with app_client.websocket_connect("/ws/play") as other:
                other.send_json({**HELLO, "player_id": player, "session_token": token})
                receive_until(other, "stage_start")
                other.send_json(stroke(points=((500, 500, 0), (510, 510, 16))))
                receive_until(other, "ack")
        with app_client.websocket_connect("/ws/play") as tablet:
            tablet.send_json({**HELLO, "session_token": mine})
            start = receive_until(tablet, "stage_start")
            tablet.send_json(stroke(points=((10.4, 10, 0), (20, 20.6, 16))))
            receive_until(tablet, "ack")
            tile = tiles_until(watch, lambda t: t.get("ink"))
            assert tile["seat"] == 1 and tile["avatar"] and tile["connected"]
            assert tile["phase"] == "drawing" and tile["stage"] == 0
            assert tile["topic"]["label"] == start["topic"]["label"]
            assert [10, 10, 20, 21] in [ink for _, ink in tile["ink"]]
            assert "player_id" not in tile and "game_id" not in tile, "no ids reach the page"
        if app_client.app.state.settings.redis_url is None:
            # TestClient cancels the server's side of a closed socket: on Redis the await that
            # marks the game disconnected is cut off (uvicorn lets it finish; the browser test
            # sees a tablet drop on Redis).
            dropped = tiles_until(watch, lambda t: not t["connected"])
            assert dropped["seat"] == 1
    # A late watcher gets the drawing so far in its snapshot.
    with app_client.websocket_connect("/ws/teacher") as watch:
        watch.send_json({"type": "watch", "token": auth["Authorization"][7:], "code": code})
        roster = watch.receive_json()
        assert len(roster["tiles"]) == 1 and roster["tiles"][0]["ink"] == [[0, [10, 10, 20, 21]]]


@pytest.mark.parametrize("who", ["another teacher", "a tablet's session", "the admin", "nobody"])
def test_only_the_classs_teacher_may_watch(app_client, who):
    code = open_class(app_client, teacher(app_client))["code"]
    token = {
        "another teacher": lambda: teacher(app_client, "room 2")["Authorization"][7:],
        "a tablet's session": lambda: join(app_client, "player-0001", code),
        "the admin": lambda: ADMIN["Authorization"][7:],
        "nobody": lambda: "",
    }[who]()
    with app_client.websocket_connect("/ws/teacher") as watch:
        watch.send_json({"type": "watch", "token": token, "code": code})
        error = watch.receive_json()
        assert error["type"] == "error" and error["code"] in ("unauthorized", "unknown_class")
        with pytest.raises(WebSocketDisconnect) as closed:
            watch.receive_json()
        assert closed.value.code == 1008


def test_a_watch_that_is_not_json_gets_a_clear_error(app_client):
    with app_client.websocket_connect("/ws/teacher") as watch:
        watch.send_text("{not json")
        error = watch.receive_json()
        assert error == {"type": "error", "code": "watch_required",
                         "message": 'send {"type": "watch", "token": ..., "code": ...} first'}


def test_closing_the_class_tells_the_page_and_ends_the_tablets_sessions(app_client):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    session = join(app_client, "player-0001", code)
    with app_client.websocket_connect("/ws/play") as tablet:
        tablet.send_json({**HELLO, "session_token": session})
        receive_until(tablet, "stage_start")
    with app_client.websocket_connect("/ws/teacher") as watch:
        watch.send_json({"type": "watch", "token": auth["Authorization"][7:], "code": code})
        assert watch.receive_json()["type"] == "roster"
        assert app_client.delete(f"/api/v1/teacher/classes/{code}", headers=auth).status_code == 204
        assert watch.receive_json() == {"type": "class_closed"}
    # The tablet's session (still within its expiry) no longer starts or resumes a game.
    with app_client.websocket_connect("/ws/play") as tablet:
        tablet.send_json({**HELLO, "session_token": session})
        error = tablet.receive_json()
        assert error["type"] == "error" and error["code"] == "unauthorized"
        assert "class has been closed" in error["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            tablet.receive_json()
        assert closed.value.code == 1008


def test_closing_the_class_ends_a_drawing_tablets_game_with_its_drawing_praised(app_client):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    session = join(app_client, "player-0001", code)
    with app_client.websocket_connect("/ws/play") as tablet:
        tablet.send_json({**HELLO, "session_token": session})
        start = receive_until(tablet, "stage_start")
        assert start["stage_count"] > 1, "the game has stages left to cut short"
        tablet.send_json(stroke())
        receive_until(tablet, "ack")
        assert app_client.delete(f"/api/v1/teacher/classes/{code}", headers=auth).status_code == 204
        result = receive_until(tablet, "stage_result")
        assert result["stage"] == 0 and result["outcome"] == "timeout"  # praised, not failed
        over = receive_until(tablet, "game_over")
        assert [s["outcome"] for s in over["stages"]] == ["timeout"]
