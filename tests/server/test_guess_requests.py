"""Which guesses a connection asks recognition for, and under which drawing key."""
from __future__ import annotations

from fastapi.testclient import TestClient

from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from server.ws import _GuessThrottle
from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_ws_protocol import HELLO, receive_until, stroke


def test_a_stroke_gets_its_own_guess_only_once_it_has_lasted_an_interval() -> None:
    throttle = _GuessThrottle()
    assert throttle.want(True, 1000, 250)  # a stroke ended: always
    throttle.stroke_began(1400)  # the next stroke, after a pause longer than the interval
    assert not throttle.want(False, 1400, 250)  # its first chunk: too short to guess again
    assert not throttle.want(False, 1600, 250)
    assert throttle.want(False, 1650, 250)  # it has lasted 250 ms
    assert not throttle.want(False, 1800, 250)  # and at most once per interval after that
    assert throttle.want(False, 1900, 250)
    assert throttle.want(True, 1901, 250)


def test_mid_stroke_guesses_use_their_own_key_so_whole_strokes_stay_incremental(tmp_path) -> None:
    recognizer = ScriptedRecognizer()
    settings = Settings(_env_file=None, data_dir=tmp_path, intermission_ms=0,
                        default_stage_count=3, guess_interval_ms=0)
    app = create_app(settings, Components(recognizer=recognizer, topics=FixedTopics(),
                                          results=ListSink()))
    with TestClient(app) as client, client.websocket_connect("/ws/play") as ws:
        ws.send_json(HELLO)
        receive_until(ws, "stage_start")
        ws.send_json(stroke(index=0, end=True))
        receive_until(ws, "guess")
        ws.send_json(stroke(index=1, points=[(30, 30, 100), (40, 40, 116)], end=False))
        receive_until(ws, "guess")
        ws.send_json(stroke(index=1, points=[(50, 50, 132)], start=2, end=True))
        receive_until(ws, "guess")
    keys = [r.drawing_key for r in recognizer.requests]
    points = [sum(len(s) for s in r.strokes) for r in recognizer.requests]
    assert points == [2, 4, 5]
    assert not keys[0].endswith(":live") and not keys[2].endswith(":live")
    assert keys[1] == keys[0] + ":live"


def test_ended_strokes_are_kept_compactly_and_read_the_same() -> None:
    import numpy as np

    from server.ws import _Drawing

    drawing = _Drawing()
    drawing.reset(0, [])
    drawing.add(0, ((1.0, 2.0, 0.0), (3.5, 4.0, 16.0)))
    drawing.add(0, ((5.0, 6.0, 32.0),))
    drawing.seal(0)
    drawing.add(1, ((7.0, 8.0, 400.0),))
    stage, strokes, points = drawing.snapshot()
    assert stage == 0 and points == 4
    assert isinstance(strokes[0], np.ndarray) and strokes[0].shape == (3, 3)
    assert strokes[0].tolist() == [[1.0, 2.0, 0.0], [3.5, 4.0, 16.0], [5.0, 6.0, 32.0]]
    assert strokes[1] == [(7.0, 8.0, 400.0)]
    strokes[1].append((0.0, 0.0, 0.0))  # a snapshot is the caller's to change
    assert drawing.snapshot()[1][1] == [(7.0, 8.0, 400.0)]
    drawing.seal(0)  # sealing twice changes nothing
    assert drawing.snapshot()[1][0].shape == (3, 3)
    drawing.add(0, ((9.0, 9.0, 50.0),))  # never sent by the engine, but must not break
    assert len(drawing.snapshot()[1][0]) == 4 and drawing.points == 5


def test_mid_stroke_guesses_see_append_only_pieces_covering_every_point() -> None:
    import numpy as np

    from server.ws import _Drawing

    drawing = _Drawing()
    drawing.reset(0, [])
    drawing.add(0, ((1.0, 1.0, 0.0), (2.0, 2.0, 16.0), (3.0, 3.0, 32.0), (4.0, 4.0, 48.0)))
    drawing.seal(0)
    drawing.add(1, ((10.0, 10.0, 500.0), (11.0, 11.0, 516.0)))
    _, first, points = drawing.live()
    assert points == 6 and [p.tolist() for p in first] == [
        [[1.0, 1.0, 0.0], [2.0, 2.0, 16.0], [3.0, 3.0, 32.0], [4.0, 4.0, 48.0]],
        [[10.0, 10.0, 500.0], [11.0, 11.0, 516.0]]]
    drawing.add(1, ((12.0, 12.0, 532.0),))
    _, second, points = drawing.live()
    assert points == 7
    assert all(a is b for a, b in zip(first, second))  # what the worker has stays as it was
    assert second[2].tolist() == [[11.0, 11.0, 516.0], [12.0, 12.0, 532.0]]  # joined, no gap
    drawing.seal(1)
    drawing.add(2, ((20.0, 20.0, 900.0),))
    _, third, _ = drawing.live()
    assert len(third) == 4 and third[3].tolist() == [[20.0, 20.0, 900.0]]
    assert len(drawing.live()[1]) == 4  # nothing new: no new piece
    assert isinstance(third[0], np.ndarray)
