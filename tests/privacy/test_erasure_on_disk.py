"""Erasure reaches every byte on disk: the server on embedded defaults (SQLite results database,
SQLite outbox, in-process game store) erases one child and withdraws another over HTTP, and
then every byte of every file under DATA_DIR is scanned for the erased child's id and for the
stroke points of both. The scan runs while the server is still up (the outbox file and its
`-wal` are open) and again after it stopped.

Points are made recognisable: each child's x coordinates carry a fraction of its own
(k + 21/64, k + 29/64, k + 37/64, exact in binary), so a point is found by its text in any JSON
encoding (`105.328125`), and a child we keep is found by the same scan (the scan can fail)."""
from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient

from game.store import open_store
from legacy_bridge.bridge import create_results_engine
from legacy_bridge.results import privacy, scrub
from legacy_bridge.results.codec import encode_game
from legacy_bridge.results.outbox import RedisOutbox
from legacy_bridge.results.scrub import rewrite_redis_persistence
from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import FixedTopics, ScriptedRecognizer
from tests.utils.throwaway_redis import ThrowawayRedis

from .conftest import rows_mentioning
from .helpers import T0_MS, make_game
from .test_deletion import live_game

CONSENT = {"Authorization": "Bearer consent-secret"}
FRACTIONS = {"erased": 0.328125, "withdrawn": 0.453125, "kept": 0.578125}


def marked_game(seed: int, player: str, fraction: float, started_at_ms: int):
    """A finished game whose every stroke point has an x ending in `fraction`."""
    game = make_game(seed, player=player, labels=("cat", "dog", "pig"),
                     started_at_ms=started_at_ms)
    stages = []
    for i, stage in enumerate(game.stages):
        strokes = tuple(
            tuple((float(100 + seed * 300 + i * 100 + j * 7 + k) + fraction,
                   float(200 + k) + 0.671875, float(16 * k)) for k in range(40))
            for j in range(3))
        stages.append(dataclasses.replace(stage, strokes=strokes))
    return dataclasses.replace(game, stages=tuple(stages))


def point_texts(games) -> set[bytes]:
    return {repr(p[0]).encode() for g in games for s in g.stages for st in s.strokes for p in st}


def scan(data_dir: Path, needles: set[bytes]) -> dict[str, int]:
    """File (relative path) -> how many of `needles` its bytes contain, for every file."""
    found = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        n = sum(1 for needle in needles if needle in data)
        if n:
            found[path.relative_to(data_dir).as_posix()] = n
    return found


def test_erasure_and_withdrawal_leave_no_byte_in_any_file_under_data_dir(tmp_path):
    tag = uuid.uuid4().hex[:8]
    kids = {role: f"kid{role[0]}{tag}x" for role in FRACTIONS}
    games = {role: [marked_game(n * 2 + i, kid, FRACTIONS[role], T0_MS + i * 3_600_000)
                    for i in range(2)]
             for n, (role, kid) in enumerate(kids.items())}
    data_dir = tmp_path / "data"
    settings = Settings(_env_file=None, data_dir=data_dir, consent_token="consent-secret")
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics()))
    with TestClient(app) as client:
        for role, kid in kids.items():
            r = client.post(f"/privacy/players/{kid}/consent", headers=CONSENT,
                            json={"role": "guardian"})
            if r.status_code == 503:  # the schema is migrated in the background
                client.portal.call(app.state.results.schema_ready)
                r = client.post(f"/privacy/players/{kid}/consent", headers=CONSENT,
                                json={"role": "guardian"})
            assert r.status_code == 201, r.text
        for role in kids:  # through the game's record path: outbox file, then the database
            for g in games[role]:
                client.portal.call(app.state.results.record, g)
        client.portal.call(app.state.results.wait_drained, 60)
        before = scan(data_dir, {kids["erased"].encode()} | point_texts(games["erased"]))
        assert before, "the erased child's data was on disk before (the scan finds it)"

        r = client.request("DELETE", f"/privacy/players/{kids['erased']}", headers=CONSENT,
                           json={"role": "guardian"})
        assert r.status_code == 200, r.text
        r = client.post(f"/privacy/players/{kids['withdrawn']}/consent/withdraw",
                        headers=CONSENT, json={"role": "guardian"})
        assert r.status_code == 200, r.text

        gone = {kids["erased"].encode()} | point_texts(games["erased"]) \
            | point_texts(games["withdrawn"])
        assert scan(data_dir, gone) == {}, "while the server runs"
        kept = scan(data_dir, point_texts(games["kept"]))
        assert sum(kept.values()) >= len(point_texts(games["kept"])), kept
    assert scan(data_dir, gone) == {}, "after the server stopped"


@pytest.fixture
def aof_redis(tmp_path) -> Iterator[ThrowawayRedis]:
    """A Redis of our own with AOF (always fsync) and RDB snapshots, both uncompressed and the
    AOF without an RDB preamble, so a scan of its files sees every value as text."""
    server = ThrowawayRedis(tmp_path, extra_args=(
        "--save", "3600 1", "--rdbcompression", "no", "--aof-use-rdb-preamble", "no")).start()
    try:
        yield server
    finally:
        server.stop()


