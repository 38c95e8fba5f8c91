"""The class round and the gallery over HTTP and the sockets, on embedded defaults."""
from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_teacher import open_class, teacher
from tests.server.test_teacher_roster import join
from tests.server.test_ws_protocol import HELLO, receive_until, stroke


# Embedded defaults, as the other teacher app tests (see test_teacher.py): the Redis side is
# tested across two services on real Redis in test_teacher_round_redis.py and across two
# server processes in tests/browser/test_teacher.py.
@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def app_client(tmp_path, sink) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, data_dir=tmp_path, open_class=True,
                        admin_token="admin-secret-token", roster_interval_ms=100,
                        default_time_limit_s=600, default_stage_count=1,
                        session_secret="0123456789abcdef-test")
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=sink))
    with TestClient(app) as c:
        yield c


def watch(client: TestClient, auth: dict[str, str], code: str):  # type: ignore[no-untyped-def]
    ws = client.websocket_connect("/ws/teacher")
    page = ws.__enter__()
    page.send_json({"type": "watch", "token": auth["Authorization"][7:], "code": code})
    roster = page.receive_json()
    assert roster["type"] == "roster"
    return ws, page, roster


def until(page, predicate, limit: int = 100) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(limit):
        message = page.receive_json()
        if predicate(message):
            return message
    raise AssertionError("no such message")


def play(client: TestClient, player: str, token: str):  # type: ignore[no-untyped-def]
    ctx = client.websocket_connect("/ws/play")
    ws = ctx.__enter__()
    ws.send_json({**HELLO, "player_id": player, "session_token": token})
    start = receive_until(ws, "stage_start")
    return ctx, ws, start


def messages_until_pong(ws) -> list[dict]:  # type: ignore[no-untyped-def]
    """Everything the tablet was sent, up to the answer of a ping sent now."""
    ws.send_json({"type": "ping", "id": 99})
    seen = []
    while True:
        message = ws.receive_json()
        if message["type"] == "pong":
            return seen
        seen.append(message)


