"""Withdrawal and deletion requests really delete: every results table (MariaDB and SQLite), the
live game store in real Redis (SCAN of the whole database), the Redis outbox stream and its dead
letters, and the SQLite outbox file. The deletion log keeps counts and a salted hash only."""
from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from game import engine as game_engine
from game.commands import StrokeChunk
from game.rules import GameRules
from game.store import open_store
from game.topics import Category, Topic
from legacy_bridge.results import privacy, repo
from legacy_bridge.results.codec import encode_game
from legacy_bridge.results.outbox import OutboxEntry, RedisOutbox, SqliteOutbox
from legacy_bridge.results.privacy_tables import deletion_log, research_consents
from legacy_bridge.results.tables import drawing_strokes, drawings, games, stages

from .conftest import rows_mentioning
from .helpers import make_game

PRIVACY_REDIS_DB = 12  # a database of our own on the shared Redis
REDIS_URL = f"redis://127.0.0.1:6379/{PRIVACY_REDIS_DB}"
RULES = GameRules(intermission_ms=1000)
CATEGORY = Category("animals", "동물", "Animals",
                    tuple(Topic(x, x, x) for x in ["cat", "dog", "pig", "cow", "ant"]))


# Unique names per test: the shared Redis may be used by another run of these tests at once, so
# nothing is flushed; every id and stream key below is new, and the checks look for them.
VICTIM = OTHER = STREAM = ""


@pytest.fixture(autouse=True)
def unique_names() -> None:
    global VICTIM, OTHER, STREAM
    tag = uuid.uuid4().hex[:10]
    VICTIM, OTHER = f"kid-v{tag}", f"kid-o{tag}"
    STREAM = f"test:privacy:{tag}:outbox"


@pytest.fixture
async def redis_db() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        pytest.fail("Redis on 127.0.0.1:6379 is down: run scripts/ensure_services.sh")
    yield client
    store = open_store(REDIS_URL)
    for kid in (VICTIM, OTHER):
        for game_id in await store.games_of_player(kid):
            await store.delete_game(game_id)
    await store.aclose()
    await client.delete(STREAM, f"{STREAM}:dead")
    await client.aclose()


async def live_game(store, game_id: str, player: str) -> None:
    state, transition = game_engine.new_game(
        game_id=game_id, player_id=player, category=CATEGORY, rules=RULES, now_ms=0,
        canvas_width=500, canvas_height=500, age_band="5-6")
    await store.create(state, transition, resume_token=f"tok-{game_id}")
    await store.apply(game_id, lambda s: game_engine.handle(
        s, StrokeChunk(0, 0, 0, ((1, 2, 0), (3, 4, 5)), True), now_ms=10, rules=RULES))


async def redis_mentions(client: aioredis.Redis, needles: list[str]) -> list[str]:
    """Every key (by SCAN) whose name or value contains one of `needles`."""
    found = []
    async for key in client.scan_iter(count=500):
        kind = (await client.type(key)).decode()
        if kind == "string":
            parts = [await client.get(key)]
        elif kind == "list":
            parts = await client.lrange(key, 0, -1)
        elif kind == "set":
            parts = list(await client.smembers(key))
        elif kind == "zset":
            parts = await client.zrange(key, 0, -1)
        elif kind == "hash":
            parts = [x for kv in (await client.hgetall(key)).items() for x in kv]
        elif kind == "stream":
            parts = [x for _, f in await client.xrange(key) for kv in f.items() for x in kv]
        else:
            parts = []
        text = key + b"\0" + b"\0".join(p or b"" for p in parts)
        if any(n.encode() in text for n in needles):
            found.append(key.decode())
    return found


def sqlite_outbox_text(path) -> str:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT payload FROM outbox UNION ALL SELECT payload FROM dead_letters")
        return "\n".join(r[0] for r in rows)
    finally:
        db.close()


