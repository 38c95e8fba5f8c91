"""The class round in the pure engine: a stage the teacher starts on every tablet at once."""
from __future__ import annotations

import pytest

from game import engine
from game.commands import EndClassRound, GameFinished, GuessResult, Skip, StageEnded, StartClassRound, Tick
from game.errors import ProtocolViolation
from game.records import StageOutcome
from game.rules import GameRules
from game.state import GameState, Phase, TopicPlan
from tests.game.test_engine import CATEGORY, RULES, chunk, start

ROUND_TOPIC = TopicPlan("frog", "frog-ko", "frog", 30.0)


def round_start(round_id: str = "r-1", deadline_ms: int = 50_000, topic: TopicPlan = ROUND_TOPIC):
    return StartClassRound(round_id, topic, deadline_ms)


def test_a_round_ends_the_stage_being_drawn_and_starts_at_the_given_deadline():
    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 0), (2, 2, 10)], end=True), now_ms=1000, rules=RULES)
    own_stages = [t.label for t in state.plan]
    t = engine.handle(state, round_start(deadline_ms=45_000), now_ms=5000, rules=RULES)
    assert [e.type for e in t.events] == ["stage_result", "stage_start"]
    result, begun = t.events[0].data, t.events[1].data
    # the interrupted stage ends as a time-out (its drawing kept), the round starts at once
    assert result["stage"] == 0 and result["outcome"] == "timeout"
    assert result["next_stage_at_ms"] == 5000
    assert StageEnded(0, StageOutcome.TIMEOUT) in t.effects
    assert begun["stage"] == 1 and begun["topic"]["label"] == "frog" and begun["round"] is True
    assert begun["deadline_ms"] == 45_000 and begun["started_at_ms"] == 5000
    assert begun["stage_count"] == 6, "the round is inserted: the game's own stages follow it"
    assert [t.label for t in state.plan] == [own_stages[0], "frog", *own_stages[1:]]
    assert state.phase == Phase.DRAWING and state.round_id == "r-1"
    assert state.stages[0].round_id is None and state.stages[0].stroke_count == 1


def test_a_round_in_an_intermission_starts_at_once_before_the_next_own_stage():
    state = start()
    engine.handle(state, Skip(0), now_ms=1000, rules=RULES)
    assert state.phase == Phase.INTERMISSION
    next_own = state.plan[1].label
    t = engine.handle(state, round_start(), now_ms=1200, rules=RULES)
    assert [e.type for e in t.events] == ["stage_start"]
    assert state.stage == 1 and state.topic.label == "frog" and state.deadline_ms == 50_000
    assert state.plan[2].label == next_own


def test_the_round_times_out_at_its_deadline_then_the_own_game_goes_on():
    state = start()
    engine.handle(state, round_start(deadline_ms=50_000), now_ms=1000, rules=RULES)
    assert state.next_deadline_ms() == 50_000
    assert not engine.handle(state, Tick(), now_ms=49_999, rules=RULES).changed
    t = engine.handle(state, Tick(), now_ms=50_000, rules=RULES)
    assert [e.type for e in t.events] == ["stage_result"]
    assert t.events[0].data["outcome"] == "timeout"
    assert state.stages[1].round_id == "r-1" and state.round_id == "r-1"
    t = engine.handle(state, Tick(), now_ms=50_000 + RULES.intermission_ms, rules=RULES)
    begun = t.events[0].data
    assert begun["stage"] == 2 and "round" not in begun, "an own stage is no round stage"
    assert state.round_id is None


def test_ending_the_round_early_ends_its_stage_as_a_time_out():
    state = start()
    engine.handle(state, round_start(), now_ms=1000, rules=RULES)
    engine.handle(state, chunk(1, 0, [(5, 5, 0), (6, 6, 10)], end=True), now_ms=2000, rules=RULES)
    t = engine.handle(state, EndClassRound("r-1"), now_ms=3000, rules=RULES)
    assert [e.type for e in t.events] == ["stage_result"]
    assert t.events[0].data["outcome"] == "timeout" and t.events[0].data["time_ms"] == 2000
    assert state.stages[1].round_id == "r-1" and state.stages[1].stroke_count == 1
    assert state.phase == Phase.INTERMISSION and state.deadline_ms == 3000 + RULES.intermission_ms


def test_ending_a_round_that_is_not_drawn_here_changes_nothing():
    state = start()
    engine.handle(state, round_start(), now_ms=1000, rules=RULES)
    # recognised before the teacher ended the round: the result stands
    rules = GameRules(intermission_ms=1000)
    engine.handle(state, GuessResult(1, 5, (("frog", 0.9),)), now_ms=2000, rules=rules)
    assert state.stages[1].outcome == StageOutcome.RECOGNIZED
    before = state.to_dict()
    for command in (EndClassRound("r-1"), EndClassRound("r-other")):
        t = engine.handle(state, command, now_ms=2500, rules=rules)
        assert not t.changed and t.events == [] and state.to_dict() == before


def test_the_same_round_applied_twice_is_applied_once():
    state = start()
    engine.handle(state, round_start(), now_ms=1000, rules=RULES)
    before = state.to_dict()
    t = engine.handle(state, round_start(), now_ms=1100, rules=RULES)
    assert not t.changed and state.to_dict() == before
    engine.handle(state, EndClassRound("r-1"), now_ms=2000, rules=RULES)
    t = engine.handle(state, round_start(), now_ms=2100, rules=RULES)
    assert not t.changed, "a round already drawn is not drawn again"


