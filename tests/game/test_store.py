"""The game store contract, run against both implementations (memory and real Redis)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from game import engine
from game.commands import GuessResult, Skip, StrokeChunk, Tick
from game.errors import GameNotFound, ProtocolViolation
from game.rules import GameRules
from game.state import Phase
from game.store import GameStore, open_store
from game.topics import Category, Topic

RULES = GameRules(intermission_ms=1000)
CATEGORY = Category(
    "animals", "동물", "Animals", tuple(Topic(x, x, x) for x in ["cat", "dog", "pig", "cow", "ant"])
)


@pytest.fixture(params=["memory", "redis"])
async def store(request, clean_redis_db) -> AsyncIterator[GameStore]:
    url = clean_redis_db if request.param == "redis" else "memory://"
    s = open_store(url)
    yield s
    await s.aclose()


async def new_game(store: GameStore, game_id: str = "g1", now_ms: int = 0):
    state, transition = engine.new_game(
        game_id=game_id, player_id="player-1", category=CATEGORY, rules=RULES,
        now_ms=now_ms, canvas_width=500, canvas_height=500,
    )
    await store.create(state, transition, resume_token=f"tok-{game_id}")
    return state


def step(command, now_ms: int):
    return lambda state: engine.handle(state, command, now_ms=now_ms, rules=RULES)


async def test_create_load_and_token(store):
    state = await new_game(store)
    loaded = await store.load("g1")
    assert loaded == state
    assert await store.game_for_token("tok-g1") == "g1"
    assert await store.game_for_token("nope") is None
    assert await store.load("missing") is None
    with pytest.raises(GameNotFound):
        await store.apply("missing", step(Tick(), 0))


async def test_apply_appends_strokes_and_guesses_beside_the_state(store):
    await new_game(store)
    await store.apply("g1", step(StrokeChunk(0, 0, 0, ((1, 2, 0), (3, 4, 5)), False), 10))
    await store.apply("g1", step(StrokeChunk(0, 0, 2, ((5, 6, 9),), True), 11))
    await store.apply("g1", step(StrokeChunk(0, 1, 0, ((7, 8, 20),), True), 12))
    await store.apply("g1", step(GuessResult(0, 4, (("ant", 0.1),)), 13))
    assert await store.strokes("g1", 0) == [[(1, 2, 0), (3, 4, 5), (5, 6, 9)], [(7, 8, 20)]]
    snaps = await store.guesses("g1", 0)
    assert [(s.t_ms, s.guesses) for s in snaps] == [(13, (("ant", 0.1),))]
    state = await store.load("g1")
    assert state.stroke_points == [3, 1] and state.version == 5


async def test_a_refused_command_writes_nothing(store):
    await new_game(store)
    with pytest.raises(ProtocolViolation):
        await store.apply("g1", step(StrokeChunk(3, 0, 0, ((1, 2, 0),), False), 10))
    assert (await store.load("g1")).version == 1
    assert await store.strokes("g1", 0) == []


async def test_deadline_index_follows_the_state(store):
    await new_game(store, "g1", now_ms=0)
    await new_game(store, "g2", now_ms=5000)
    assert await store.next_deadline_ms() == 40_000
    assert await store.due_games(39_999) == []
    assert await store.due_games(40_000) == ["g1"]
    assert sorted(await store.due_games(45_000)) == ["g1", "g2"]
    await store.apply("g1", step(Skip(0), 100))
    assert await store.next_deadline_ms() == 1100  # the intermission


async def test_subscribers_get_events_in_commit_order(store):
    await new_game(store)
    async with store.subscribe("g1") as events:
        await store.apply("g1", step(StrokeChunk(0, 0, 0, ((1, 1, 0),), True), 10))
        await store.apply("g1", step(Skip(0), 20))
        await store.apply("g1", step(Tick(), 1020))
        seen = [(await asyncio.wait_for(anext(events), 5)).type for _ in range(3)]
    assert seen == ["ack", "stage_result", "stage_start"]


async def test_finished_games_wait_to_be_recorded_then_expire(store):
    await new_game(store)
    now = 0
    for stage in range(5):
        await store.apply("g1", step(Skip(stage), now))
        now += 1000
        await store.apply("g1", step(Tick(), now))
    state = await store.load("g1")
    assert state.phase == Phase.FINISHED
    assert await store.games_to_record() == ["g1"]
    assert await store.next_deadline_ms() is None
    await store.mark_recorded("g1", keep_s=600)
    assert await store.games_to_record() == []
    assert (await store.load("g1")) is not None, "kept a while for a late tablet"


async def test_a_recorded_games_drawings_leave_the_store_at_once(store):
    # Once recorded, a child's strokes live in the results database only: the store keeps the
    # state (for a late tablet's game_over) but no drawing, and no server memory is spent on it.
    await new_game(store)
    await store.apply("g1", step(StrokeChunk(0, 0, 0, ((1, 2, 0), (3, 4, 5)), True), 10))
    await store.apply("g1", step(GuessResult(0, 2, (("ant", 0.1),)), 11))
    now = 20
    for stage in range(5):
        await store.apply("g1", step(Skip(stage), now))
        now += 1000
        await store.apply("g1", step(Tick(), now))
    assert await store.strokes("g1", 0), "kept until recorded"
    await store.mark_recorded("g1", keep_s=600)
    assert await store.strokes("g1", 0) == []
    assert await store.guesses("g1", 0) == []
    assert (await store.load("g1")).phase == Phase.FINISHED
    assert await store.game_for_token("tok-g1") == "g1"


async def test_two_processes_racing_for_one_deadline_fire_it_once(clean_redis_db):
    a, b = open_store(clean_redis_db), open_store(clean_redis_db)
    try:
        await new_game(a)
        results = await asyncio.gather(
            *[s.apply("g1", step(Tick(), 40_000)) for s in (a, b) for _ in range(5)]
        )
        fired = [t for _, t in results if t.changed]
        assert len(fired) == 1
        assert fired[0].events[0].data["outcome"] == "timeout"
        assert (await b.load("g1")).version == 2
    finally:
        await a.aclose()
        await b.aclose()


async def test_concurrent_transitions_are_never_lost(clean_redis_db):
    """Compare-and-set: concurrent guesses from two processes; the newest drawing wins."""
    a, b = open_store(clean_redis_db), open_store(clean_redis_db)
    try:
        await new_game(a)
        for i in range(20):
            await a.apply("g1", step(StrokeChunk(0, i, 0, ((1, 1, i),), True), 10 + i))
        await asyncio.gather(
            *[
                (a if n % 2 else b).apply("g1", step(GuessResult(0, n, (("zzz", 0.1),)), 100 + n))
                for n in range(1, 21)
            ]
        )
        state = await a.load("g1")
        assert state.last_guess_points == 20
        assert state.version == 1 + 20 + len(await a.guesses("g1", 0))
    finally:
        await a.aclose()
        await b.aclose()


async def test_deleting_a_game_leaves_no_trace(store):
    await new_game(store, "g1")
    await new_game(store, "g2")
    await store.apply("g1", step(StrokeChunk(0, 0, 0, ((1, 2, 0),), True), 10))
    await store.apply("g1", step(GuessResult(0, 1, (("ant", 0.1),)), 11))
    assert await store.games_of_player("player-1") == ["g1", "g2"]
    await store.delete_game("g1")
    assert await store.load("g1") is None
    assert await store.strokes("g1", 0) == [] and await store.guesses("g1", 0) == []
    assert await store.game_for_token("tok-g1") is None
    assert await store.due_games(10**12) == ["g2"]
    assert await store.games_of_player("player-1") == ["g2"]
    if hasattr(store, "client"):
        leftover = [k async for k in store.client.scan_iter(match="dq:*g1*")]
        assert leftover == []
