"""The class round and gallery on real Redis, across two "processes" (two stores, two services
on one Redis database): the round is started from one, the tablets' games play on the other."""
from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio as aioredis

from game.records import FinishedGame, GameOutcome, StageOutcome, StageRecord
from game.rules import GameRules
from game.service import GameService
from game.store.redis import RedisStore
from server.classroom import Classroom, Classrooms
from server.gallery import ClassGallery, KeepForGallery, gallery_view
from server.roster import RosterHub
from server.rounds import ClassRounds, RoundBook, RoundError
from tests.server.conftest import CATEGORY, FixedTopics, ListSink

ROOM = Classroom("ABC234", "t-1", "해바라기반", "animals", "5-6", 1000, 10**10)
OTHER = Classroom("XYZ789", "t-2", "other", "animals", None, 1000, 10**10)


@pytest.fixture
async def two_processes(clean_redis_db):
    stores = [RedisStore.from_url(clean_redis_db), RedisStore.from_url(clean_redis_db)]
    services = [GameService(s, FixedTopics(), GameRules(default_time_limit_s=600)) for s in stores]
    yield services
    for s in stores:
        await s.aclose()


async def start_game(service: GameService, room: Classroom, rooms: Classrooms, player: str) -> str:
    await rooms.seat(room.code, player, max_tablets=40, ttl_s=600)
    game_id, token = service.new_ids()
    await service.start(game_id=game_id, resume_token=token, player_id=player,
                        category=CATEGORY, canvas_width=800, canvas_height=600,
                        class_code=room.code)
    await rooms.note_game(room.code, player, game_id)  # what the roster feed does at its flush
    return game_id


async def next_of(events, kind: str) -> dict:  # type: ignore[no-untyped-def]
    while True:
        event = await asyncio.wait_for(anext(events), 10)
        if event.type == kind:
            return event.data


async def test_a_round_from_one_process_reaches_the_games_on_the_other(two_processes):
    teacher_side, tablet_side = two_processes
    client = teacher_side.store.client
    rooms = Classrooms(client)
    await rooms.add(ROOM)
    await rooms.add(OTHER)
    games = [await start_game(tablet_side, ROOM, rooms, f"player-{i:04d}") for i in range(3)]
    stranger = await start_game(tablet_side, OTHER, rooms, "player-0099")
    hub = RosterHub(client)
    rounds = ClassRounds(teacher_side, Classrooms(client), RoundBook(client), hub)
    async with contextlib.AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(tablet_side.store.subscribe(g)) for g in games]
        other = await stack.enter_async_context(tablet_side.store.subscribe(stranger))
        page = await stack.enter_async_context(RosterHub(tablet_side.store.client).subscribe(ROOM.code))

        item, tablets = await rounds.start(ROOM, label="cow", time_limit_s=30)
        assert [t["seat"] for t in tablets if t["changed"]] == [1, 2, 3]
        starts = [await next_of(events, "stage_start") for events in subs]
        assert {s["deadline_ms"] for s in starts} == {item.deadline_ms}
        assert all(s["round"] and s["topic"]["label"] == "cow" for s in starts)
        announced = await asyncio.wait_for(anext(page), 10)
        assert announced["type"] == "round" and announced["round"]["round_id"] == item.round_id
        # another process sees the round (a teacher page there, a reload)
        assert (await RoundBook(tablet_side.store.client).last(ROOM.code)) == item

        # the tablet of the other class is where it was
        state = await tablet_side.store.load(stranger)
        assert state.stage == 0 and state.round_id is None and state.stage_count == 5

        ended, tablets = await rounds.end(ROOM)
        assert ended.ended_at_ms is not None and [t["changed"] for t in tablets] == [True] * 3
        results = [await next_of(events, "stage_result") for events in subs]
        assert {(r["stage"], r["outcome"]) for r in results} == {(1, "timeout")}
        with pytest.raises(RoundError) as info:
            await rounds.end(ROOM)
        assert info.value.status == 409
        with pytest.raises(asyncio.TimeoutError):
            # nothing reached the other class's game (a generous look: it would come at once)
            await asyncio.wait_for(anext(other), 0.5)

    gallery = ClassGallery(client)
    view = await gallery_view(ROOM, rooms=rooms, gallery=gallery, store=teacher_side.store,
                              names={"cat": ("고양이", "cat")}, round_id=item.round_id)
    assert view["count"] == 3 and [g["topic"]["label"] for g in view["groups"]] == ["cow"]
    assert [d["seat"] for d in view["groups"][0]["drawings"]] == [1, 2, 3]
    assert "player-" not in repr(view) and not any(g in repr(view) for g in games)