async def test_erasure_rewrites_the_redis_aof_and_snapshot(aof_redis, results_engine):
    tag = uuid.uuid4().hex[:8]
    kids = {role: f"kid{role[0]}{tag}x" for role in FRACTIONS}
    games = {role: [marked_game(n * 2 + i, kid, FRACTIONS[role], T0_MS + i * 3_600_000)
                    for i in range(2)]
             for n, (role, kid) in enumerate(kids.items())}
    client = aioredis.Redis.from_url(aof_redis.url)
    store = open_store(aof_redis.url)
    try:
        outbox = RedisOutbox(client)
        for role in kids:
            # One game already drained (appended, then acknowledged: only the AOF remembers
            # it) and one still waiting in the stream.
            drained, waiting = games[role]
            await outbox.append(drained.game_id, encode_game(drained))
            (entry,) = [e for e in await outbox.peek(100) if e.game_id == drained.game_id]
            await outbox.ack(entry.entry_id)
            await outbox.append(waiting.game_id, encode_game(waiting))
            await live_game(store, f"live-{kids[role]}", kids[role])
        await client.bgsave()  # a snapshot from before the deletion is on disk too
        await rewrite_redis_persistence(client)  # (waits for it; then takes its own)
        erased_needles = {kids["erased"].encode()} | point_texts(games["erased"])
        assert scan(aof_redis.dir, erased_needles), "on disk before (the scan finds it)"

        local = privacy.LocalStores(store=store, redis=client)
        erased = await privacy.erase_player(engine=results_engine, player_id=kids["erased"],
                                            requested_by_role="guardian", local=local)
        withdrawn = await privacy.withdraw_consent(
            engine=results_engine, player_id=kids["withdrawn"], withdrawn_by_role="teacher",
            local=local)
    finally:
        await store.aclose()
        await client.aclose()
    for report in (erased, withdrawn):
        assert {"redis_aof", "redis_rdb"} <= set(report.scrubbed), report.scrubbed
    assert {p.name for p in aof_redis.dir.rglob("*") if p.is_file()} >= {"dump.rdb"}
    gone = erased_needles | point_texts(games["withdrawn"])
    assert scan(aof_redis.dir, gone) == {}
    kept = scan(aof_redis.dir, point_texts(games["kept"][1:]))  # the waiting game, kept
    assert {name for name in kept} >= {"dump.rdb"} and len(kept) >= 2, kept


async def test_an_erasure_that_cannot_empty_the_wal_says_so_and_succeeds_when_repeated(
        tmp_path, monkeypatch):
    # A reader holding an old snapshot of the outbox file keeps the -wal from being emptied:
    # the erasure must not answer "erased" while the bytes are still there, but a 503 that says
    # to repeat it; repeated once the reader is gone, it succeeds and the file is clean.
    import httpx

    from legacy_bridge.results.migrate import upgrade
    from legacy_bridge.results.outbox import SqliteOutbox
    from server.errors import install_error_handlers
    from tests.export.test_routes import app_for

    monkeypatch.setattr(privacy, "OUTBOX_BUSY_TIMEOUT_S", 0.2)
    kid = f"kid-busy-{uuid.uuid4().hex[:6]}"
    game = marked_game(1, kid, FRACTIONS["erased"], T0_MS)
    path = tmp_path / "results-outbox.sqlite3"
    outbox = SqliteOutbox(path)
    await outbox.append(game.game_id, encode_game(game))
    (entry,) = await outbox.peek(10)
    await outbox.ack(entry.entry_id)  # drained: only the file's old pages remember it
    url = f"sqlite+aiosqlite:///{tmp_path / 'results.sqlite3'}"
    upgrade(url)
    engine = create_results_engine(url)
    app = app_for(engine, consent_token="consent-secret")
    install_error_handlers(app)
    app.state.privacy_local_stores = privacy.LocalStores(outbox_files=(path,))
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM outbox").fetchone()  # holds its snapshot
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            r = await c.request("DELETE", f"/privacy/players/{kid}", headers=CONSENT,
                                json={"role": "guardian"})
            assert r.status_code == 503, r.text
            assert "not yet every file" in r.json()["detail"] and r.headers["Retry-After"]
            reader.execute("COMMIT")
            r = await c.request("DELETE", f"/privacy/players/{kid}", headers=CONSENT,
                                json={"role": "guardian"})
            assert r.status_code == 200, r.text
            assert "outbox_file" in r.json()["scrubbed"]
    finally:
        reader.close()
        await outbox.close()
        await engine.dispose()
    assert scan(tmp_path, {kid.encode()} | point_texts([game])) == {}


@pytest.mark.parametrize("variables, expect", [
    ({"log_bin": "OFF", "general_log": "OFF", "slow_query_log": "OFF",
      "innodb_file_per_table": "ON"}, []),
    ({"log_bin": "ON", "binlog_expire_logs_seconds": "0", "expire_logs_days": "0.000000"},
     ["never expire"]),
    ({"log_bin": "ON", "binlog_expire_logs_seconds": "2592000", "expire_logs_days": "0"},
     ["30 days"]),
    ({"log_bin": "OFF", "general_log": "ON"}, ["general query log"]),
    ({"innodb_file_per_table": "OFF"}, ["system tablespace"]),
])
def test_what_a_mariadb_keeps_by_its_settings_is_told(variables, expect):
    warnings = scrub.mariadb_retention_warnings(variables)
    assert len(warnings) == len(expect)
    for text, part in zip(warnings, expect):
        assert part in text