def test_a_new_round_replaces_a_running_one():
    state = start()
    engine.handle(state, round_start("r-1"), now_ms=1000, rules=RULES)
    cow = TopicPlan("cow", "cow-ko", "cow", 20.0)
    t = engine.handle(state, round_start("r-2", 60_000, cow), now_ms=2000, rules=RULES)
    assert [e.type for e in t.events] == ["stage_result", "stage_start"]
    assert state.stages[1].round_id == "r-1" and state.round_id == "r-2"
    assert state.topic.label == "cow" and state.deadline_ms == 60_000


def test_a_round_as_the_last_stage_finishes_the_game_when_it_ends():
    state = start()
    for stage in range(state.stage_count - 1):
        engine.handle(state, Skip(stage), now_ms=stage * 10_000, rules=RULES)
        engine.handle(state, Tick(), now_ms=stage * 10_000 + RULES.intermission_ms, rules=RULES)
    last = state.stage
    engine.handle(state, round_start(deadline_ms=90_000), now_ms=60_000, rules=RULES)
    assert state.stage == last + 1 and state.stage_count == last + 2
    t = engine.handle(state, EndClassRound("r-1"), now_ms=61_000, rules=RULES)
    assert [e.type for e in t.events] == ["stage_result", "game_over"]
    assert GameFinished() in t.effects and state.phase == Phase.FINISHED


@pytest.mark.parametrize(("setup", "command", "code"), [
    ("finished", round_start(), "game_over"),
    ("drawing", round_start(topic=TopicPlan("planet", "p", "p", 30.0)), "unknown_topic"),
    ("drawing", round_start(deadline_ms=500), "round_over"),
])
def test_a_round_a_game_cannot_take_is_refused_and_changes_nothing(setup, command, code):
    state = start()
    if setup == "finished":
        engine.handle(state, Tick(), now_ms=RULES.resume_grace_ms, rules=RULES)  # no-op
        state.phase = Phase.FINISHED
    before = state.to_dict()
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, command, now_ms=1000, rules=RULES)
    assert info.value.code == code and state.to_dict() == before


def test_a_game_takes_rounds_up_to_its_stage_limit():
    state = start()
    for i in range(engine.MAX_STAGES - state.stage_count):
        engine.handle(state, round_start(f"r-{i}", 10**9), now_ms=1000 + i, rules=RULES)
    with pytest.raises(ProtocolViolation) as info:
        engine.handle(state, round_start("r-last", 10**9), now_ms=5000, rules=RULES)
    assert info.value.code == "too_many_stages" and state.stage_count == engine.MAX_STAGES


def test_a_round_stage_survives_the_state_round_trip():
    state = start()
    engine.handle(state, round_start(), now_ms=1000, rules=RULES)
    engine.handle(state, EndClassRound("r-1"), now_ms=2000, rules=RULES)
    again = GameState.from_dict(state.to_dict())
    assert again.to_dict() == state.to_dict() and again.stages[1].round_id == "r-1"
    assert state.clone().to_dict() == state.to_dict()
    # a state stored before rounds existed still loads
    old = state.to_dict()
    old.pop("round_id")
    for s in old["stages"]:
        s.pop("round_id")
    assert GameState.from_dict(old).stages[1].round_id is None
    assert CATEGORY.code == state.category


def test_a_game_started_during_a_round_begins_with_it():
    state, t = engine.new_game(game_id="g-2", player_id="player-2", category=CATEGORY,
                               rules=RULES, now_ms=1000, canvas_width=800, canvas_height=600,
                               class_round=round_start(deadline_ms=30_000))
    begun = t.events[0].data
    assert begun["stage"] == 0 and begun["round"] is True and begun["deadline_ms"] == 30_000
    assert state.plan[0] == ROUND_TOPIC and state.stage_count == 6 and state.round_id == "r-1"
    # applying the same round later (the fan-out raced the start) changes nothing
    assert not engine.handle(state, round_start(deadline_ms=30_000), now_ms=1100, rules=RULES).changed


@pytest.mark.parametrize("command", [round_start(deadline_ms=900),
                                     round_start(topic=TopicPlan("planet", "p", "p", 30.0))])
def test_a_game_that_cannot_take_the_round_plays_its_own_stages(command):
    state, t = engine.new_game(game_id="g-3", player_id="player-3", category=CATEGORY,
                               rules=RULES, now_ms=1000, canvas_width=800, canvas_height=600,
                               class_round=command)
    assert "round" not in t.events[0].data and state.stage_count == 5 and state.round_id is None


def test_end_game_ends_a_drawn_stage_as_a_timeout_and_the_game_completed():
    from game.commands import EndGame
    from game.records import GameOutcome

    state = start()
    engine.handle(state, chunk(0, 0, [(1, 1, 0), (2, 2, 10)], end=True), now_ms=1000, rules=RULES)
    assert state.stage_count > 1
    t = engine.handle(state, EndGame(), now_ms=2_000, rules=RULES)
    assert state.phase == Phase.FINISHED and state.outcome == GameOutcome.COMPLETED
    assert [s.outcome for s in state.stages] == [StageOutcome.TIMEOUT]
    assert state.stages[0].stroke_count == 1, "the drawing is kept"
    assert [e.type for e in t.events] == ["stage_result", "game_over"]
    assert engine.handle(state, EndGame(), now_ms=3_000, rules=RULES).changed is False


def test_end_game_in_an_intermission_completes_it_with_the_stages_played():
    from game.commands import EndGame

    state = start()
    engine.handle(state, Skip(0), now_ms=1000, rules=RULES)
    assert state.phase == Phase.INTERMISSION
    t = engine.handle(state, EndGame(), now_ms=1500, rules=RULES)
    assert [e.type for e in t.events] == ["game_over"] and state.phase == Phase.FINISHED
    assert [s.outcome for s in state.stages] == [StageOutcome.SKIPPED]
