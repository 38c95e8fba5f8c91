"""A teacher's pace for a class (issue 14: time and stages per age band, defaults a teacher can
change per category): time per drawing and drawings per game, and the class's age band."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from game.engine import plan_topics
from game.rules import ClassPace, GameRules
from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import CATEGORY, FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_teacher import open_class, teacher
from tests.server.test_teacher_roster import join
from tests.server.test_ws_protocol import HELLO, receive_until

RULES = GameRules(default_stage_count=5, default_time_limit_s=40)


def test_the_band_decides_unless_the_teacher_chose():
    by_band = plan_topics(CATEGORY, rules=RULES, seed="g1", age_band="3-4")
    assert [t.time_limit_s for t in by_band] == [60.0] * 3  # 40 s x 1.5, at most 3 stages
    paced = plan_topics(CATEGORY, rules=RULES, seed="g1", age_band="3-4",
                        pace=ClassPace(time_limit_s=90, stage_count=5))
    assert [t.time_limit_s for t in paced] == [90.0] * 5  # the teacher's, not scaled again
    only_time = plan_topics(CATEGORY, rules=RULES, seed="g1", age_band="3-4",
                            pace=ClassPace(time_limit_s=25))
    assert [t.time_limit_s for t in only_time] == [25.0] * 3
    many = plan_topics(CATEGORY, rules=RULES, seed="g1", pace=ClassPace(stage_count=10))
    assert len(many) == len(CATEGORY.topics)  # never more stages than topics


@pytest.fixture
def app_client(tmp_path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, data_dir=tmp_path, open_class=True,
                        admin_token="admin-secret-token", default_time_limit_s=40,
                        default_stage_count=5, session_secret="0123456789abcdef-test")
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=ListSink()))
    with TestClient(app) as c:
        yield c


def first_stage(client: TestClient, player: str, code: str, **hello: object) -> dict:
    token = join(client, player, code)
    with client.websocket_connect("/ws/play") as ws:
        ws.send_json({**HELLO, "player_id": player, "session_token": token, **hello})
        return receive_until(ws, "stage_start")


def test_a_class_opened_with_a_pace_plays_by_it(app_client):
    auth = teacher(app_client)
    room = open_class(app_client, auth, age_band="3-4", time_limit_s=75, stages=2)
    assert (room["time_limit_s"], room["stages"]) == (75, 2)
    start = first_stage(app_client, "kid-pace-1", room["code"])
    assert (start["time_limit_s"], start["stage_count"]) == (75, 2)


def test_the_class_band_applies_when_the_tablet_gives_none(app_client):
    auth = teacher(app_client)
    room = open_class(app_client, auth, age_band="3-4")
    assert first_stage(app_client, "kid-band-1", room["code"])["time_limit_s"] == 60  # 40 x 1.5
    # A tablet that says its band keeps it.
    assert first_stage(app_client, "kid-band-2", room["code"], age_band="7-8")["time_limit_s"] == 40


def test_the_teacher_changes_the_pace_for_games_started_after(app_client):
    auth = teacher(app_client)
    room = open_class(app_client, auth, age_band="5-6", stages=2)
    r = app_client.patch(f"/api/v1/teacher/classes/{room['code']}", json={"time_limit_s": 120},
                         headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["time_limit_s"], r.json()["stages"]) == (120, 2)  # stages kept
    start = first_stage(app_client, "kid-pace-2", room["code"])
    assert (start["time_limit_s"], start["stage_count"]) == (120, 2)
    r = app_client.patch(f"/api/v1/teacher/classes/{room['code']}", json={"stages": None},
                         headers=auth)
    assert r.json()["stages"] is None  # back to the band's (5-6: at most 4)
    assert first_stage(app_client, "kid-pace-3", room["code"])["stage_count"] == 4


@pytest.mark.parametrize("body, needle", [
    ({"time_limit_s": 2}, "time_limit_s"), ({"time_limit_s": 10_000}, "time_limit_s"),
    ({"stages": 0}, "stages"), ({"stages": "many"}, "stages"), ({"colour": "red"}, "colour"),
])
def test_a_bad_pace_is_refused_clearly(app_client, body, needle):
    auth = teacher(app_client)
    code = open_class(app_client, auth)["code"]
    r = app_client.patch(f"/api/v1/teacher/classes/{code}", json=body, headers=auth)
    assert r.status_code == 422 and needle in r.text, r.text


def test_another_teacher_cannot_change_the_pace(app_client):
    code = open_class(app_client, teacher(app_client))["code"]
    other = teacher(app_client, "room 2")
    r = app_client.patch(f"/api/v1/teacher/classes/{code}", json={"stages": 1}, headers=other)
    assert r.status_code == 404
