"""The key promise: games finished while MariaDB is down all arrive, in order, exactly once.

A throwaway MariaDB (own port, socket and data dir) is stopped and started; the machine's shared
server on 3306 is never touched. The outbox is the embedded SQLite file or a real Redis stream.
"""
from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from legacy_bridge import open_results
from legacy_bridge.retry import RetryPolicy

from .conftest import make_game, wait_for

GAMES = 50


@pytest.mark.mariadb
@pytest.mark.slow
@pytest.mark.parametrize("outbox", ["sqlite", "redis"])
async def test_games_finished_while_mariadb_is_down_arrive_exactly_once_in_order(
        throwaway_mariadb, tmp_path, outbox, redis_client, unique_key):
    db = f"dq_outage_{uuid.uuid4().hex[:10]}"
    throwaway_mariadb.create_database(db)
    redis = redis_client if outbox == "redis" else None
    async with open_results(throwaway_mariadb.url(db), data_dir=tmp_path, redis=redis,
                            stream_key=unique_key, idle_poll_s=1.0,
                            retry=RetryPolicy(base_delay_s=0.05, max_delay_s=0.5)) as sink:
        await sink.wait_drained(timeout_s=30)  # schema migrated, nothing waiting
        assert sink.status()["schema_ready"]

        await asyncio.to_thread(throwaway_mariadb.stop)
        try:
            games = [make_game(i, stages=2, strokes=3) for i in range(GAMES)]
            for game in games:
                await sink.record(game)  # returns although the database is down
            await sink.record(games[10])  # the same game handed over twice
            await wait_for(lambda: sink.status()["consecutive_failures"] >= 2, timeout_s=30)
            assert await sink.outbox.size() == GAMES + 1  # everything kept locally
            assert sink.status()["state"] == "backlogged"
            assert "OperationalError" in sink.status()["last_error"]
        finally:
            await asyncio.to_thread(throwaway_mariadb.start)

        await sink.wait_drained(timeout_s=90)  # the backlog drains by itself
        assert await sink.outbox.size() == 0
        assert sink.status()["backlog"] == 0 and sink.status()["consecutive_failures"] == 0

        async with sink.engine.connect() as conn:
            ids = (await conn.execute(sa.text("SELECT game_id FROM games ORDER BY id"))).scalars()
            assert list(ids) == [g.game_id for g in games]  # all, once each, in order
            stages = (await conn.execute(sa.text(
                "SELECT game_id, COUNT(*) FROM stages GROUP BY game_id"))).all()
            assert len(stages) == GAMES and {n for _, n in stages} == {2}
            strokes = (await conn.execute(sa.text(
                "SELECT s.game_id, COUNT(*) FROM drawing_strokes d "
                "JOIN stages s ON s.id = d.stage_id GROUP BY s.game_id"))).all()
            assert len(strokes) == GAMES and {n for _, n in strokes} == {6}
            drawings = (await conn.execute(sa.text("SELECT COUNT(*) FROM drawings"))).scalar()
            guesses = (await conn.execute(sa.text("SELECT COUNT(*) FROM stage_guesses"))).scalar()
            assert (drawings, guesses) == (GAMES * 2, GAMES * 2 * 5)
            names = (await conn.execute(sa.text(
                "SELECT DISTINCT name_ko FROM stages ORDER BY name_ko"))).scalars().all()
            assert sorted(names) == sorted(["고양이", "화분"])
    if redis is not None:
        await redis_client.delete(unique_key, f"{unique_key}:dead")
