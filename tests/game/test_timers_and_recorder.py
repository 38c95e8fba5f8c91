"""Server-side timers and the recorder, driven by a fake clock (no sleeping)."""
from __future__ import annotations

import asyncio

import pytest

from game.commands import StrokeChunk
from game.recorder import Recorder
from game.records import FinishedGame, GameOutcome, StageOutcome
from game.rules import GameRules
from game.service import GameService
from game.store import open_store
from game.timers import TimerLoop
from game.topics import Category, Topic

RULES = GameRules(intermission_ms=1000, default_stage_count=3)
CATEGORY = Category("animals", "동물", "Animals", tuple(Topic(x, x, x) for x in ["cat", "dog", "pig", "ant"]))


class Topics:
    async def categories(self):
        return [CATEGORY]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


class ListSink:
    def __init__(self, fail_times: int = 0) -> None:
        self.games: list[FinishedGame] = []
        self.fail_times = fail_times

    async def record(self, game: FinishedGame) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("database away")
        self.games.append(game)


async def start_game(service: GameService, player: str = "player-1") -> str:
    game_id, token = service.new_ids()
    await service.start(game_id=game_id, resume_token=token, player_id=player,
                        category=await service.category("animals"), canvas_width=100, canvas_height=100)
    return game_id


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_timers_run_a_silent_game_to_its_end(backend, clean_redis_db):
    clock = Clock()
    store = open_store(clean_redis_db if backend == "redis" else None)
    service = GameService(store, Topics(), RULES, clock_ms=clock)
    fired = []
    timers = TimerLoop(service, on_fired=lambda gid, s, t, late: fired.append((gid, late)))
    try:
        game_id = await start_game(service)
        assert await timers.run_once() == 0
        for _ in range(3):
            clock.now = await store.next_deadline_ms()  # stage times out
            assert await timers.run_once() == 1
            nxt = await store.next_deadline_ms()
            if nxt is None:
                break
            clock.now = nxt  # intermission ends
            assert await timers.run_once() == 1
        state = await store.load(game_id)
        assert state.outcome == GameOutcome.COMPLETED
        assert [s.outcome for s in state.stages] == [StageOutcome.TIMEOUT] * 3
        assert all(late == 0 for _, late in fired)
    finally:
        await store.aclose()


async def test_two_processes_fire_every_deadline_exactly_once(clean_redis_db):
    clock = Clock()
    stores = [open_store(clean_redis_db), open_store(clean_redis_db)]
    services = [GameService(s, Topics(), RULES, clock_ms=clock) for s in stores]
    fired: list[tuple[str, int]] = []
    loops = [
        TimerLoop(s, on_fired=lambda gid, st, t, late: fired.append((gid, st.version)))
        for s in services
    ]
    try:
        games = [await start_game(services[i % 2], f"player-{i:04d}") for i in range(20)]
        ticks = 0
        while (deadline := await stores[0].next_deadline_ms()) is not None:
            clock.now = deadline
            counts = await asyncio.gather(*(loop.run_once() for loop in loops))
            ticks += sum(counts)
        # 3 stages: 3 timeouts + 2 intermissions per game, each fired by exactly one process
        assert ticks == 20 * 5
        assert len(fired) == len(set(fired)) == 100
        for game_id in games:
            state = await stores[1].load(game_id)
            assert state.outcome == GameOutcome.COMPLETED and len(state.stages) == 3
    finally:
        for s in stores:
            await s.aclose()


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_recorder_keeps_retrying_until_the_sink_takes_the_game(backend, clean_redis_db):
    clock = Clock()
    store = open_store(clean_redis_db if backend == "redis" else None)
    service = GameService(store, Topics(), RULES, clock_ms=clock)
    sink = ListSink(fail_times=2)
    recorder = Recorder(service, sink)
    try:
        game_id = await start_game(service)
        await service.command(game_id, StrokeChunk(0, 0, 0, ((1, 2, 0), (3, 4, 16)), True))
        timers = TimerLoop(service)
        while (deadline := await store.next_deadline_ms()) is not None:
            clock.now = deadline
            await timers.run_once()
        assert await recorder.run_once() == 0  # sink down
        assert await recorder.run_once() == 0  # still down
        assert await recorder.run_once() == 1
        assert await recorder.run_once() == 0  # nothing twice
        [game] = sink.games
        assert game.game_id == game_id and game.player_id == "player-1"
        assert game.stages[0].strokes == (((1, 2, 0), (3, 4, 16)),)
        assert [s.outcome for s in game.stages] == [StageOutcome.TIMEOUT] * 3
    finally:
        await store.aclose()


async def test_wake_for_wakes_the_loop_only_for_a_deadline_before_its_next_look():
    clock = Clock()
    store = open_store(None)
    service = GameService(store, Topics(), RULES, clock_ms=clock)
    looked = asyncio.Queue()
    original = store.next_deadline_ms

    async def next_deadline_ms():
        looked.put_nowait(clock.now)
        return await original()

    store.next_deadline_ms = next_deadline_ms
    timers = TimerLoop(service, poll_ms=60_000)
    task = asyncio.create_task(timers.run())
    try:
        await asyncio.wait_for(looked.get(), 5)
        await asyncio.sleep(0)  # let the loop start waiting
        timers.wake_for(None)
        timers.wake_for(clock.now + 120_000)  # after the next look (in 60 s): found by it
        assert not timers._wake.is_set()
        timers.wake_for(clock.now + 5_000)  # before it: look again now
        assert timers._wake.is_set()
        await asyncio.wait_for(looked.get(), 5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.aclose()


async def test_a_stroke_acknowledged_with_no_point_is_in_the_record():
    # One empty `end` chunk opens and ends a stroke (acknowledged, 0 points) but appends nothing
    # to the store; as the stage's last stroke it was missing from the recorded drawing.
    clock = Clock()
    store = open_store(None)
    service = GameService(store, Topics(), RULES, clock_ms=clock)
    game_id = await start_game(service)
    await service.command(game_id, StrokeChunk(0, 0, 0, ((1, 2, 0), (3, 4, 16)), True))
    _, transition = await service.command(game_id, StrokeChunk(0, 1, 0, (), True))
    assert [e.data["points"] for e in transition.events if e.type == "ack"] == [0]
    timers = TimerLoop(service)
    while (deadline := await store.next_deadline_ms()) is not None:  # the stages time out
        clock.now = deadline
        await timers.run_once()
    record = await service.finished_record(game_id)
    assert record.stages[0].strokes == (((1, 2, 0), (3, 4, 16)), ())
    await store.aclose()