def test_a_round_starts_on_every_tablet_of_the_class_and_ends_early(app_client, sink):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    other_auth = teacher(app_client, "room 2")
    other_code = open_class(app_client, other_auth)["code"]
    tokens = [join(app_client, f"player-000{i}", code) for i in (1, 2)]
    stranger = join(app_client, "player-0009", other_code)
    page_ctx, page, _ = watch(app_client, auth, code)
    tablets = [play(app_client, f"player-000{i + 1}", t) for i, t in enumerate(tokens)]
    other_ctx, other, other_start = play(app_client, "player-0009", stranger)
    try:
        first = tablets[0][1]
        first.send_json(stroke(points=((100, 100, 0), (200, 150, 16), (300, 100, 32))))
        receive_until(first, "ack")
        # Both tiles shown means both games are in the class's game list.
        seen: set[int] = set()
        until(page, lambda m: m["type"] == "tiles" and (
            seen.update(t["seat"] for t in m["tiles"] if t.get("phase") == "drawing")
            or seen >= {1, 2}))

        r = app_client.post(f"/api/v1/teacher/classes/{code}/round",
                            json={"topic": "cow", "time_limit_s": 30}, headers=auth)
        assert r.status_code == 201, r.text
        body = r.json()
        deadline_ms = body["round"]["deadline_ms"]
        assert body["started"] == 2 and [t["seat"] for t in body["tablets"]] == [1, 2]
        assert body["round"]["topic"]["label"] == "cow" and body["round"]["running"]
        assert deadline_ms == body["round"]["started_at_ms"] + 30_000
        assert "player-" not in r.text, "no player id reaches the teacher's browser"
        for _, ws, _ in tablets:
            seen = collect_until(ws, "stage_start")
            begun = seen[-1]
            assert begun["round"] is True and begun["topic"]["label"] == "cow"
            assert begun["deadline_ms"] == deadline_ms, "the same deadline on every tablet"
            assert begun["stage"] == 1 and begun["time_limit_s"] == 30
            # the stage each was drawing ended first, as a time-out (praised, never a failure)
            results = [m for m in seen if m["type"] == "stage_result"]
            assert [(m["stage"], m["outcome"]) for m in results] == [(0, "timeout")]
        announced = until(page, lambda m: m["type"] == "round")
        assert announced["round"]["round_id"] == body["round"]["round_id"]
        # The tablet of the other class heard nothing of it.
        assert not any(m["type"] in ("stage_start", "stage_result")
                       for m in messages_until_pong(other))
        assert app_client.get(f"/api/v1/teacher/classes/{other_code}/round",
                              headers=other_auth).json() == {"round": None}

        first.send_json(stroke(stage=1, points=((400, 300, 0), (450, 350, 16))))
        receive_until(first, "ack")
        r = app_client.delete(f"/api/v1/teacher/classes/{code}/round", headers=auth)
        assert r.status_code == 200 and r.json()["ended"] == 2, r.text
        assert not r.json()["round"]["running"] and r.json()["round"]["ended_at_ms"]
        for _, ws, _ in tablets:
            result = receive_until(ws, "stage_result")
            assert result["stage"] == 1 and result["outcome"] == "timeout"
            receive_until(ws, "game_over")  # one stage of their own, then the round: done
        until(page, lambda m: m["type"] == "round_ended")
        again = app_client.delete(f"/api/v1/teacher/classes/{code}/round", headers=auth)
        assert again.status_code == 409 and again.json()["detail"] == "no round is running in this class"
    finally:
        for ctx, _, _ in tablets:
            ctx.__exit__(None, None, None)
        other_ctx.__exit__(None, None, None)
        page_ctx.__exit__(None, None, None)

    # Both games finished and are recorded: their strokes left the game store, the gallery
    # kept its copy.
    wait_for(lambda: len(sink.games) >= 2)
    store = app_client.app.state.services.games.store
    for game in sink.games[:2]:
        assert app_client.portal.call(store.strokes, game.game_id, 1) == []
    r = app_client.get(f"/api/v1/teacher/classes/{code}/gallery", params={"round": "last"},
                       headers=auth)
    assert r.status_code == 200, r.text
    view = r.json()
    assert [g["topic"]["label"] for g in view["groups"]] == ["cow"] and view["count"] == 2
    drawings = view["groups"][0]["drawings"]
    assert [(d["seat"], d["animal"], d["outcome"]) for d in drawings] == [
        (1, "dog", "timeout"), (2, "cat", "timeout")]
    assert drawings[0]["strokes"] == [[400, 300, 450, 350]] and drawings[1]["strokes"] == []
    assert drawings[0]["guess"]["label"] in {"cat", "dog", "pig", "cow", "ant", "bee"}
    assert drawings[0]["guess"]["name_ko"].endswith("-ko")
    for game in sink.games:
        assert game.game_id not in r.text and game.player_id not in r.text
    session = app_client.get(f"/api/v1/teacher/classes/{code}/gallery", headers=auth).json()
    assert session["count"] == 4, "the whole session: each tablet's own stage and the round"
    own = [d for g in session["groups"] for d in g["drawings"] if not d["round"]]
    assert sorted(d["seat"] for d in own) == [1, 2]
    assert [100, 100, 200, 150, 300, 100] in [s for d in own for s in d["strokes"]]

    png = app_client.get(f"/api/v1/teacher/classes/{code}/gallery.png", headers=auth)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert "attachment" in png.headers["content-disposition"]
    sheet = Image.open(io.BytesIO(png.content))
    # At least a title, one topic's heading and a row of drawings; one heading more for each
    # other topic (the tablets' own stages draw a random topic, which may be the round's: cow).
    assert sheet.format == "PNG" and sheet.width > 1000
    assert sheet.height > 350 + 60 * (len(session["groups"]) - 1)
    # ink where seat 1's round drawing is: the sheet is drawn from the strokes
    assert sheet.convert("L").getextrema()[0] < 80


