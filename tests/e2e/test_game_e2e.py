"""Whole games against real server processes: embedded defaults, and Redis across processes.

The tablet is scripted (bench.tablet) and draws real Quick, Draw! drawings from the fixture.
"""
from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from bench.tablet import Tablet, join, open_class, play_game
from tests.e2e.conftest import CANVAS, best_category, categories, server_env, skip_to_drawable
from tests.utils.server_process import ServerProcess

pytestmark = pytest.mark.slow


def wait_for_rows(db: Path, sql: str, expected: int, timeout_s: float = 60.0) -> int:
    """Poll another process's database for a row count (bounded)."""
    deadline = time.monotonic() + timeout_s
    count = -1
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    count = conn.execute(sql).fetchone()[0]
            except sqlite3.OperationalError:
                count = -1  # tables not migrated yet
            if count >= expected:
                return count
        time.sleep(0.1)
    return count


@pytest.mark.parametrize("asgi_server", ["uvicorn", "granian"])
def test_a_child_plays_a_whole_game_on_embedded_defaults(tmp_path, servers, recognised_drawings, asgi_server):
    server = ServerProcess(env=server_env(tmp_path, ASGI_SERVER=asgi_server),
                           log_path=tmp_path / "server.log").start()
    servers.append(server)
    category = best_category(recognised_drawings)
    drawings = recognised_drawings[category]
    pool = httpx.get(f"{server.http_url}/readyz", timeout=5).json()["models"]["pool"]
    assert pool["state"] == "ok" and pool["serving"] == pool["workers"] >= 1, pool

    logs, over = asyncio.run(
        play_game(server.ws_url, player_id="child-0001", category=category,
                  drawing_for=lambda label: drawings.get(label), canvas=CANVAS)
    )

    assert over["type"] == "game_over" and over["outcome"] == "completed"
    assert len(logs) == len(over["stages"]) == 5
    drawn = [log for log in logs if log.label in drawings]
    assert drawn, "no stage had a recognisable fixture drawing"
    for log in logs:
        if log.label not in drawings:  # the tablet skipped it
            assert log.result["outcome"] == "skipped"
            continue
        assert log.result["outcome"] == "recognized", (log.label, log.guesses[-1:])
        assert log.guesses, "guesses arrive while drawing"
        assert log.guesses[-1]["guesses"][0]["label"] == log.label
        # A stage can be recognised before the whole drawing is in: the strokes still on their
        # way are refused (wrong_stage, at least once each), every stroke before them is
        # acknowledged, in order.
        acked = [ack["stroke"] for ack in log.acks]
        assert acked and acked == list(range(len(acked))), "acknowledged in order, none skipped"
        assert log.refused_late >= log.strokes_sent - len(acked), "each stroke not acked was refused"
    db = tmp_path / "data" / "results.sqlite3"
    assert wait_for_rows(db, "select count(*) from stages", 5) == 5
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from stages where recognized = 1").fetchone()[0] == len(drawn)
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from games").fetchone()[0] == 1
        kept = {(stage, stroke): points for stage, stroke, points in conn.execute(
            "select s.stage_index, d.stroke_index, d.point_count from drawing_strokes d"
            " join stages s on s.id = d.stage_id")}
    acked = {(log.stage, ack["stroke"]): ack["points"] for log in logs for ack in log.acks}
    assert {k: kept.get(k) for k in acked} == acked, "every acknowledged stroke is kept, whole"
    # A stroke the model recognised mid-way: its first chunks were in before the result, the
    # rest came after it, drawn (by the replay's fast clock) past the 2 s grace, and was
    # refused. What came in time is kept; such a stroke is never acknowledged.
    unacked = set(kept) - set(acked)
    by_stage = {log.stage: log for log in logs}
    assert all(by_stage[stage].refused_late for stage, _ in unacked), (unacked, kept, acked)