async def test_a_finished_games_drawings_are_kept_for_the_gallery_and_erased_with_the_player(
        clean_redis_db):
    client = aioredis.Redis.from_url(clean_redis_db)
    try:
        rooms, gallery, sink = Classrooms(client), ClassGallery(client), ListSink()
        await rooms.add(ROOM)
        await rooms.seat(ROOM.code, "player-0001", max_tablets=40, ttl_s=600)
        store = RedisStore(client)
        keeper = KeepForGallery(sink, gallery, rooms, store)
        stage = StageRecord(index=0, label="cat", name_ko="고양이", name_en="cat",
                            time_limit_s=40, started_at_ms=1, ended_at_ms=2,
                            outcome=StageOutcome.RECOGNIZED, time_to_recognize_ms=1,
                            strokes=(((1.2, 2.0, 0.0), (3.0, 4.6, 16.0)),),
                            final_guesses=(("cat", 0.8),), canvas_width=800, canvas_height=600)
        game = FinishedGame("g-1", "player-0001", "animals", 1, 2, GameOutcome.COMPLETED,
                            (stage,), class_code=ROOM.code)
        await keeper.record(game)
        assert sink.games == [game], "the school's result is recorded as before"
        other_process = ClassGallery(aioredis.Redis.from_url(clean_redis_db))
        kept = await other_process.entries(ROOM.code)
        assert list(kept) == ["g-1:0"] and kept["g-1:0"]["strokes"] == [[1, 2, 3, 5]]
        view = await gallery_view(ROOM, rooms=rooms, gallery=other_process, store=store,
                                  names={"cat": ("고양이", "cat")})
        (drawing,) = view["groups"][0]["drawings"]
        assert drawing["recognized"] and drawing["guess"] == {
            "label": "cat", "name_ko": "고양이", "name_en": "cat", "p": 0.8}
        # a game outside any teacher's class is not kept
        await keeper.record(FinishedGame("g-2", "player-0002", "animals", 1, 2,
                                         GameOutcome.COMPLETED, (stage,), class_code="LOCAL"))
        assert list(await gallery.entries(ROOM.code)) == ["g-1:0"]

        assert await other_process.forget_player("player-0001") == 1
        assert await gallery.entries(ROOM.code) == {}
        keys = [k.decode() for k in await client.keys("*gallery*")]
        assert keys == [], keys
    finally:
        await client.aclose()


async def test_a_game_started_as_a_round_begins_elsewhere_catches_it(two_processes):
    """The race: the game looked for a running round just before the teacher's process saved
    one, and was listed with its class just after the fan-out read the list."""
    teacher_side, tablet_side = two_processes
    client = teacher_side.store.client
    rooms = Classrooms(client)
    await rooms.add(ROOM)
    await rooms.seat(ROOM.code, "player-0001", max_tablets=40, ttl_s=600)
    game_id, token = tablet_side.new_ids()
    await tablet_side.start(game_id=game_id, resume_token=token, player_id="player-0001",
                            category=CATEGORY, canvas_width=800, canvas_height=600,
                            class_code=ROOM.code)  # no round yet
    rounds = ClassRounds(teacher_side, rooms, RoundBook(client), RosterHub(client))
    item, tablets = await rounds.start(ROOM, label="pig", time_limit_s=20)
    assert tablets == [], "the fan-out did not see the game yet"
    async with tablet_side.store.subscribe(game_id) as events:
        here = ClassRounds(tablet_side, Classrooms(tablet_side.store.client),
                           RoundBook(tablet_side.store.client), RosterHub(client))
        await here.joined(ROOM.code, "player-0001", game_id, started_with=None)
        begun = await next_of(events, "stage_start")
    assert begun["round"] and begun["deadline_ms"] == item.deadline_ms
    assert await rooms.games(ROOM.code) == {"player-0001": game_id}
    # a game that started with the round is left alone
    before = await tablet_side.store.load(game_id)
    await here.joined(ROOM.code, "player-0001", game_id, started_with=item.round_id)
    assert (await tablet_side.store.load(game_id)).version == before.version
