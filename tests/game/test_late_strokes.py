"""Strokes that arrive after their stage's result (issue 18, item 6), in the pure engine.

A stroke the child began before the result (by the points' own times) and finished within the
grace belongs to the drawing, even when it reaches the server after the result; anything later
is refused, and a completed game is recorded once no more late strokes can come.
"""
from __future__ import annotations

import pytest

from game import engine
from game.commands import AppendPoints, Disconnected, GameFinished, GuessResult, RequestGuess, Tick
from game.errors import ProtocolViolation
from game.rules import GameRules
from game.state import Phase
from game.topics import Category, Topic
from tests.game.test_engine import CATEGORY, chunk

RULES = GameRules(intermission_ms=1000, resume_grace_ms=5000, late_stroke_window_ms=10_000,
                  late_stroke_grace_ms=2_000)


def start(category: Category = CATEGORY):  # type: ignore[no-untyped-def]
    state, _ = engine.new_game(game_id="g-1", player_id="player-1", category=category, rules=RULES,
                               now_ms=0, canvas_width=800, canvas_height=600)
    return state


def recognise(state, at_ms: int):  # type: ignore[no-untyped-def]
    """The stage is won at `at_ms` (server time) on the strokes it has."""
    target = state.topic.label
    guess = GuessResult(state.stage, 10**6, ((target, 0.9),))
    return engine.handle(state, guess, now_ms=at_ms, rules=RULES)


def test_a_stroke_drawn_before_the_result_but_arriving_after_it_is_kept():
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 100), (5, 5, 400)], end=True), now_ms=500, rules=RULES)
    recognise(state, at_ms=3000)
    assert state.phase == Phase.INTERMISSION
    # Stroke 1 was drawn at 1-2 s of the child's time, but reaches the server only now.
    late = engine.handle(state, chunk(0, 1, [(10, 10, 1000), (20, 20, 2000)], end=True),
                         now_ms=3500, rules=RULES)
    assert [e for e in late.effects if isinstance(e, AppendPoints)] == [
        AppendPoints(0, 1, ((10, 10, 1000), (20, 20, 2000)))]
    assert not any(isinstance(e, RequestGuess) for e in late.effects), "the result stands"
    assert [(e.type, e.data) for e in late.events] == [("ack", {"stage": 0, "stroke": 1, "points": 2})]
    assert state.stages[0].stroke_count == 2
    # Sent again (a reconnect): acknowledged again, nothing kept twice.
    again = engine.handle(state, chunk(0, 1, [(10, 10, 1000), (20, 20, 2000)], end=True),
                          now_ms=3600, rules=RULES)
    assert not any(isinstance(e, AppendPoints) for e in again.effects)
    assert [e.type for e in again.events] == ["ack"]


def test_late_strokes_are_still_taken_while_the_next_stage_runs():
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 100)], end=True), now_ms=200, rules=RULES)
    engine.handle(state, Tick(), now_ms=40_000, rules=RULES)  # time out
    engine.handle(state, Tick(), now_ms=41_000, rules=RULES)  # stage 1 starts
    assert state.phase == Phase.DRAWING and state.stage == 1
    late = engine.handle(state, chunk(0, 1, [(3, 3, 39_000), (4, 4, 39_900)], end=True),
                         now_ms=42_000, rules=RULES)
    assert any(isinstance(e, AppendPoints) and e.stage == 0 for e in late.effects)
    assert state.stroke_points == [], "the running stage's drawing is untouched"


@pytest.mark.parametrize(("points", "now_ms", "why"), [
    ([(10, 10, 3100), (20, 20, 3200)], 3500, "begun after its result"),
    ([(10, 10, 2900), (20, 20, 5100)], 3500, "after its result and grace"),
    ([(10, 10, 1000), (20, 20, 2000)], 13_001, "too late"),
])
def test_strokes_begun_after_the_result_or_arriving_too_late_are_refused(points, now_ms, why):
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 100)], end=True), now_ms=200, rules=RULES)
    recognise(state, at_ms=3000)
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, chunk(0, 1, points, end=True), now_ms=now_ms, rules=RULES)
    assert info.value.code == "wrong_stage" and why in str(info.value)
    assert state.late_stroke_points == [1], "a refused stroke leaves no trace"


