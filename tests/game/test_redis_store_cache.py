"""The Redis store's cached compare-and-set: a stale cache never decides anything."""
from __future__ import annotations

import pytest

from game.commands import StrokeChunk, Tick
from game.errors import GameNotFound, ProtocolViolation
from game.store import open_store
from tests.game.test_store import new_game, step

pytestmark = pytest.mark.redis


def chunk(stroke: int, end: bool = True) -> StrokeChunk:
    return StrokeChunk(stage=0, stroke=stroke, start=0, points=((1.0, 2.0, float(stroke)),), end=end)


async def test_a_command_refused_on_a_stale_cached_state_is_retried_on_the_stored_one(clean_redis_db):
    a, b = open_store(clean_redis_db), open_store(clean_redis_db)
    try:
        await new_game(a)  # a caches the new game's state
        await b.apply("g1", step(chunk(0), now_ms=10))  # b draws stroke 0 behind a's back
        # On a's cached state stroke 1 would be out of order; on the stored one it is next.
        state, transition = await a.apply("g1", step(chunk(1), now_ms=20))
        assert transition.changed and state.stroke_points == [1, 1]
        assert await a.strokes("g1", 0) == [[(1.0, 2.0, 0.0)], [(1.0, 2.0, 1.0)]]
        with pytest.raises(ProtocolViolation):  # still refused when the stored state says so
            await b.apply("g1", step(chunk(5), now_ms=30))
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_stale_cached_no_op_is_checked_against_the_stored_state(clean_redis_db):
    a, b = open_store(clean_redis_db), open_store(clean_redis_db)
    try:
        state = await new_game(a)
        deadline = (await a.load("g1")).deadline_ms
        # b ends stage 0 by its timer; a's cached state still has stage 0 running
        _, fired = await b.apply("g1", step(Tick(), now_ms=deadline))
        assert fired.changed
        later, transition = await a.apply("g1", step(Tick(), now_ms=deadline + 1))
        assert later.version == (await b.load("g1")).version  # a saw b's transition
        assert not transition.changed
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_game_deleted_elsewhere_is_gone_for_a_cached_store_too(clean_redis_db):
    a, b = open_store(clean_redis_db), open_store(clean_redis_db)
    try:
        await new_game(a)
        await b.delete_game("g1")
        with pytest.raises(GameNotFound):
            await a.apply("g1", step(chunk(0), now_ms=10))
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_refused_command_leaves_the_cached_state_as_it_was(clean_redis_db):
    store = open_store(clean_redis_db)
    try:
        await new_game(store)
        await store.apply("g1", step(chunk(0), now_ms=10))
        with pytest.raises(ProtocolViolation):  # out of order: refused after the engine ran
            await store.apply("g1", step(chunk(5), now_ms=20))
        state, transition = await store.apply("g1", step(chunk(1), now_ms=30))
        assert transition.changed and state.stroke_points == [1, 1]
        assert state.version == (await store.load("g1")).version
    finally:
        await store.aclose()


async def test_a_state_handed_to_a_caller_is_not_changed_by_the_next_command(clean_redis_db):
    store = open_store(clean_redis_db)
    try:
        await new_game(store)
        first, _ = await store.apply("g1", step(chunk(0), now_ms=10))
        version, points = first.version, list(first.stroke_points)
        await store.apply("g1", step(chunk(1), now_ms=20))
        assert (first.version, first.stroke_points) == (version, points)
    finally:
        await store.aclose()
