"""Results into the real MariaDB (a fresh database per test) and the embedded SQLite default."""
from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from legacy_bridge import create_results_engine, open_results
from legacy_bridge.results import repo
from legacy_bridge.results.codec import decode_game, encode_game
from alembic.script import ScriptDirectory

from legacy_bridge.results.migrate import alembic_config, upgrade, upgrade_async
from legacy_bridge.results.outbox import SqliteOutbox

from .conftest import make_game

pytestmark = pytest.mark.mariadb

TABLES = {"players", "games", "stages", "stage_guesses", "drawings", "drawing_strokes",
          "alembic_version"}


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


def test_codec_round_trip_is_lossless():
    game = make_game(1)
    assert decode_game(encode_game(game)) == game


async def test_migrations_up_from_empty_on_mariadb(mariadb_url):
    engine = create_results_engine(mariadb_url)
    try:
        assert await _tables(engine) == set()
        await asyncio.to_thread(upgrade, mariadb_url)  # the blocking, pymysql path
        assert TABLES <= await _tables(engine)  # later migrations may add more
        await upgrade_async(engine)  # again, through the async engine: a no-op
        async with engine.connect() as conn:
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version")))
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert version.scalar_one() == head
            charsets = (await conn.execute(sa.text(
                "SELECT DISTINCT CCSA.character_set_name FROM information_schema.TABLES T "
                "JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA "
                "ON CCSA.collation_name = T.table_collation "
                "WHERE T.table_schema = DATABASE() AND T.table_name <> 'alembic_version'"
            ))).scalars().all()
            assert charsets == ["utf8mb4"]
    finally:
        await engine.dispose()


async def test_a_game_is_written_once_with_every_stroke_and_korean_intact(mariadb_url):
    engine = create_results_engine(mariadb_url)
    try:
        await upgrade_async(engine)
        game = make_game(7, stages=3, strokes=4)
        assert await repo.write_game(engine=engine, game=game) is True
        assert await repo.write_game(engine=engine, game=game) is False  # a retried write
        counts = await repo.table_counts(engine=engine)
        assert counts == {"players": 1, "games": 1, "stages": 3, "stage_guesses": 15,
                          "drawings": 3, "drawing_strokes": 12}
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text(
                "SELECT g.class_code, s.name_ko, s.recognized, s.time_to_recognize_ms, "
                "d.points, d.t_start_ms, d.t_end_ms FROM games g "
                "JOIN stages s ON s.game_id = g.game_id "
                "JOIN drawing_strokes d ON d.stage_id = s.id "
                "WHERE s.stage_index = 1 AND d.stroke_index = 2"))).one()
        assert row.class_code == "해바라기반" and row.name_ko == "화분"
        assert json.loads(row.points) == [[20.0 + p, 40.0 + p, 2000.0 + 16 * p] for p in range(5)]
        assert (row.t_start_ms, row.t_end_ms) == (2000, 2064)
        assert await repo.delete_player(engine=engine, player_id=game.player_id) == 1
        assert set((await repo.table_counts(engine=engine)).values()) == {0}
    finally:
        await engine.dispose()


async def test_the_sink_drains_into_mariadb(mariadb_url, tmp_path):
    async with open_results(mariadb_url, data_dir=tmp_path) as sink:
        games = [make_game(i) for i in range(5)]
        for g in games:
            await sink.record(g)
        await sink.record(games[0])  # recorded twice (a tablet reconnected): one row
        await sink.wait_drained(timeout_s=30)
        assert sink.status()["backlog"] == 0 and sink.status()["last_error"] is None
        counts = await repo.table_counts(engine=sink.engine)
        assert (counts["games"], counts["stages"]) == (5, 10)


async def test_embedded_default_sqlite_survives_a_restart_before_draining(tmp_path):
    outbox = SqliteOutbox(tmp_path / "results-outbox.sqlite3")
    game = make_game(3)
    await outbox.append(game.game_id, encode_game(game))  # kept by a process that then died
    await outbox.close()
    async with open_results(None, data_dir=tmp_path) as sink:
        await sink.wait_drained(timeout_s=30)
        counts = await repo.table_counts(engine=sink.engine)
        assert counts["games"] == 1 and counts["drawing_strokes"] == 6
    assert (tmp_path / "results.sqlite3").exists()