def test_the_rest_of_a_refused_late_stroke_is_refused_alike():
    """The same code for every chunk of it, so a tablet counting refusals counts the stroke."""
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 100)], end=True), now_ms=200, rules=RULES)
    recognise(state, at_ms=3000)
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, chunk(0, 1, [(2, 2, 2500)], start=32, end=True), now_ms=3100, rules=RULES)
    assert info.value.code == "wrong_stage" and "not taken" in str(info.value)


def test_a_stroke_of_an_older_stage_is_refused_once_a_newer_one_has_ended():
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 100)], end=True), now_ms=200, rules=RULES)
    recognise(state, at_ms=1000)
    engine.handle(state, Tick(), now_ms=2000, rules=RULES)
    recognise(state, at_ms=3000)  # stage 1 ends with no strokes at all
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, chunk(0, 1, [(1, 1, 500)], end=True), now_ms=3100, rules=RULES)
    assert info.value.code == "wrong_stage"


def two_stage_game():  # type: ignore[no-untyped-def]
    category = Category("c", "c", "c", (Topic("cat", "고양이", "cat"), Topic("dog", "개", "dog")),
                        stage_count=2)
    state = start(category)
    recognise(state, at_ms=1000)
    engine.handle(state, Tick(), now_ms=2000, rules=RULES)
    engine.handle(state, chunk(1, 0, [(1, 1, 100)], end=True), now_ms=2200, rules=RULES)
    over = recognise(state, at_ms=3000)
    assert state.phase == Phase.FINISHED
    assert [e.type for e in over.events][-1] == "game_over"
    return state, over


def test_the_last_stage_takes_late_strokes_and_is_recorded_when_its_tablet_leaves():
    state, over = two_stage_game()
    assert not any(isinstance(e, GameFinished) for e in over.effects), "recorded too soon"
    assert state.next_deadline_ms() == 13_000, "recorded at the latest when the window closes"
    late = engine.handle(state, chunk(1, 1, [(5, 5, 800)], end=True), now_ms=3300, rules=RULES)
    assert any(isinstance(e, AppendPoints) and e.stage == 1 for e in late.effects)
    gone = engine.handle(state, Disconnected(), now_ms=3400, rules=RULES)
    assert [e for e in gone.effects if isinstance(e, GameFinished)] == [GameFinished()]
    assert state.next_deadline_ms() is None
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, chunk(1, 2, [(5, 5, 900)], end=True), now_ms=3500, rules=RULES)
    assert info.value.code == "game_over"
    assert not engine.handle(state, Tick(), now_ms=20_000, rules=RULES).effects, "recorded once"


def test_a_finished_game_whose_tablet_stays_is_recorded_when_the_window_closes():
    state, _ = two_stage_game()
    assert not engine.handle(state, Tick(), now_ms=12_999, rules=RULES).effects
    closed = engine.handle(state, Tick(), now_ms=13_000, rules=RULES)
    assert [e for e in closed.effects if isinstance(e, GameFinished)] == [GameFinished()]


def test_without_a_window_a_game_is_recorded_at_once_and_late_strokes_refused():
    rules = GameRules(intermission_ms=1000)
    state, _ = engine.new_game(game_id="g-2", player_id="p", category=CATEGORY, rules=rules,
                               now_ms=0, canvas_width=800, canvas_height=600)
    engine.handle(state, Tick(), now_ms=40_000, rules=rules)
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, chunk(0, 0, [(1, 1, 100)], end=True), now_ms=40_100, rules=rules)
    assert info.value.code == "wrong_stage"
