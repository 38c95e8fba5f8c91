"""Faults with real processes: a server killed mid-game, Redis crashing and coming back.

No drawing and no finished game may be lost.
"""
from __future__ import annotations

import asyncio
import sqlite3

import pytest
import websockets

from bench.tablet import Tablet
from tests.e2e.conftest import CANVAS, best_category, categories, server_env, skip_to_drawable
from tests.e2e.test_game_e2e import wait_for_rows
from tests.utils.server_process import ServerProcess
from tests.utils.throwaway_redis import ThrowawayRedis

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_kill_9_one_of_two_servers_and_the_child_goes_on_with_the_other(
        tmp_path, servers, e2e_redis_url, recognised_drawings):
    # No guesses mid-stroke, only after each finished stroke: on a busy machine the half
    # stroke's chunks took longer than GUESS_INTERVAL_MS, a mid-stroke guess of some prefix
    # recognised the drawing before the crash, and the resumed tablet met the next stage
    # (`received == []`). What a guess sees must not depend on the machine's speed here.
    # Stages of 120 s: on a starved machine the 40 s stage could run out between the crash and
    # the resume (a stage that ends meanwhile is handled below; this makes it rare).
    env = server_env(tmp_path, REDIS_URL=e2e_redis_url, GUESS_INTERVAL_MS="3600000",
                     DEFAULT_TIME_LIMIT_S="120",
                     DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/r.db")
    a = ServerProcess(env=env, log_path=tmp_path / "a.log").start()
    b = ServerProcess(env=env, log_path=tmp_path / "b.log").start()
    servers.extend([a, b])
    category = best_category(recognised_drawings)
    drawings = recognised_drawings[category]

    async def on_a() -> tuple[str, int, int, list]:
        async with Tablet(a.ws_url, player_id="child-0100", category=category, canvas=CANVAS) as tablet:
            await tablet.hello()
            message = await skip_to_drawable(tablet, await tablet.recv_until("stage_start"), drawings)
            assert message["type"] == "stage_start"
            stage = message["stage"]
            drawing = drawings[message["topic"]["label"]]
            await tablet.draw_stroke(stage, 0, drawing[0])
            await tablet.recv_until("ack")
            # the next stroke's first half is in flight when the server dies
            half = drawing[1][: max(1, len(drawing[1]) // 2)] if len(drawing) > 1 else []
            if half:
                await tablet.draw_stroke(stage, 1, half, end=False)
                await tablet.send({"type": "ping", "id": 1})
                await tablet.recv_until("pong")
            a.kill()
            with pytest.raises(websockets.ConnectionClosed):
                while True:  # a late guess may still be on its way before the close
                    await tablet.recv(timeout_s=30)
            return tablet.resume_token, stage, len(half), drawing

    token, stage, half, drawing = asyncio.run(on_a())

    async def on_b() -> dict:
        async with Tablet(b.ws_url, player_id="child-0100", category=category, canvas=CANVAS,
                          resume_token=token) as tablet:
            assert (await tablet.hello())["resumed"]
            start = await tablet.recv_until("stage_start", "stage_result", "game_over")
            if start["type"] != "stage_start" or start["stage"] != stage:
                # The stage ended before the tablet was back (on a starved machine): nothing is
                # left to draw in it; what it acknowledged is checked in the database below.
                ended_early.append(start)
                message = start
                if message["type"] == "stage_result":
                    message = await tablet.recv_until("stage_start", "game_over")
            else:
                expected = [{"points": len(drawing[0]), "ended": True}]
                if half:
                    expected.append({"points": half, "ended": False})
                assert start["received"] == expected, (
                    "every acknowledged point survived the crash", tablet.received)
                if half:  # resend the unfinished stroke whole: the server keeps only what is new
                    await tablet.draw_stroke(stage, 1, drawing[1])
                for index, stroke in enumerate(drawing[2:], start=2):
                    await tablet.draw_stroke(stage, index, stroke)
                message = await tablet.recv_until("stage_result")
                assert message["outcome"] == "recognized"
                message = await tablet.recv_until("stage_start", "game_over")
            while message["type"] == "stage_start":
                _, message = await tablet.play_stage(message, drawings.get(message["topic"]["label"]))
            # The server answers in order: by game over, each stroke of the stage had its answer.
            return message, [m for m in tablet.received if m["type"] == "ack" and m["stage"] == stage]

    ended_early: list[dict] = []
    over, acks = asyncio.run(on_b())
    assert over["type"] == "game_over"
    for s in over["stages"]:
        if s["stage"] == stage and ended_early:
            continue  # it ran out of time (or was recognised) before the tablet was back
        assert s["outcome"] == ("recognized" if s["topic"]["label"] in drawings else "skipped")
    db = tmp_path / "r.db"
    assert wait_for_rows(db, "select count(*) from games", 1) == 1
    with sqlite3.connect(db) as conn:
        kept = dict(conn.execute(
            "select s.stroke_index, s.point_count from drawing_strokes s join stages g"
            " on g.id = s.stage_id where g.stage_index = ?", (stage,)).fetchall())
    # The model may recognise the drawing before its last strokes are in (they are then refused,
    # as `wrong_stage`): what must hold is that every acknowledged stroke is kept whole, once.
    acked = [a["stroke"] for a in acks]
    assert acked == list(range(1, len(acked) + 1)), "acknowledged in order, none twice"
    assert all(a["points"] == len(drawing[a["stroke"]]) for a in acks), "whole strokes, no duplicates"
    assert kept[0] == len(drawing[0]), "the stroke acknowledged before the crash"
    if ended_early and half:
        assert kept[1] == half, "the half stroke the server held when it died"
    assert all(kept[i] == len(drawing[i]) for i in acked), "every acknowledged point, once"
    # A stroke still unfinished when the stage ended is kept as far as the server had it.
    assert all(kept[i] <= len(drawing[i]) for i in kept), "no stroke grew by duplicates"


def test_redis_crash_with_persistence_loses_no_finished_game(tmp_path, servers):
    redis_server = ThrowawayRedis(tmp_path).start()
    db = tmp_path / "results.db"
    env = server_env(tmp_path, REDIS_URL=redis_server.url, DATABASE_URL=f"sqlite+aiosqlite:///{db}",
                     DEFAULT_TIME_LIMIT_S="1", INTERMISSION_MS="100", DEFAULT_STAGE_COUNT="2")
    server = ServerProcess(env=env, log_path=tmp_path / "server.log").start()
    servers.append(server)
    category = categories()[0]["code"]

    async def silent_game(n: int, started: asyncio.Event | None = None) -> dict:
        token = None
        for _attempt in range(20):  # a child whose tablet reconnects until the game is over
            try:
                async with Tablet(server.ws_url, player_id=f"child-{n:04d}", category=category,
                                  resume_token=token) as tablet:
                    await tablet.hello()
                    token = tablet.resume_token
                    await tablet.recv_until("stage_start", "game_over", timeout_s=60)
                    if started is not None:
                        started.set()
                    return await tablet.recv_until("game_over", timeout_s=60)
            except (websockets.ConnectionClosed, OSError, TimeoutError):
                await asyncio.sleep(0.5)  # the tablet's reconnect backoff
        raise AssertionError("never finished")

    async def scenario() -> list[dict]:
        first = await asyncio.gather(*(silent_game(n) for n in range(5)))
        started = [asyncio.Event() for _ in range(5)]
        running = [asyncio.create_task(silent_game(n, e)) for n, e in zip(range(5, 10), started, strict=True)]
        for event in started:  # the second wave is mid-game when Redis crashes
            await event.wait()
        redis_server.kill()
        redis_server.start()
        return list(first) + list(await asyncio.gather(*running))

    try:
        overs = asyncio.run(asyncio.wait_for(scenario(), 180))
        assert all(o["type"] == "game_over" for o in overs)
        games = {o["game_id"] for o in overs}
        assert wait_for_rows(db, "select count(*) from games", 10, timeout_s=120) >= 10, server.log_tail()
        with sqlite3.connect(db) as conn:
            rows = [r[0] for r in conn.execute("select game_id from games")]
        assert sorted(rows) == sorted(games), "every finished game recorded exactly once"
    finally:
        redis_server.kill()


def metric(server: ServerProcess, name: str) -> float:
    """One sample of the server's /metrics, 0 when absent."""
    import httpx

    for line in httpx.get(f"{server.http_url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def poll(predicate, what: str, timeout_s: float = 60.0) -> None:
    """Another process's state cannot be awaited: poll it, bounded."""
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)


def test_a_redis_outage_is_logged_once_and_its_end_too_and_counted(tmp_path, servers):
    redis_server = ThrowawayRedis(tmp_path).start()
    server = ServerProcess(env=server_env(tmp_path, REDIS_URL=redis_server.url),
                           log_path=tmp_path / "server.log").start()
    servers.append(server)
    failures = 'dq_store_failures_total{loop="timers"}'
    try:
        redis_server.kill()
        # Many attempts of the timer loop fail while Redis is away (once, each was an ERROR
        # with a traceback, every 10 ms).
        poll(lambda: metric(server, failures) >= 10, "ten failed timer polls", timeout_s=60)
        redis_server.start()
        poll(lambda: "the store is back" in server.log_path.read_text(errors="replace"),
             "the end of the outage logged", timeout_s=60)
        # Read while Redis is still up (killing it ends the test with an outage of its own).
        lines = [line for line in server.log_path.read_text(errors="replace").splitlines()
                 if "timer loop" in line]
        outages = metric(server, 'dq_store_outages_total{loop="timers"}')
    finally:
        redis_server.kill()
    errors = [line for line in lines if '"level": "error"' in line]
    assert len(errors) == 1, errors[:3]
    assert "the store is back" in lines[-1]
    assert outages == 1


def test_a_stage_that_ended_while_redis_restarted_reaches_the_tablet(tmp_path, servers):
    # The stage's deadline passes while Redis is down; when it is back, the timer loop fires it
    # at once, usually before this process's pub/sub has reconnected: that stage_result was
    # published to no one. The connection must resynchronise from the stored state, or the
    # tablet sits on a stage that has ended (here for the whole minute of intermission).
    import time

    redis_server = ThrowawayRedis(tmp_path).start()
    env = server_env(tmp_path, REDIS_URL=redis_server.url, DEFAULT_TIME_LIMIT_S="2",
                     INTERMISSION_MS="60000", DEFAULT_STAGE_COUNT="2")
    server = ServerProcess(env=env, log_path=tmp_path / "server.log").start()
    servers.append(server)
    failures = 'dq_store_failures_total{loop="timers"}'

    async def scenario() -> dict:
        async with Tablet(server.ws_url, player_id="child-resync", category=categories()[0]["code"]
                          ) as tablet:
            await tablet.hello()
            start = await tablet.recv_until("stage_start")
            ends_at = time.monotonic() + (start["deadline_ms"] - start["server_now_ms"]) / 1000
            redis_server.kill()
            await asyncio.to_thread(
                poll, lambda: time.monotonic() > ends_at and metric(server, failures) >= 20,
                "the stage's deadline passed during the outage")
            redis_server.start()
            return await tablet.recv_until("stage_result", "stage_start", "game_over",
                                           timeout_s=45)

    try:
        message = asyncio.run(scenario())
    finally:
        redis_server.kill()
    assert (message["type"], message["stage"], message["outcome"]) == (
        "stage_result", 0, "timeout"), message