async def test_entries_that_can_never_be_written_are_set_aside_not_blocking(mariadb_url,
                                                                            tmp_path):
    import dataclasses

    outbox = SqliteOutbox(tmp_path / "results-outbox.sqlite3")
    await outbox.append("broken", "{not json")
    await outbox.close()
    bad = make_game(8)
    twice = dataclasses.replace(bad, stages=(bad.stages[0], bad.stages[0]))  # same stage index
    too_long = dataclasses.replace(make_game(9), category="x" * 300)
    async with open_results(mariadb_url, data_dir=tmp_path) as sink:
        await sink.record(twice)
        await sink.record(too_long)
        await sink.record(make_game(4))
        await sink.wait_drained(timeout_s=30)
        assert sink.status()["dead_letters"] == 3
        counts = await repo.table_counts(engine=sink.engine)
        assert (counts["games"], counts["stages"]) == (1, 2)  # nothing half-written
        assert await sink.outbox.dead_letter_count() == 3


async def test_one_value_mariadb_cannot_hold_does_not_sink_the_games_other_drawings(
        mariadb_url, tmp_path):
    # A point time beyond MariaDB's INT (drawings.last_t_ms): once, it made error 1264 refuse
    # the whole game and every drawing in it went to the dead letters.
    import dataclasses

    game = make_game(11, stages=2, strokes=3)
    first = game.stages[0]
    bad_stroke = ((100.0, 100.0, 10.0), (120.0, 110.0, 3_000_000_000.0))
    game = dataclasses.replace(game, stages=(
        dataclasses.replace(first, strokes=(first.strokes[0], bad_stroke, first.strokes[2])),
        game.stages[1]))
    async with open_results(mariadb_url, data_dir=tmp_path) as sink:
        await sink.record(game)
        await sink.wait_drained(timeout_s=30)
        counts = await repo.table_counts(engine=sink.engine)
        assert (counts["games"], counts["stages"], counts["drawings"]) == (1, 2, 2)
        assert counts["drawing_strokes"] == 5, "every stroke but the one that cannot be stored"
        assert await sink.outbox.dead_letter_count() == 1, "the original is kept for a human"
        assert await sink.outbox.size() == 0


async def test_games_are_kept_locally_while_the_redis_outbox_is_down(tmp_path, redis_client,
                                                                     unique_key):
    import redis.asyncio as aioredis

    from legacy_bridge.results.outbox import RedisOutbox
    from legacy_bridge.results.sink import ResultsSink

    from .conftest import free_port

    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    dead_redis = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1,
                                retry=Retry(NoBackoff(), 0))
    engine = create_results_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}")
    fallback = SqliteOutbox(tmp_path / "fallback.sqlite3")
    sink = ResultsSink(RedisOutbox(dead_redis, unique_key), engine, fallback_outbox=fallback)
    game = make_game(5)
    await sink.record(game)  # Redis refuses: kept in the local file instead
    assert await fallback.size() == 1
    await dead_redis.aclose()

    sink = ResultsSink(RedisOutbox(redis_client, unique_key), engine, fallback_outbox=fallback)
    await sink.start()  # Redis is back (another process, say): the local backlog drains too
    try:
        await sink.wait_drained(timeout_s=30)
    finally:
        await sink.stop()
    assert (await repo.table_counts(engine=engine))["games"] == 1
    assert await fallback.size() == 0
    await fallback.close()
    await engine.dispose()


async def test_schema_ready_waits_for_the_drainers_migration(tmp_path):
    # Jobs that read the results tables (the privacy purge) start with the server; they must
    # wait for the drainer's first migration instead of failing on a database without tables.
    from legacy_bridge.results.privacy import run_purge
    from legacy_bridge.results.sink import ResultsSink
    from datetime import datetime, timezone

    engine = create_results_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}")
    sink = ResultsSink(SqliteOutbox(tmp_path / "outbox.sqlite3"), engine)
    waiting = asyncio.create_task(sink.schema_ready())
    await asyncio.sleep(0)
    assert not waiting.done(), "no migration has run yet"
    await sink.start()
    try:
        await asyncio.wait_for(waiting, 30)
        assert "drawings" in await _tables(engine)
        await run_purge(engine, datetime.now(timezone.utc), retention_days=30)
    finally:
        await sink.stop()
        await engine.dispose()