def collect_until(ws, kind: str, limit: int = 50) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every message up to and including the first of `kind`."""
    seen = []
    for _ in range(limit):
        seen.append(ws.receive_json())
        if seen[-1]["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} in {limit} messages")


def wait_for(predicate, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition another task makes true (the recorder), with a generous bound."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_another_teachers_token_sees_nothing_of_the_round_or_gallery(app_client):
    mine, theirs = teacher(app_client, "room 1"), teacher(app_client, "room 2")
    code = open_class(app_client, mine)["code"]
    base = f"/api/v1/teacher/classes/{code}"
    for method, path, body in [("POST", "/round", {}), ("GET", "/round", None),
                               ("DELETE", "/round", None), ("GET", "/topics", None),
                               ("GET", "/gallery", None), ("GET", "/gallery.png", None)]:
        r = app_client.request(method, base + path, headers=theirs, json=body)
        assert r.status_code == 404 and r.json()["detail"] == f"you have no open class {code!r}"
        assert app_client.request(method, base + path, json=body).status_code == 401
    assert app_client.get(base + "/topics", headers=mine).json()[0] == {
        "label": "cat", "name_ko": "cat-ko", "name_en": "cat"}


@pytest.mark.parametrize(("body", "params", "needle"), [
    ({"topic": "planet"}, None, "'planet' is not a topic of 'animals'"),
    ({"time_limit_s": 1}, None, "greater than or equal to 5"),
    ({"time_limit_s": "long"}, None, "valid number"),
    ({"colour": "red"}, None, "Extra inputs"),
])
def test_a_bad_round_is_refused_clearly(app_client, body, params, needle):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    r = app_client.post(f"/api/v1/teacher/classes/{code}/round", json=body, headers=auth)
    assert r.status_code == 422 and needle in r.text, r.text


def test_a_random_round_in_a_class_without_tablets_and_a_bad_gallery_query(app_client):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    r = app_client.post(f"/api/v1/teacher/classes/{code}/round", json={}, headers=auth)
    assert r.status_code == 201 and r.json()["started"] == 0 and r.json()["tablets"] == []
    # no time limit given: the topic's own (600 s here) for the 3-4 band, kept within 600 s
    assert r.json()["round"]["time_limit_s"] == 600
    assert app_client.get(f"/api/v1/teacher/classes/{code}/round",
                          headers=auth).json()["round"]["running"]
    bad = app_client.get(f"/api/v1/teacher/classes/{code}/gallery", params={"round": "a b"},
                         headers=auth)
    assert bad.status_code == 422
    empty = app_client.get(f"/api/v1/teacher/classes/{code}/gallery.png", headers=auth)
    assert empty.status_code == 200 and Image.open(io.BytesIO(empty.content)).width > 0


def test_erasing_a_child_erases_its_drawings_in_the_class_gallery(tmp_path):
    # The embedded results database (SQLite), so the privacy routes run as deployed.
    settings = Settings(_env_file=None, data_dir=tmp_path, open_class=True,
                        admin_token="admin-secret-token", default_stage_count=1,
                        session_secret="0123456789abcdef-test", roster_interval_ms=100,
                        consent_token="consent-secret")
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics()))
    with TestClient(app) as client:
        auth = teacher(client)
        code = open_class(client, auth)["code"]
        token = join(client, "player-0001", code)
        page_ctx, page, _ = watch(client, auth, code)
        ctx, ws, _ = play(client, "player-0001", token)
        try:
            until(page, lambda m: m["type"] == "tiles")  # the game is in the class's list
            assert client.post(f"/api/v1/teacher/classes/{code}/round", json={"topic": "pig"},
                               headers=auth).status_code == 201
            receive_until(ws, "stage_start")
            ws.send_json(stroke(stage=1))
            receive_until(ws, "ack")
            assert client.delete(f"/api/v1/teacher/classes/{code}/round",
                                 headers=auth).status_code == 200
            receive_until(ws, "game_over")
        finally:
            ctx.__exit__(None, None, None)
            page_ctx.__exit__(None, None, None)
        gallery = client.app.state.gallery
        wait_for(lambda: len(client.portal.call(gallery.entries, code)) == 2)
        client.portal.call(client.app.state.results.schema_ready)  # migrated in the background
        r = client.request("DELETE", "/privacy/players/player-0001", json={"role": "guardian"},
                           headers={"Authorization": "Bearer consent-secret"})
        assert r.status_code == 200, r.text
        assert r.json()["deleted"]["class_gallery"] == 2
        assert r.json()["deleted"]["class_seats"] == 1
        assert client.portal.call(gallery.entries, code) == {}
        rooms = client.app.state.classrooms
        seats = client.portal.call(rooms.seats, code)
        assert "player-0001" not in seats and list(seats.values()) == [1], "the seat stays taken"
        assert "player-0001" not in client.portal.call(rooms.games, code)
        # The next tablet gets the next number, not the erased child's.
        r = client.post("/api/v1/join", json={"player_id": "player-0002", "code": code})
        assert r.status_code == 200 and r.json()["seat"] == 2, r.text
        view = client.get(f"/api/v1/teacher/classes/{code}/gallery", headers=auth).json()
        assert view["count"] == 0, "nothing of the child is left to show"


def test_a_tablet_starting_its_game_during_a_round_begins_with_it(app_client):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    r = app_client.post(f"/api/v1/teacher/classes/{code}/round", json={"topic": "bee"},
                        headers=auth)
    assert r.status_code == 201 and r.json()["started"] == 0
    ctx, ws, start = play(app_client, "player-0001", join(app_client, "player-0001", code))
    try:
        assert start["stage"] == 0 and start["round"] is True and start["topic"]["label"] == "bee"
        assert start["deadline_ms"] == r.json()["round"]["deadline_ms"]
        assert start["stage_count"] == 2, "the round, then its own stage"
        # and the game is in the class at once: ending the round reaches it
        ended = app_client.delete(f"/api/v1/teacher/classes/{code}/round", headers=auth)
        assert ended.json()["ended"] == 1
        assert receive_until(ws, "stage_result")["outcome"] == "timeout"
    finally:
        ctx.__exit__(None, None, None)