async def setup_everywhere(engine, redis_db, tmp_path):
    """Both children: consented, two games in the database, one live game in Redis, one game
    waiting in the Redis outbox, one dead letter, one game in the SQLite outbox file."""
    store = open_store(REDIS_URL)
    victim_games = [make_game(1, player=VICTIM), make_game(2, player=VICTIM)]
    other_games = [make_game(3, player=OTHER), make_game(4, player=OTHER)]
    for kid in (VICTIM, OTHER):
        await privacy.record_consent(engine=engine, player_id=kid, policy_version="2026-11",
                                     granted_by_role="guardian")
    for g in victim_games + other_games:
        await repo.write_game(engine=engine, game=g)
    await live_game(store, f"live-{VICTIM}", VICTIM)
    await live_game(store, f"live-{OTHER}", OTHER)
    outbox = RedisOutbox(redis_db, STREAM)
    pending = {kid: make_game(10 + i, player=kid) for i, kid in enumerate((VICTIM, OTHER))}
    for g in pending.values():
        await outbox.append(g.game_id, encode_game(g))
    dead = make_game(20, player=VICTIM)
    await outbox.dead_letter(OutboxEntry("0-1", dead.game_id, encode_game(dead)), "test")
    file_outbox = SqliteOutbox(tmp_path / "results-outbox.sqlite3")
    local_victim, local_other = make_game(30, player=VICTIM), make_game(31, player=OTHER)
    await file_outbox.append(local_victim.game_id, encode_game(local_victim))
    await file_outbox.append(local_other.game_id, encode_game(local_other))
    await file_outbox.close()
    local = privacy.LocalStores(store=store, redis=redis_db, outbox_streams=(STREAM,),
                                outbox_files=(tmp_path / "results-outbox.sqlite3",))
    victim_ids = [VICTIM, f"live-{VICTIM}", pending[VICTIM].game_id, dead.game_id,
                  local_victim.game_id] + [g.game_id for g in victim_games]
    return store, local, victim_ids, other_games


async def test_a_deletion_request_leaves_no_trace_anywhere(results_engine, redis_db, tmp_path):
    store, local, victim_ids, other_games = await setup_everywhere(results_engine, redis_db,
                                                                   tmp_path)
    assert await rows_mentioning(results_engine, VICTIM)  # it was there, in several tables
    assert await redis_mentions(redis_db, [VICTIM])
    try:
        report = await privacy.erase_player(engine=results_engine, player_id=VICTIM,
                                            requested_by_role="guardian", local=local)
    finally:
        await store.aclose()
    assert report.counts["games"] == 2 and report.counts["drawings"] == 4
    assert report.counts["live_games"] == 1 and report.counts["outbox_entries"] == 3
    for needle in victim_ids:  # every table of the database, every column
        assert await rows_mentioning(results_engine, needle) == {}, needle
    assert await redis_mentions(redis_db, victim_ids) == []
    text = sqlite_outbox_text(tmp_path / "results-outbox.sqlite3")
    assert VICTIM not in text and OTHER in text
    raw_file = (tmp_path / "results-outbox.sqlite3").read_bytes()
    assert VICTIM.encode() not in raw_file  # vacuumed: no stale pages left in the file
    # The other child is untouched everywhere.
    assert await redis_mentions(redis_db, [OTHER])
    assert (await repo.table_counts(engine=results_engine))["games"] == 2
    assert await privacy.active_consent(engine=results_engine, player_id=OTHER) is not None
    # Logged: counts and a salted hash, not the id.
    (entry,) = await privacy.deletion_log_rows(engine=results_engine)
    assert entry["reason"] == "erasure" and entry["requested_by_role"] == "guardian"
    counts = entry["counts"] if isinstance(entry["counts"], dict) else json.loads(entry["counts"])
    assert counts == report.counts
    assert entry["subject_ref"] == privacy.subject_ref(VICTIM, entry["subject_salt"])
    assert entry["subject_ref"] != privacy.subject_ref(OTHER, entry["subject_salt"])


