"""`GameState.clone`: the in-process store's cheap copy must be a true deep copy."""
from __future__ import annotations

import copy
import dataclasses

import pytest

from game.records import GameOutcome, StageOutcome
from game.state import GameState, Phase, StageSummary, TopicPlan


def busy_state() -> GameState:
    """A state with every field away from its default, so a forgotten field shows."""
    return GameState(
        game_id="g-1", player_id="player-1", category="animals", category_name_ko="동물",
        category_name_en="Animals",
        plan=[TopicPlan("cat", "고양이", "cat", 40.0), TopicPlan("dog", "개", "dog", 30.0)],
        labels=["cat", "dog", "pig"], started_at_ms=1000, canvas_width=800, canvas_height=600,
        age_band="5-6", class_code="K7P2QX", version=7, phase=Phase.INTERMISSION, stage=1,
        stage_started_at_ms=5000, deadline_ms=9000, round_id="r-1", stroke_points=[3, 5],
        stroke_ended=[True, False],
        last_guess_points=8, last_guesses=[("cat", 0.7), ("dog", 0.2)],
        stages=[StageSummary(StageOutcome.TIMEOUT, 1000, 4000, None, (("pig", 0.4),), 2, "r-0")],
        late_stage=0, late_stroke_points=[4, 2], late_stroke_ended=[True, False],
        late_until_ms=14_000, record_at_ms=15_000,
        connected=False, presence="socket-1", abandon_at_ms=12_000, ended_at_ms=13_000, outcome=GameOutcome.COMPLETED,
    )


def test_every_field_is_set_away_from_its_default_in_the_fixture() -> None:
    state = busy_state()
    for f in dataclasses.fields(GameState):
        if f.default is not dataclasses.MISSING:
            assert getattr(state, f.name) != f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(state, f.name) != f.default_factory(), f.name


def test_clone_equals_deepcopy() -> None:
    state = busy_state()
    assert state.clone() == copy.deepcopy(state)
    assert state.clone().to_dict() == state.to_dict()


def test_clone_shares_nothing_mutable() -> None:
    state = busy_state()
    twin = state.clone()
    twin.plan.append(TopicPlan("cow", "소", "cow", 20.0))
    twin.labels.append("cow")
    twin.stroke_points.append(1)
    twin.stroke_ended[0] = False
    twin.last_guesses.clear()
    twin.stages.append(twin.stages[0])
    assert state == busy_state()


def test_what_clones_share_cannot_change() -> None:
    state = busy_state()
    twin = state.clone()
    assert twin.plan[0] is state.plan[0] and twin.stages[0] is state.stages[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        twin.plan[0].label = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        twin.stages[0].stroke_count = 9  # type: ignore[misc]
    assert isinstance(twin.stages[0].final_guesses, tuple)


async def test_a_state_returned_by_the_memory_store_never_changes_afterwards() -> None:
    from game.commands import Transition
    from game.store.memory import MemoryStore

    store = MemoryStore()
    await store.create(busy_state(), Transition(), resume_token="token-1")

    def bump(state: GameState) -> Transition:
        state.version += 1
        state.stroke_points.append(9)
        return Transition(changed=True)

    first, _ = await store.apply("g-1", bump)
    snapshot = copy.deepcopy(first)
    second, _ = await store.apply("g-1", bump)
    assert first == snapshot and second.version == first.version + 1
    assert second.stroke_points == first.stroke_points + [9]
    assert await store.load("g-1") == second


def test_to_dict_equals_asdict_and_round_trips() -> None:
    state = busy_state()
    assert state.to_dict() == dataclasses.asdict(state)
    assert list(state.to_dict()) == [f.name for f in dataclasses.fields(GameState)]
    assert GameState.from_dict(state.to_dict()) == state


def test_kept_bytes_are_equal_and_no_larger_than_needed() -> None:
    import sys
    import tracemalloc

    import orjson

    from game.store._codec import kept

    raw = orjson.dumps([3, [[312.5, 208.0, 5120.0]]])
    copy_ = kept(raw)
    assert copy_ == raw and isinstance(copy_, bytes)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        many = [kept(orjson.dumps([3, [[312.5, 208.0, 5120.0]]])) for _ in range(1000)]
        per_item = (tracemalloc.get_traced_memory()[0] - before) / len(many)
    finally:
        tracemalloc.stop()
    assert per_item < 2 * sys.getsizeof(copy_) + 64
