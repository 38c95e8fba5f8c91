"""The engine as a pure state machine: no socket, no clock, no store."""
from __future__ import annotations

import math

import pytest

from game import engine
from game.commands import (
    AppendGuess,
    AppendPoints,
    Connected,
    Disconnected,
    GameFinished,
    GuessResult,
    RequestGuess,
    Skip,
    StrokeChunk,
    Tick,
)
from game.errors import ProtocolViolation
from game.records import GameOutcome, StageOutcome
from game.rules import GameRules, RecognitionRule
from game.state import GameState, Phase
from game.topics import Category, Topic

RULES = GameRules(intermission_ms=1000, resume_grace_ms=5000)
LABELS = ["cat", "dog", "pig", "cow", "bird", "fish", "frog"]
CATEGORY = Category(
    code="animals",
    name_ko="동물",
    name_en="Animals",
    topics=tuple(Topic(label, f"{label}-ko", label) for label in LABELS),
)


def start(now_ms: int = 0, category: Category = CATEGORY) -> GameState:
    state, transition = engine.new_game(
        game_id="g-1", player_id="player-1", category=category, rules=RULES,
        now_ms=now_ms, canvas_width=800, canvas_height=600,
    )
    assert [e.type for e in transition.events] == ["stage_start"]
    return state


def chunk(stage: int, stroke: int, points: list, *, start: int = 0, end: bool = False):
    return StrokeChunk(stage, stroke, start, tuple(tuple(p) for p in points), end)


def test_new_game_plans_distinct_topics_with_default_limits():
    state = start()
    labels = [t.label for t in state.plan]
    assert len(labels) == 5 and len(set(labels)) == 5
    assert set(labels) <= set(LABELS)
    assert state.deadline_ms == 40_000
    assert state.labels == LABELS


def test_topic_plan_is_deterministic_per_game_and_capped_by_topic_count():
    small = Category("c", "c", "c", tuple(Topic(label, label, label) for label in ["a", "b"]), stage_count=9)
    assert len(engine.plan_topics(small, rules=RULES, seed="x")) == 2
    assert engine.plan_topics(CATEGORY, rules=RULES, seed="x") == engine.plan_topics(
        CATEGORY, rules=RULES, seed="x"
    )


def test_category_time_limit_and_stage_count_flow_into_the_game():
    category = Category("c", "c", "c", (Topic("a", "a", "a", 12.5), Topic("b", "b", "b")), stage_count=2)
    state = start(category=category)
    assert state.stage_count == 2
    assert {t.time_limit_s for t in state.plan} == {12.5, 40.0}


def test_stroke_chunks_append_and_ack_when_the_stroke_ends():
    state = start()
    t = engine.handle(state, chunk(0, 0, [(1, 2, 0), (3, 4, 10)]), now_ms=5, rules=RULES)
    assert t.effects[0] == AppendPoints(0, 0, ((1, 2, 0), (3, 4, 10)))
    assert RequestGuess(0, stroke_ended=False) in t.effects
    t = engine.handle(state, chunk(0, 0, [(5, 6, 20)], start=2, end=True), now_ms=6, rules=RULES)
    assert state.stroke_points == [3] and state.stroke_ended == [True]
    assert [e.type for e in t.events] == ["ack"]
    assert t.events[0].data == {"stage": 0, "stroke": 0, "points": 3}


def test_a_resent_chunk_keeps_only_new_points():
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 0), (2, 2, 1)]), now_ms=1, rules=RULES)
    t = engine.handle(state, chunk(0, 0, [(1, 1, 0), (2, 2, 1), (3, 3, 2)], end=True), now_ms=2, rules=RULES)
    assert t.effects[0] == AppendPoints(0, 0, ((3, 3, 2),))
    # the same whole stroke once more, after a reconnect: nothing changes
    version = state.version
    t = engine.handle(state, chunk(0, 0, [(1, 1, 0), (2, 2, 1), (3, 3, 2)], end=True), now_ms=3, rules=RULES)
    assert not t.changed and state.version == version and state.stroke_points == [3]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (chunk(1, 0, [(1, 1, 0)]), "wrong_stage"),
        (chunk(0, 1, [(1, 1, 0)]), "stroke_out_of_order"),
        (chunk(0, 0, [(1, 1, 0)], start=3), "points_missing"),
        (chunk(0, 0, [(5000, 1, 0)]), "out_of_range"),
        (chunk(0, 0, [(1, -500, 0)]), "out_of_range"),
        (chunk(0, 0, [(math.nan, 1, 0)]), "out_of_range"),
        (chunk(0, 0, [(1, 1, -1)]), "out_of_range"),
        (chunk(0, 0, [(1, 1, 3_000_000_000)]), "out_of_range"),  # beyond the database INT
        (chunk(0, 0, [(1, 1, i) for i in range(4001)]), "too_many_points"),
        (Skip(3), "wrong_stage"),
    ],
)
def test_bad_commands_are_refused_and_leave_the_state_unchanged(command, code):
    state = start()
    before = state.to_dict()
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, command, now_ms=1, rules=RULES)
    assert info.value.code == code
    assert state.to_dict() == before


def test_points_of_an_ended_stroke_are_refused():
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 0)], end=True), now_ms=1, rules=RULES)
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, chunk(0, 0, [(1, 1, 0), (2, 2, 5)]), now_ms=2, rules=RULES)
    assert info.value.code == "stroke_ended"