async def test_withdrawal_deletes_drawings_everywhere_and_keeps_school_results(
        results_engine, redis_db, tmp_path):
    store, local, victim_ids, _ = await setup_everywhere(results_engine, redis_db, tmp_path)
    try:
        report = await privacy.withdraw_consent(engine=results_engine, player_id=VICTIM,
                                                withdrawn_by_role="teacher",
                                                withdrawn_by_name="Ms Kim", local=local)
    finally:
        await store.aclose()
    assert report.counts["drawings"] == 4 and report.counts["consents_withdrawn"] == 1
    assert report.counts["live_games"] == 1 and report.counts["outbox_entries"] == 3
    async with results_engine.connect() as conn:
        def of(table, col):
            return sa.select(sa.func.count()).select_from(
                table.join(stages, stages.c.id == col)
                .join(games, games.c.game_id == stages.c.game_id)
            ).where(games.c.player_id == VICTIM)
        assert (await conn.execute(of(drawings, drawings.c.stage_id))).scalar_one() == 0
        assert (await conn.execute(of(drawing_strokes, drawing_strokes.c.stage_id))
                ).scalar_one() == 0
        assert (await conn.execute(sa.select(sa.func.count()).select_from(games).where(
            games.c.player_id == VICTIM))).scalar_one() == 2  # the school's results stay
        assert (await conn.execute(sa.select(sa.func.count()).select_from(drawings))
                ).scalar_one() == 4  # the other child's
        consent = (await conn.execute(sa.select(research_consents).where(
            research_consents.c.player_id == VICTIM))).one()
        assert consent.withdrawn_at is not None and consent.withdrawn_by_name == "Ms Kim"
        assert (await conn.execute(sa.select(deletion_log.c.reason))).scalars().all() == [
            "withdrawal"]
    assert await store_has_no_live_game(redis_db)
    # Outbox entries keep the result but lose the strokes.
    for _, fields in await redis_db.xrange(STREAM) + await redis_db.xrange(f"{STREAM}:dead"):
        data = json.loads(fields[b"payload"])
        if data["player_id"] == VICTIM:
            assert all(s["strokes"] == [] for s in data["stages"])
        else:
            assert any(s["strokes"] for s in data["stages"])
    assert await redis_db.xlen(STREAM) == 2
    db = sqlite3.connect(tmp_path / "results-outbox.sqlite3")
    for (payload,) in db.execute("SELECT payload FROM outbox"):
        data = json.loads(payload)
        assert all(bool(s["strokes"]) == (data["player_id"] == OTHER) for s in data["stages"])
    db.close()


async def store_has_no_live_game(redis_db) -> bool:
    return await redis_mentions(redis_db, [f"live-{VICTIM}"]) == []


async def test_consent_records(results_engine):
    assert await privacy.active_consent(engine=results_engine, player_id="kid-0001") is None
    first = await privacy.record_consent(engine=results_engine, player_id="kid-0001",
                                         policy_version="2026-09", granted_by_role="guardian",
                                         granted_by_name="Mother")
    second = await privacy.record_consent(engine=results_engine, player_id="kid-0001",
                                          policy_version="2026-11", granted_by_role="teacher")
    records = await privacy.consents_of_player(engine=results_engine, player_id="kid-0001")
    assert [(c.id, c.active, c.policy_version) for c in records] == [
        (first.id, False, "2026-09"), (second.id, True, "2026-11")]
    with pytest.raises(ValueError):
        await privacy.record_consent(engine=results_engine, player_id="kid-0001",
                                     policy_version="x", granted_by_role="child")


async def test_a_game_in_flight_at_the_deletion_cannot_bring_the_child_back(results_engine):
    # The drainer had read the child's finished game from the outbox just before the deletion
    # request, and writes it just after: the game must not land. A game the same pseudonymous
    # player finishes after the request is new data and is written as usual.
    from datetime import datetime, timezone

    player = f"erased-{uuid.uuid4().hex[:8]}"
    carried = make_game(1, player=player)  # ended at about T0 + 90 s
    erased_at = datetime.fromtimestamp((carried.ended_at_ms + 60_000) / 1000, timezone.utc)
    await privacy.erase_player(engine=results_engine, player_id=player,
                               requested_by_role="guardian", now=erased_at)
    assert await repo.write_game(engine=results_engine, game=carried) is False
    assert await rows_mentioning(results_engine, player) == {}
    later = make_game(2, player=player, started_at_ms=carried.ended_at_ms + 120_000)
    assert await repo.write_game(engine=results_engine, game=later) is True
    assert (await repo.table_counts(engine=results_engine))["games"] == 1
