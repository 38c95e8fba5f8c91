"""Writes and reads of the results tables. Keyword-only async functions over an `AsyncEngine`.

`write_game` is idempotent on `game_id`: the whole game (player, game, stages, guesses, drawing)
goes in one transaction, and a game already present is left as it is.
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from game.records import FinishedGame, StageOutcome

from .privacy_tables import erasure_markers, erasure_subject_key
from .tables import drawing_strokes, drawings, games, players, stage_guesses, stages


def ms_to_datetime(ms: int) -> datetime:
    """Unix epoch ms -> naive UTC datetime (how DATETIME(3) columns hold UTC)."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


async def game_exists(*, conn: AsyncConnection, game_id: str) -> bool:
    row = await conn.execute(sa.select(games.c.id).where(games.c.game_id == game_id))
    return row.first() is not None


async def _upsert_player(conn: AsyncConnection, game: FinishedGame) -> None:
    seen = ms_to_datetime(game.started_at_ms)
    values = {"player_id": game.player_id, "age_band": game.age_band,
              "first_seen_at": seen, "last_seen_at": seen}
    if conn.dialect.name in ("mysql", "mariadb"):
        ins = mysql.insert(players).values(**values)
        stmt = ins.on_duplicate_key_update(
            last_seen_at=sa.func.greatest(players.c.last_seen_at, ins.inserted.last_seen_at),
            first_seen_at=sa.func.least(players.c.first_seen_at, ins.inserted.first_seen_at),
            age_band=sa.func.coalesce(ins.inserted.age_band, players.c.age_band),
        )
    else:
        ins = sqlite.insert(players).values(**values)
        stmt = ins.on_conflict_do_update(
            index_elements=[players.c.player_id],
            set_={"last_seen_at": sa.func.max(players.c.last_seen_at, ins.excluded.last_seen_at),
                  "first_seen_at": sa.func.min(players.c.first_seen_at,
                                               ins.excluded.first_seen_at),
                  "age_band": sa.func.coalesce(ins.excluded.age_band, players.c.age_band)},
        )
    await conn.execute(stmt)


async def write_game(*, engine: AsyncEngine, game: FinishedGame) -> bool:
    """Write one finished game in one transaction. True if written, False if already there."""
    try:
        async with engine.begin() as conn:
            if await game_exists(conn=conn, game_id=game.game_id):
                return False
            if await _erased_after(conn, game):
                return False  # the child's data was deleted after this game: it stays deleted
            await _insert_game(conn, game)
        return True
    except IntegrityError:
        # Another writer got there first (the unique game_id): idempotent, not an error.
        async with engine.connect() as conn:
            if await game_exists(conn=conn, game_id=game.game_id):
                return False
        raise


async def _erased_after(conn: AsyncConnection, game: FinishedGame) -> bool:
    """Whether a deletion request for the game's player came at or after the game ended."""
    found = await conn.execute(
        sa.select(erasure_markers.c.id)
        .where(erasure_markers.c.subject_key == erasure_subject_key(game.player_id),
               erasure_markers.c.erased_at >= ms_to_datetime(game.ended_at_ms))
        .limit(1))
    return found.first() is not None


async def _insert_game(conn: AsyncConnection, game: FinishedGame) -> None:
    await _upsert_player(conn, game)
    recognized = sum(1 for s in game.stages if s.outcome is StageOutcome.RECOGNIZED)
    await conn.execute(games.insert().values(
        game_id=game.game_id, player_id=game.player_id, category=game.category,
        class_code=game.class_code, age_band=game.age_band, outcome=str(game.outcome),
        started_at=ms_to_datetime(game.started_at_ms), ended_at=ms_to_datetime(game.ended_at_ms),
        duration_ms=max(0, game.ended_at_ms - game.started_at_ms),
        stage_count=len(game.stages), recognized_count=recognized,
        extra=dict(game.extra) or None, recorded_at=datetime.now(UTC).replace(tzinfo=None),
    ))
    for s in game.stages:
        result = await conn.execute(stages.insert().values(
            game_id=game.game_id, stage_index=s.index, label=s.label, name_ko=s.name_ko,
            name_en=s.name_en, time_limit_s=s.time_limit_s,
            started_at=ms_to_datetime(s.started_at_ms), ended_at=ms_to_datetime(s.ended_at_ms),
            outcome=str(s.outcome), recognized=s.outcome is StageOutcome.RECOGNIZED,
            time_to_recognize_ms=s.time_to_recognize_ms,
            final_guesses=[[label, p] for label, p in s.final_guesses] or None,
        ))
        stage_id = result.inserted_primary_key[0]
        guess_rows = [
            {"stage_id": stage_id, "snapshot_index": i, "guess_rank": r, "t_ms": snap.t_ms,
             "label": label, "probability": p}
            for i, snap in enumerate(s.guesses) for r, (label, p) in enumerate(snap.guesses)
        ]
        if guess_rows:
            await conn.execute(stage_guesses.insert(), guess_rows)
        times = [p[2] for stroke in s.strokes for p in stroke]
        await conn.execute(drawings.insert().values(
            stage_id=stage_id, canvas_width=s.canvas_width, canvas_height=s.canvas_height,
            stroke_count=len(s.strokes), point_count=len(times),
            first_t_ms=int(min(times)) if times else None,
            last_t_ms=int(max(times)) if times else None,
        ))
        stroke_rows = [
            {"stage_id": stage_id, "stroke_index": i,
             "t_start_ms": int(stroke[0][2]) if stroke else 0,
             "t_end_ms": int(stroke[-1][2]) if stroke else 0,
             "point_count": len(stroke), "points": [list(p) for p in stroke]}
            for i, stroke in enumerate(s.strokes)
        ]
        if stroke_rows:
            await conn.execute(drawing_strokes.insert(), stroke_rows)


async def delete_player(*, engine: AsyncEngine, player_id: str) -> int:
    """Delete a player and everything recorded about them (cascades). Returns games deleted."""
    async with engine.begin() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(games)
                                .where(games.c.player_id == player_id))).scalar_one()
        stage_ids = sa.select(stages.c.id).join(games, games.c.game_id == stages.c.game_id) \
            .where(games.c.player_id == player_id)
        # Explicit deletes, children first: SQLite enforces no foreign keys by default.
        await conn.execute(drawing_strokes.delete().where(drawing_strokes.c.stage_id.in_(stage_ids)))
        await conn.execute(drawings.delete().where(drawings.c.stage_id.in_(stage_ids)))
        await conn.execute(stage_guesses.delete().where(stage_guesses.c.stage_id.in_(stage_ids)))
        await conn.execute(stages.delete().where(stages.c.game_id.in_(
            sa.select(games.c.game_id).where(games.c.player_id == player_id))))
        await conn.execute(games.delete().where(games.c.player_id == player_id))
        await conn.execute(players.delete().where(players.c.player_id == player_id))
    return int(n)


async def table_counts(*, engine: AsyncEngine) -> dict[str, int]:
    """Rows per results table (for tests and status pages)."""
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        for t in (players, games, stages, stage_guesses, drawings, drawing_strokes):
            out[t.name] = (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
    return out
