"""What a hostile (or broken) tablet sends, against real server processes (issue 16).

Nothing a tablet sends may lose a drawing, end a child's game, or kill a connection: each test
here sends one thing that once did, and checks the connection, the game and the results.
"""
from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from bench.tablet import Tablet
from tests.e2e.conftest import CANVAS, categories, mariadb_rows, server_env
from tests.utils.server_process import ServerProcess

pytestmark = pytest.mark.slow

BAD_TIME_STROKE = {"type": "stroke", "stage": 0, "stroke": 0, "start": 0,
                   "points": [[100, 100, 10], [120, 110, 3_000_000_000]], "end": True}


def category_code() -> str:
    return categories()[0]["code"]


async def skip_to_the_end(tablet: Tablet, message: dict) -> dict:
    """Skip every stage from `message` (a `stage_start`) on; returns `game_over`."""
    while message["type"] == "stage_start":
        await tablet.send({"type": "skip", "stage": message["stage"]})
        message = await tablet.recv_until("stage_start", "game_over")
    return message


async def answered(tablet: Tablet, marker: int | str) -> list[dict]:
    """Ping, and return everything received until its pong (the server answers in order)."""
    await tablet.send({"type": "ping", "id": marker})
    seen: list[dict] = []
    while True:
        message = await tablet.recv()
        if message == {"type": "pong", "id": marker}:
            return seen
        seen.append(message)


def test_a_point_time_the_database_cannot_hold_is_refused_and_the_game_is_recorded(
        tmp_path, servers, mariadb_url):
    server = ServerProcess(env=server_env(tmp_path, DATABASE_URL=mariadb_url),
                           log_path=tmp_path / "server.log").start()
    servers.append(server)

    async def play() -> tuple[str, dict]:
        async with Tablet(server.ws_url, player_id="child-0160", category=category_code(),
                          canvas=CANVAS) as tablet:
            await tablet.hello()
            start = await tablet.recv_until("stage_start")
            await tablet.send({**BAD_TIME_STROKE, "stage": start["stage"]})
            refused = await tablet.recv_until("ack", "error")
            assert refused["type"] == "error" and refused["code"] == "out_of_range", refused
            await tablet.draw_stroke(start["stage"], 0, [(100, 100, 10), (120, 110, 30)])
            ack = await tablet.recv_until("ack")
            assert (ack["stroke"], ack["points"]) == (0, 2)
            return tablet.welcome["game_id"], await skip_to_the_end(tablet, start)

    game_id, over = asyncio.run(play())
    assert over["type"] == "game_over"
    rows = mariadb_rows(
        mariadb_url,
        "select s.stage_index, d.point_count from games g join stages s on s.game_id = g.game_id"
        f" join drawings d on d.stage_id = s.id where g.game_id = '{game_id}' order by 1",
        until=bool)
    assert rows and rows[0] == (0, 2), (rows, server.log_tail())
    results = httpx.get(f"{server.http_url}/healthz", timeout=10).json()["results"]
    assert results["dead_letters"] == 0, results