def test_recognised_guess_ends_the_stage_and_the_intermission_starts_the_next():
    state = start()
    target = state.topic.label
    other = next(label for label in LABELS if label != target)
    engine.handle(state, chunk(0, 0, [(1, 1, 0), (9, 9, 5)], end=True), now_ms=100, rules=RULES)
    t = engine.handle(state, GuessResult(0, 2, ((other, 0.6), (target, 0.3))), now_ms=200, rules=RULES)
    assert [e.type for e in t.events] == ["guess"] and state.phase == Phase.DRAWING
    assert isinstance(t.effects[0], AppendGuess) and t.effects[0].t_ms == 200
    t = engine.handle(state, GuessResult(0, 2, ((target, 0.9),)), now_ms=300, rules=RULES)
    assert not t.changed, "a guess about a drawing already guessed is stale"
    engine.handle(state, chunk(0, 1, [(3, 3, 0)], end=True), now_ms=350, rules=RULES)
    t = engine.handle(state, GuessResult(0, 3, ((target, 0.9),)), now_ms=400, rules=RULES)
    assert [e.type for e in t.events] == ["guess", "stage_result"]
    result = t.events[1].data
    assert result["outcome"] == "recognized" and result["time_ms"] == 400
    assert result["next_stage_at_ms"] == 1400
    assert state.phase == Phase.INTERMISSION and state.next_deadline_ms() == 1400
    assert not engine.handle(state, Tick(), now_ms=1399, rules=RULES).changed
    t = engine.handle(state, Tick(), now_ms=1400, rules=RULES)
    assert [e.type for e in t.events] == ["stage_start"] and state.stage == 1
    assert state.stroke_points == [] and state.stages[0].time_to_recognize_ms == 400


def test_recognition_rule_is_a_setting():
    strict = GameRules(recognition=RecognitionRule(top_k=1, min_probability=0.95))
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 0)], end=True), now_ms=1, rules=strict)
    engine.handle(state, GuessResult(0, 1, ((state.topic.label, 0.9),)), now_ms=2, rules=strict)
    assert state.phase == Phase.DRAWING
    assert RecognitionRule(top_k=2, min_probability=0.2).accepts("b", [("a", 0.5), ("b", 0.3)])
    assert not RecognitionRule(top_k=1, min_probability=0.2).accepts("b", [("a", 0.5), ("b", 0.3)])


def test_deadline_times_the_stage_out_even_when_the_tablet_is_silent():
    state = start()
    t = engine.handle(state, Tick(), now_ms=40_000, rules=RULES)
    assert t.events[0].data["outcome"] == "timeout"
    again = engine.handle(state, Tick(), now_ms=40_000, rules=RULES)
    assert not again.changed, "a deadline fires once"


def test_a_whole_game_of_skips_and_timeouts_finishes_once():
    state = start()
    now = 0
    finished = 0
    for stage in range(5):
        if stage % 2:
            t = engine.handle(state, Skip(stage), now_ms=now + 10, rules=RULES)
        else:
            t = engine.handle(state, Tick(), now_ms=state.deadline_ms, rules=RULES)
        finished += sum(isinstance(e, GameFinished) for e in t.effects)
        if state.phase == Phase.INTERMISSION:
            now = state.deadline_ms
            engine.handle(state, Tick(), now_ms=now, rules=RULES)
    assert state.phase == Phase.FINISHED and state.outcome == GameOutcome.COMPLETED
    assert finished == 1
    assert [s.outcome for s in state.stages] == [
        StageOutcome.TIMEOUT, StageOutcome.SKIPPED, StageOutcome.TIMEOUT,
        StageOutcome.SKIPPED, StageOutcome.TIMEOUT,
    ]
    over = engine.game_over_event(state).data
    assert len(over["stages"]) == 5 and over["outcome"] == "completed"
    assert state.next_deadline_ms() is None
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, Skip(4), now_ms=now, rules=RULES)
    assert info.value.code == "game_over"


def test_a_tablet_that_never_returns_abandons_the_game_after_the_grace():
    state = start()
    engine.handle(state, Disconnected(), now_ms=1000, rules=RULES)
    assert state.next_deadline_ms() == 6000
    engine.handle(state, Connected(), now_ms=2000, rules=RULES)
    assert state.abandon_at_ms is None
    engine.handle(state, Disconnected(), now_ms=3000, rules=RULES)
    t = engine.handle(state, Tick(), now_ms=8000, rules=RULES)
    assert state.outcome == GameOutcome.ABANDONED
    assert state.stages[-1].outcome == StageOutcome.ABANDONED
    assert any(isinstance(e, GameFinished) for e in t.effects)


def test_only_the_socket_holding_the_presence_starts_the_grace():
    state = start()
    engine.handle(state, Connected("socket-new"), now_ms=500, rules=RULES)  # resumed elsewhere
    t = engine.handle(state, Disconnected("socket-old"), now_ms=1000, rules=RULES)
    assert not t.changed and state.connected and state.abandon_at_ms is None
    engine.handle(state, Disconnected("socket-new"), now_ms=1000, rules=RULES)
    assert state.abandon_at_ms == 6000


def test_a_stroke_from_a_child_marked_gone_stops_the_grace():
    state = start()
    engine.handle(state, Disconnected(), now_ms=1000, rules=RULES)
    engine.handle(state, StrokeChunk(0, 0, 0, ((1, 1, 0),), True, "socket-2"), now_ms=1100,
                  rules=RULES)
    assert state.connected and state.abandon_at_ms is None and state.presence == "socket-2"


def test_a_resume_by_another_player_is_refused_and_changes_nothing():
    state = start()
    engine.handle(state, Disconnected(), now_ms=1000, rules=RULES)
    before = state.to_dict()
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, Connected("socket-x", "someone-else"), now_ms=1100, rules=RULES)
    assert info.value.code == "resume_failed" and state.to_dict() == before


def test_state_round_trips_through_its_dict():
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 0)], end=True), now_ms=1, rules=RULES)
    engine.handle(state, Skip(0), now_ms=2, rules=RULES)
    assert GameState.from_dict(state.to_dict()) == state
