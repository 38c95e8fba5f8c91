"""Teacher tokens, classes, seats and the roster channel in real Redis (what every process sees)."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from server.classroom import ClassFull, Classroom, Classrooms
from server.roster import RosterHub
from server.teachers import TeacherTokens


async def test_a_token_issued_by_one_process_is_known_to_another(redis_client):
    teacher, token = await TeacherTokens(redis_client).issue(label="room 1")
    other = TeacherTokens(redis_client)  # another process: the same Redis, nothing in memory
    assert await other.verify(token) == teacher
    assert await other.verify(token + "x") is None and await other.verify(None) is None
    keys = [k.decode() for k in await redis_client.keys("*")]
    assert not any(token in k for k in keys), "only the token's hash is kept"
    assert await other.revoke(token) and await TeacherTokens(redis_client).verify(token) is None


async def test_classes_and_seats_are_shared_and_scoped(redis_client):
    rooms, other = Classrooms(redis_client), Classrooms(redis_client)
    room = Classroom("ABC234", "t-1", "해바라기반", "animals", "3-4", 1000, 10**10)
    await rooms.add(room)
    assert await other.owned("ABC234", "t-1") == room
    assert await other.owned("ABC234", "t-2") is None
    assert await other.of_teacher("t-2") == []
    seats = [await (rooms if i % 2 else other).seat("ABC234", f"p{i}", max_tablets=3, ttl_s=60)
             for i in range(3)]
    assert seats == [1, 2, 3]
    with pytest.raises(ClassFull):
        await other.seat("ABC234", "p9", max_tablets=3, ttl_s=60)
    assert await rooms.seat("ABC234", "p0", max_tablets=3, ttl_s=60) == 1
    await rooms.note_game("ABC234", "p0", "g0")
    assert await other.games("ABC234") == {"p0": "g0"}
    await other.remove(room)
    assert await rooms.get("ABC234") is None and await rooms.seats("ABC234") == {}


async def test_the_roster_channel_reaches_a_subscriber_of_another_process(redis_client, clean_redis_db):
    second = aioredis.Redis.from_url(clean_redis_db)
    try:
        async with RosterHub(second).subscribe("ABC234") as messages:
            await RosterHub(redis_client).publish("OTHER1", {"type": "tiles", "tiles": [{"x": 0}]})
            await RosterHub(redis_client).publish("ABC234", {"type": "tiles", "tiles": [{"x": 1}]})
            first = await asyncio.wait_for(anext(messages), 10)
        assert first == {"type": "tiles", "tiles": [{"x": 1}]}, "only the class's own channel"
    finally:
        await second.aclose()


async def test_a_pace_changed_on_one_process_is_read_on_another_and_keeps_the_expiry(redis_client):
    import dataclasses
    import time

    rooms, other = Classrooms(redis_client), Classrooms(redis_client)
    room = Classroom("PAC234", "t-1", "해바라기반", "animals", "3-4", 1000, int(time.time()) + 600)
    await rooms.add(room)
    ttl = await redis_client.ttl("dq:classroom:meta:PAC234")
    await rooms.update(dataclasses.replace(room, time_limit_s=75.0, stage_count=2))
    seen = await other.get("PAC234")
    assert seen is not None and (seen.time_limit_s, seen.stage_count) == (75.0, 2)
    assert 0 < await redis_client.ttl("dq:classroom:meta:PAC234") <= ttl
    await rooms.remove(room)  # a closed class is not brought back by a late change
    await other.update(dataclasses.replace(room, stage_count=3))
    assert await other.get("PAC234") is None


async def test_erasing_a_player_takes_its_id_out_of_every_class_but_keeps_the_numbers(redis_client):
    rooms, other = Classrooms(redis_client), Classrooms(redis_client)
    for code in ("ERA234", "ERB234"):
        await rooms.add(Classroom(code, "t-1", "반", "animals", None, 1000, 10**10))
        for p in ("kid-a", "kid-b"):
            await rooms.seat(code, p, max_tablets=5, ttl_s=60)
            await rooms.note_game(code, p, f"g-{code}-{p}")
    assert await other.forget_player("kid-a") == 2
    for code in ("ERA234", "ERB234"):
        seats = await rooms.seats(code)
        assert "kid-a" not in seats and sorted(seats.values()) == [1, 2]
        assert await rooms.games(code) == {"kid-b": f"g-{code}-kid-b"}
        assert await rooms.seat(code, "kid-c", max_tablets=5, ttl_s=60) == 3
    for key in await redis_client.keys("dq:classroom:*"):
        if await redis_client.type(key) == b"hash":
            assert b"kid-a" not in b"".join(await redis_client.hkeys(key)), key
    assert await other.forget_player("kid-a") == 0