async def test_the_deletion_reads_the_real_mariadbs_settings(mariadb_session_url):
    # The variable names exist on the real server, and the deletion's warnings are what its
    # settings mean (this test server: no binary log, no query logs -> none).
    engine = create_results_engine(mariadb_session_url)
    try:
        variables = await scrub.mariadb_variables(engine)
        assert {"log_bin", "general_log", "slow_query_log", "innodb_file_per_table"} <= set(
            variables)
        assert {"binlog_expire_logs_seconds", "expire_logs_days"} & set(variables)
        kid = f"kid-maria-{uuid.uuid4().hex[:6]}"
        report = await privacy.erase_player(engine=engine, player_id=kid,
                                            requested_by_role="guardian")
        assert report.warnings == scrub.mariadb_retention_warnings(variables)
        assert "results_sqlite" not in report.scrubbed
    finally:
        await engine.dispose()


async def test_deletions_at_the_same_time_each_get_their_own_rewrite(aof_redis):
    # Two deletions (two server processes) rewrite at once: the one that finds a rewrite
    # running waits for it and starts its own, rather than failing.
    clients = [aioredis.Redis.from_url(aof_redis.url) for _ in range(3)]
    try:
        await clients[0].set("x", "y" * 10_000)
        done = await asyncio.gather(*(rewrite_redis_persistence(c) for c in clients))
        assert done == [["aof", "rdb"]] * 3
        info = await clients[0].info("persistence")
        assert info["aof_rewrites"] >= 3 and info["aof_last_bgrewrite_status"] == "ok"
    finally:
        for c in clients:
            await c.aclose()


def test_erasure_on_redis_and_mariadb_leaves_nothing_in_the_aof_the_tables_or_data_dir(
        aof_redis, mariadb_session_url, tmp_path):
    # The server configured as in production: Redis (its own, AOF + RDB) for live games and
    # the outbox, MariaDB for the results. Games go through the record path; after the
    # erasure and the withdrawal over HTTP, no file of Redis, no row of MariaDB and no file
    # under DATA_DIR holds the erased child's id or either child's points.
    tag = uuid.uuid4().hex[:8]
    kids = {role: f"kid{role[0]}{tag}r" for role in FRACTIONS}
    games = {role: [marked_game(n * 2 + i, kid, FRACTIONS[role], T0_MS + i * 3_600_000)
                    for i in range(2)]
             for n, (role, kid) in enumerate(kids.items())}
    data_dir = tmp_path / "data"
    settings = Settings(_env_file=None, data_dir=data_dir, consent_token="consent-secret",
                        redis_url=aof_redis.url, database_url=mariadb_session_url)
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics()))
    gone = {kids["erased"].encode()} | point_texts(games["erased"]) \
        | point_texts(games["withdrawn"])
    with TestClient(app) as client:
        client.portal.call(app.state.results.schema_ready)
        store = app.state.services.games.store
        for role, kid in kids.items():
            r = client.post(f"/privacy/players/{kid}/consent", headers=CONSENT,
                            json={"role": "guardian"})
            assert r.status_code == 201, r.text
            for g in games[role]:
                client.portal.call(app.state.results.record, g)
            client.portal.call(live_game, store, f"live-{kid}", kid)
        client.portal.call(app.state.results.wait_drained, 60)
        engine = app.state.results.engine
        assert client.portal.call(rows_mentioning, engine, kids["erased"])
        assert scan(aof_redis.dir, {kids["erased"].encode()})

        r = client.request("DELETE", f"/privacy/players/{kids['erased']}", headers=CONSENT,
                           json={"role": "guardian"})
        assert r.status_code == 200, r.text
        assert {"redis_aof", "redis_rdb"} <= set(r.json()["scrubbed"])
        assert isinstance(r.json()["warnings"], list)  # their rules: tested above
        r = client.post(f"/privacy/players/{kids['withdrawn']}/consent/withdraw",
                        headers=CONSENT, json={"role": "guardian"})
        assert r.status_code == 200, r.text

        assert scan(aof_redis.dir, gone) == {}
        assert scan(data_dir, gone) == {}
        for needle in [kids["erased"], f"live-{kids['erased']}"] + [
                repr(p[0]) for g in games["erased"] + games["withdrawn"]
                for s in g.stages for st in s.strokes for p in st[:2]]:
            assert client.portal.call(rows_mentioning, engine, needle) == {}, needle
        # the kept child is still everywhere it was (the checks can fail)
        assert client.portal.call(rows_mentioning, engine, kids["kept"])
        kept_points = point_texts(games["kept"])
        assert sum(scan(aof_redis.dir, {kids["kept"].encode()}).values())
        assert client.portal.call(rows_mentioning, engine, next(iter(kept_points)).decode())