@pytest.mark.redis
@pytest.mark.parametrize("how", ["restart", "kill"])
def test_a_game_survives_a_restart_of_its_server_process(tmp_path, servers, e2e_redis_url,
                                                         recognised_drawings, how):
    env = server_env(tmp_path, REDIS_URL=e2e_redis_url)
    first = ServerProcess(env=env, log_path=tmp_path / "first.log").start()
    servers.append(first)
    category = best_category(recognised_drawings)
    drawings = recognised_drawings[category]

    async def first_half() -> tuple[str, str, int, list]:
        # A game whose every later drawing is recognised from its first stroke leaves nothing to
        # finish after the restart: then another game is played (the topics are drawn at random).
        for _ in range(6):
            found = await one_game()
            if found is not None:
                return found
        raise AssertionError("six games without a drawing that its first stroke does not finish")

    async def one_game() -> tuple[str, str, int, list] | None:
        async with Tablet(first.ws_url, player_id="child-0002", category=category,
                          canvas=CANVAS) as tablet:
            welcome = await tablet.hello()
            message = await skip_to_drawable(tablet, await tablet.recv_until("stage_start"), drawings)
            log, message = await tablet.play_stage(message, drawings[message["topic"]["label"]])
            assert log.result["outcome"] == "recognized"
            while True:
                message = await skip_to_drawable(tablet, message, drawings)
                if message["type"] == "game_over":
                    return None
                assert message["type"] == "stage_start", message
                # the first stroke of the next drawing, then the server goes away
                stage, label = message["stage"], message["topic"]["label"]
                drawing = drawings[label]
                await tablet.draw_stroke(stage, 0, drawing[0])
                await tablet.recv_until("ack")
                # The stroke's guess is awaited before the server goes: one that recognises the
                # drawing from its first stroke would end the stage before the kill (on a busy
                # machine the kill comes late), leaving nothing to finish after it.
                while True:
                    seen = await tablet.recv_until("guess", "stage_result")
                    if seen["type"] == "stage_result" or seen["points"] >= len(drawing[0]):
                        break
                best = seen.get("guesses", [{}])[0] if seen["type"] == "guess" else {}
                if seen["type"] == "guess" and not (best.get("label") == label
                                                    and best.get("p", 0) >= 0.5):
                    return welcome["game_id"], tablet.resume_token, stage, drawing
                if seen["type"] == "guess":
                    await tablet.recv_until("stage_result")
                message = await tablet.recv_until("stage_start", "game_over")

    game_id, token, stage, drawing = asyncio.run(first_half())
    first.stop() if how == "restart" else first.kill()
    second = ServerProcess(env=env, log_path=tmp_path / "second.log").start()
    servers.append(second)

    async def second_half() -> dict:
        async with Tablet(second.ws_url, player_id="child-0002", category=category,
                          canvas=CANVAS, resume_token=token) as tablet:
            welcome = await tablet.hello()
            assert welcome["resumed"] and welcome["game_id"] == game_id
            message = await tablet.recv_until("stage_start", "stage_result")
            if message["type"] == "stage_start":
                assert message["stage"] == stage
                assert message["received"] == [{"points": len(drawing[0]), "ended": True}]
                for index, stroke in enumerate(drawing[1:], start=1):
                    await tablet.draw_stroke(stage, index, stroke)
            message = await tablet.recv_until("stage_start", "game_over")
            while message["type"] == "stage_start":
                _, message = await tablet.play_stage(
                    message, drawings.get(message["topic"]["label"])
                )
            return message

    over = asyncio.run(second_half())
    assert over["type"] == "game_over" and len(over["stages"]) == 5
    recognised = [s["stage"] for s in over["stages"] if s["outcome"] == "recognized"]
    assert stage in recognised, (
        "the drawing begun before the restart was finished after it",
        [(s["stage"], s["topic"]["label"], s["outcome"], s["guesses"][:1]) for s in over["stages"]],
    )
    assert len(recognised) >= 2


@pytest.mark.redis
def test_two_server_processes_fire_every_deadline_once(tmp_path, servers, e2e_redis_url):
    env = server_env(tmp_path, REDIS_URL=e2e_redis_url, DEFAULT_TIME_LIMIT_S="1.5",
                     INTERMISSION_MS="200",
                     OPEN_CLASS="false", ADMIN_TOKEN="teacher-secret-token")
    a = ServerProcess(env=env, log_path=tmp_path / "a.log").start()
    b = ServerProcess(env=env, log_path=tmp_path / "b.log").start()
    servers.extend([a, b])
    category = categories()[0]["code"]

    async def silent_child(server: ServerProcess, n: int, code: str) -> list[dict]:
        """Joins the class, says hello and draws nothing: every stage ends by its deadline."""
        player = f"child-{n:04d}"
        token = await join(server.http_url, player, code)
        async with Tablet(server.ws_url, player_id=player, category=category,
                          session_token=token) as tablet:
            await tablet.hello()
            await tablet.recv_until("game_over", timeout_s=80)
            return tablet.received

    async def classroom() -> list[list[dict]]:
        # the class is opened on one process and joined on both: classes and keys are shared
        code = await open_class(a.http_url, "teacher-secret-token")
        return await asyncio.gather(*(silent_child(a if n % 2 else b, n, code) for n in range(10)))

    received = asyncio.run(asyncio.wait_for(classroom(), 120))
    for messages in received:
        results = [m for m in messages if m["type"] == "stage_result"]
        starts = [m for m in messages if m["type"] == "stage_start"]
        stages = list(range(starts[0]["stage_count"]))  # the category's own stage count
        assert [r["stage"] for r in results] == stages, "each deadline fired exactly once"
        assert [s["stage"] for s in starts] == stages
        assert all(r["outcome"] == "timeout" for r in results)
        for result, start in zip(results, starts, strict=True):
            # never early (how late is the load benchmark's business, not a unit test's)
            assert result["time_ms"] >= round(start["time_limit_s"] * 1000)
        assert sum(m["type"] == "game_over" for m in messages) == 1
