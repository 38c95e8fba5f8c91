"""Research consent, withdrawal, erasure and the retention purge (keyword-only async functions).

Rules (docs/privacy.md):

- A drawing may be used for research only while its player has an *active* consent (not
  withdrawn) that covers the start of the drawing's game: granted at or before it, or renewing
  (superseding while active) a consent that covered it (`covers_from`).
- Without such consent a drawing is kept only for the running game and the school's results, and
  `run_purge` deletes it once its game ended more than `retention_days` ago. The school's results
  (games, stages, guesses) stay; only `drawings` and `drawing_strokes` rows go.
- `withdraw_consent` ends consent and deletes the player's drawings everywhere at once.
  `erase_player` (a deletion request) deletes everything about the player everywhere.
  "Everywhere" is: the results database, the live game store (`GameStore.games_of_player` +
  `delete_game`), the results outbox (a Redis stream and/or SQLite files, dead letters included).
  Then the files of those stores are scrubbed (`scrub`: SQLite VACUUM + -wal truncation, Redis
  AOF rewrite / RDB save), so the bytes go too, not only the rows.
- Every deletion writes a `deletion_log` row with counts and a salted hash, never the data.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from game.ids import check_player_id

from .consent_fields import check_adult_name, check_policy_version
from .privacy_tables import (
    consent_covers_from,
    deletion_log,
    erasure_markers,
    erasure_subject_key,
    research_consents,
)
from .repo import delete_player
from .scrub import (
    mariadb_retention_warnings,
    mariadb_variables,
    rewrite_redis_persistence,
    scrub_results_database,
    scrub_sqlite,
)
from .tables import drawing_strokes, drawings, games, players, stage_guesses, stages

log = structlog.get_logger("legacy_bridge.privacy")

ROLES = frozenset({"guardian", "teacher"})
DEFAULT_OUTBOX_STREAM = "doodle:results:outbox"
# How long cleaning an SQLite outbox file waits for the drainer's connection (a write, or a
# reader keeping the -wal checkpoint from finishing) before the deletion fails with ScrubError.
OUTBOX_BUSY_TIMEOUT_S = 30.0


def utcnow() -> datetime:
    """Now as a naive UTC datetime (how the DATETIME(3) columns hold UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def subject_ref(player_id: str, salt: str) -> str:
    """The pseudonymised reference kept in the deletion log: sha256(salt + ":" + player_id)."""
    return hashlib.sha256(f"{salt}:{player_id}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Consent:
    id: int
    player_id: str
    policy_version: str
    granted_at: datetime
    granted_by_role: str
    granted_by_name: str | None
    withdrawn_at: datetime | None
    withdrawn_by_role: str | None
    withdrawn_by_name: str | None
    covers_from: datetime | None = None  # games started at or after it are covered

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "policy_version": self.policy_version,
                "granted_at": _iso(self.granted_at), "granted_by_role": self.granted_by_role,
                "granted_by_name": self.granted_by_name,
                "withdrawn_at": _iso(self.withdrawn_at),
                "withdrawn_by_role": self.withdrawn_by_role,
                "withdrawn_by_name": self.withdrawn_by_name, "active": self.active,
                "covers_games_from": _iso(self.covers_from or self.granted_at)}


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.replace(tzinfo=UTC).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class DeletionReport:
    """What one deletion removed (also what goes into the deletion log's `counts`)."""

    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    # Stores whose files were rewritten after the deletion ("outbox_file", "results_sqlite",
    # "redis_aof", "redis_rdb"): kept out of `counts`, which the deletion log holds.
    scrubbed: list[str] = field(default_factory=list)
    # What a store keeps anyway, by its configuration (e.g. MariaDB binary logs), as sentences.
    warnings: list[str] = field(default_factory=list)

    def add(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + int(n)


# --------------------------------------------------------------------------- consent records


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}, got {role!r}")
    return role


async def record_consent(*, engine: AsyncEngine, player_id: str, policy_version: str,
                         granted_by_role: str, granted_by_name: str | None = None,
                         now: datetime | None = None) -> Consent:
    """Record research consent for `player_id`, given by an adult (`granted_by_role` "guardian"
    or "teacher", optionally the adult's name). An already active consent is superseded (marked
    withdrawn at the same instant, by the same adult) so at most one consent is active.

    A renewal keeps what the consent it supersedes covered: its `covers_from` is carried over,
    so games covered before (and not deleted) stay covered. A consent recorded when none is
    active (never given, or withdrawn in between, which deleted the drawings) covers games from
    now on only."""
    _check_role(granted_by_role)
    check_player_id(player_id)
    policy_version = check_policy_version(policy_version)
    granted_by_name = check_adult_name(granted_by_name)
    at = _naive_utc(now or utcnow())
    async with engine.begin() as conn:
        active = research_consents.c.player_id == player_id, \
            research_consents.c.withdrawn_at.is_(None)
        earlier = (await conn.execute(
            sa.select(sa.func.min(consent_covers_from())).where(*active))).scalar_one()
        covers_from = min(earlier, at) if earlier is not None else at
        await conn.execute(research_consents.update().where(*active).values(
            withdrawn_at=at, withdrawn_by_role=granted_by_role,
            withdrawn_by_name=granted_by_name))
        result = await conn.execute(research_consents.insert().values(
            player_id=player_id, policy_version=policy_version, granted_at=at,
            granted_by_role=granted_by_role, granted_by_name=granted_by_name,
            covers_from=covers_from))
        consent_id = int(result.inserted_primary_key[0])
    return Consent(consent_id, player_id, policy_version, at, granted_by_role, granted_by_name,
                   None, None, None, covers_from)


async def consents_of_player(*, engine: AsyncEngine, player_id: str) -> list[Consent]:
    """Every consent record of a player, oldest first."""
    check_player_id(player_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(research_consents).where(
            research_consents.c.player_id == player_id).order_by(research_consents.c.id))).all()
    return [Consent(int(r.id), r.player_id, r.policy_version, r.granted_at, r.granted_by_role,
                    r.granted_by_name, r.withdrawn_at, r.withdrawn_by_role, r.withdrawn_by_name,
                    r.covers_from)
            for r in rows]


async def active_consent(*, engine: AsyncEngine, player_id: str) -> Consent | None:
    """The player's active consent, or None."""
    return next((c for c in await consents_of_player(engine=engine, player_id=player_id)
                 if c.active), None)


def consent_covers(game_started_at: Any) -> sa.ColumnElement[bool]:
    """SQL: an active consent of the game's player covering games from `game_started_at` (a
    column) on. The purge uses it; the export joins the same condition (`covered_by`)."""
    rc = research_consents.alias("rc_cover")
    return sa.exists(sa.select(rc.c.id).where(covered_by(rc, game_started_at)))


def covered_by(rc: Any, game_started_at: Any) -> sa.ColumnElement[bool]:
    """SQL: the consent row `rc` is active, of the game's player, and covers a game that
    started at `game_started_at`."""
    return sa.and_(rc.c.player_id == games.c.player_id, rc.c.withdrawn_at.is_(None),
                   consent_covers_from(rc) <= game_started_at)


# --------------------------------------------------------------------------- local stores


@dataclass(frozen=True, slots=True)
class LocalStores:
    """Every place besides the results database where a child's drawings may be.

    store: the live game store (`game.store.GameStore`) or None.
    redis: a `redis.asyncio.Redis` holding the results outbox stream (and its `:dead` stream).
    outbox_streams: the stream keys to clean (default the bridge's `doodle:results:outbox`).
    outbox_files: SQLite outbox files (`results-outbox.sqlite3`), cleaned in place.
    """

    store: Any | None = None
    redis: Any | None = None
    outbox_streams: tuple[str, ...] = (DEFAULT_OUTBOX_STREAM,)
    outbox_files: tuple[Path, ...] = ()
    # Other holders of a child's drawings or id (the server's class gallery, the classes'
    # seats): each has `async forget_player(player_id) -> int`, how many it erased, and may
    # name itself in the report (`erasure_name`, default "class_gallery").
    drawing_keepers: tuple[Any, ...] = ()


def _strip_drawings(payload: dict[str, Any]) -> None:
    for s in payload.get("stages", []):
        s["strokes"] = []


async def _clean_live_store(store: Any, player_id: str, report: DeletionReport) -> None:
    game_ids = await store.games_of_player(player_id)
    for game_id in game_ids:
        await store.delete_game(game_id)
    report.add("live_games", len(game_ids))


def _b(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


async def _clean_redis_stream(redis: Any, key: str, player_id: str, erase: bool,
                              report: DeletionReport) -> None:
    """Entries of `player_id` leave the stream (erase) or lose their strokes (withdraw: the
    school's result still reaches the database; the rewritten entry goes to the stream's end,
    which is fine since writes are idempotent and per game)."""
    newest = await redis.xrevrange(key, "+", "-", count=1)
    if not newest:
        report.add("outbox_entries", 0)
        return
    end = _b(newest[0][0])  # entries rewritten below go after this one: not visited again
    last = "-"
    touched = 0
    while True:
        rows = await redis.xrange(key, last, end, count=200)
        if last != "-" and rows and _b(rows[0][0]) == last:
            rows = rows[1:]
        if not rows:
            break
        for entry_id, fields in rows:
            f = {_b(k): _b(v) for k, v in fields.items()}
            try:
                data = json.loads(f.get("payload", ""))
            except ValueError:
                continue  # an undecodable entry names no player we could match
            if data.get("player_id") != player_id:
                continue
            if erase:
                touched += 1
                await redis.xdel(key, entry_id)
                continue
            if not any(st.get("strokes") for st in data.get("stages", [])):
                continue  # no drawing left in it
            touched += 1
            _strip_drawings(data)
            f["payload"] = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            async with redis.pipeline(transaction=True) as pipe:
                pipe.xadd(key, f)
                pipe.xdel(key, entry_id)
                await pipe.execute()
        last = _b(rows[-1][0])
    report.add("outbox_entries", touched)


def _clean_sqlite_outbox(path: Path, player_id: str, erase: bool) -> int:
    """Same as `_clean_redis_stream` for an SQLite outbox file (WAL: safe beside the drainer)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, isolation_level=None, timeout=OUTBOX_BUSY_TIMEOUT_S)
    touched = 0
    try:
        db.execute("PRAGMA secure_delete=ON")
        db.execute("BEGIN IMMEDIATE")
        for table in ("outbox", "dead_letters"):
            try:
                rows = db.execute(f"SELECT seq, payload FROM {table}").fetchall()  # noqa: S608
            except sqlite3.OperationalError:
                continue  # table not created yet
            for seq, payload in rows:
                try:
                    data = json.loads(payload)
                except ValueError:
                    continue
                if data.get("player_id") != player_id:
                    continue
                if not erase and not any(st.get("strokes") for st in data.get("stages", [])):
                    continue
                touched += 1
                if erase:
                    db.execute(f"DELETE FROM {table} WHERE seq = ?", (seq,))  # noqa: S608
                else:
                    _strip_drawings(data)
                    db.execute(f"UPDATE {table} SET payload = ? WHERE seq = ?",  # noqa: S608
                               (json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                                seq))
        db.execute("COMMIT")
        # Always, even when no entry is left to delete: entries the drainer already wrote to
        # the database and acknowledged still have their bytes in the `-wal` file's old frames
        # and in free pages of the file.
        scrub_sqlite(db)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()
    return touched


async def _clean_local(local: LocalStores | None, player_id: str, erase: bool,
                       report: DeletionReport) -> None:
    if local is None:
        return
    # Outbox first: an entry still waiting there would otherwise write the drawing back later.
    if local.redis is not None:
        for key in local.outbox_streams:
            for k in (key, f"{key}:dead"):
                await _clean_redis_stream(local.redis, k, player_id, erase, report)
    for path in local.outbox_files:
        report.add("outbox_entries",
                   await asyncio.to_thread(_clean_sqlite_outbox, Path(path), player_id, erase))
    if local.store is not None:
        await _clean_live_store(local.store, player_id, report)
    for keeper in local.drawing_keepers:  # before the scrub, so their bytes go too
        report.add(getattr(keeper, "erasure_name", "class_gallery"),
                   await keeper.forget_player(player_id))


async def _scrub(engine: AsyncEngine, local: LocalStores | None,
                 report: DeletionReport) -> None:
    """After the rows are gone, their bytes leave the files (`scrub`): the SQLite outbox files
    were scrubbed while cleaned; here the results database (SQLite) and Redis's AOF / RDB."""
    if local is not None and any(Path(p).exists() for p in local.outbox_files):
        report.scrubbed.append("outbox_file")  # (scrubbed in _clean_sqlite_outbox)
    if await scrub_results_database(engine):
        report.scrubbed.append("results_sqlite")
    elif engine.dialect.name in ("mysql", "mariadb"):
        try:
            report.warnings.extend(mariadb_retention_warnings(await mariadb_variables(engine)))
        except Exception as e:  # noqa: BLE001 - a report about the server, not the deletion
            report.warnings.append(f"could not read the MariaDB settings: {type(e).__name__}")
    if local is not None and local.redis is not None:
        report.scrubbed.extend(f"redis_{kind}" for kind in
                               await rewrite_redis_persistence(local.redis))


# --------------------------------------------------------------------------- deletions


def _stage_ids_of_player(player_id: str) -> sa.Select[Any]:
    return sa.select(stages.c.id).join(games, games.c.game_id == stages.c.game_id) \
        .where(games.c.player_id == player_id)


async def _delete_drawings(conn: AsyncConnection, stage_ids: Any) -> tuple[int, int]:
    """Delete drawings (and strokes) of the stages `stage_ids` (a list or a subquery)."""
    s = (await conn.execute(drawing_strokes.delete().where(
        drawing_strokes.c.stage_id.in_(stage_ids)))).rowcount
    d = (await conn.execute(drawings.delete().where(drawings.c.stage_id.in_(stage_ids)))).rowcount
    return int(d), int(s)


async def _log_deletion(conn: AsyncConnection, *, reason: str, player_id: str | None,
                        requested_by_role: str | None, counts: dict[str, int],
                        at: datetime) -> None:
    salt = secrets.token_hex(16) if player_id is not None else None
    await conn.execute(deletion_log.insert().values(
        deleted_at=at, reason=reason,
        subject_ref=subject_ref(player_id, salt) if player_id is not None and salt else None,
        subject_salt=salt, requested_by_role=requested_by_role, counts=counts))


async def withdraw_consent(*, engine: AsyncEngine, player_id: str, withdrawn_by_role: str,
                           withdrawn_by_name: str | None = None, local: LocalStores | None = None,
                           now: datetime | None = None) -> DeletionReport:
    """Withdraw research consent and delete the player's drawings from the results database,
    the outbox (strokes stripped, the school's result kept) and the live game store. The consent
    rows stay, marked withdrawn (the record that consent was withdrawn, and when)."""
    _check_role(withdrawn_by_role)
    check_player_id(player_id)
    withdrawn_by_name = check_adult_name(withdrawn_by_name)
    at = _naive_utc(now or utcnow())
    report = DeletionReport("withdrawal")
    await _clean_local(local, player_id, erase=False, report=report)
    async with engine.begin() as conn:
        n = (await conn.execute(research_consents.update().where(
            research_consents.c.player_id == player_id,
            research_consents.c.withdrawn_at.is_(None),
        ).values(withdrawn_at=at, withdrawn_by_role=withdrawn_by_role,
                 withdrawn_by_name=withdrawn_by_name))).rowcount
        report.add("consents_withdrawn", n)
        stage_ids = [r[0] for r in (await conn.execute(_stage_ids_of_player(player_id))).all()]
        d = s = 0
        for i in range(0, len(stage_ids), 500):
            dd, ss = await _delete_drawings(conn, stage_ids[i:i + 500])
            d, s = d + dd, s + ss
        report.add("drawings", d)
        report.add("drawing_strokes", s)
        await _log_deletion(conn, reason="withdrawal", player_id=player_id,
                            requested_by_role=withdrawn_by_role, counts=report.counts, at=at)
    await _scrub(engine, local, report)
    log.info("privacy.withdrawal", counts=report.counts)  # no player id in logs
    return report


async def erase_player(*, engine: AsyncEngine, player_id: str, requested_by_role: str,
                       local: LocalStores | None = None,
                       now: datetime | None = None) -> DeletionReport:
    """A deletion request: everything about the player goes, from the results database (player,
    games, stages, guesses, drawings, consent records), the outbox and the live game store. Only
    a deletion-log row with counts and a salted hash remains."""
    _check_role(requested_by_role)
    check_player_id(player_id)
    at = _naive_utc(now or utcnow())
    report = DeletionReport("erasure")
    # First the marker: from now on no game of this player that has already ended can be
    # written, whichever outbox or drainer is holding it right now.
    async with engine.begin() as conn:
        await conn.execute(erasure_markers.insert().values(
            subject_key=erasure_subject_key(player_id), erased_at=at))
    await _clean_local(local, player_id, erase=True, report=report)
    async with engine.connect() as conn:
        stage_ids = _stage_ids_of_player(player_id)
        for key, table, col in (("drawings", drawings, drawings.c.stage_id),
                                ("drawing_strokes", drawing_strokes, drawing_strokes.c.stage_id),
                                ("stage_guesses", stage_guesses, stage_guesses.c.stage_id)):
            report.add(key, (await conn.execute(sa.select(sa.func.count()).select_from(table)
                                                .where(col.in_(stage_ids)))).scalar_one())
        report.add("stages", (await conn.execute(
            sa.select(sa.func.count()).select_from(stages.join(
                games, games.c.game_id == stages.c.game_id)).where(
                games.c.player_id == player_id))).scalar_one())
    report.add("games", await delete_player(engine=engine, player_id=player_id))
    async with engine.begin() as conn:
        report.add("consents", (await conn.execute(research_consents.delete().where(
            research_consents.c.player_id == player_id))).rowcount)
        await _log_deletion(conn, reason="erasure", player_id=player_id,
                            requested_by_role=requested_by_role, counts=report.counts, at=at)
    await _scrub(engine, local, report)
    log.info("privacy.erasure", counts=report.counts)
    return report


# --------------------------------------------------------------------------- retention purge


async def run_purge(engine: AsyncEngine, now: datetime, *, retention_days: float = 30.0,
                    batch_size: int = 500) -> DeletionReport:
    """Delete the drawings no active consent covers whose game ended before
    `now - retention_days`; nothing else (the school's results stay). Logged once per run."""
    cutoff = _naive_utc(now) - timedelta(days=retention_days)
    report = DeletionReport("retention")
    due = (sa.select(drawings.c.stage_id)
           .join(stages, stages.c.id == drawings.c.stage_id)
           .join(games, games.c.game_id == stages.c.game_id)
           .where(games.c.ended_at < cutoff, ~consent_covers(games.c.started_at))
           .order_by(drawings.c.stage_id).limit(batch_size))
    while True:
        async with engine.begin() as conn:
            ids = [r[0] for r in (await conn.execute(due)).all()]
            if not ids:
                break
            d, s = await _delete_drawings(conn, ids)
        report.add("drawings", d)
        report.add("drawing_strokes", s)
        if len(ids) < batch_size:
            break
    if report.counts.get("drawings"):
        async with engine.begin() as conn:
            await _log_deletion(conn, reason="retention", player_id=None, requested_by_role=None,
                                counts=report.counts, at=_naive_utc(now))
        log.info("privacy.purge", counts=report.counts)
    return report


async def purge_loop(*, engine: AsyncEngine, retention_days: float, interval_s: float,
                     clock: Callable[[], datetime] = utcnow,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Run `run_purge` now and then every `interval_s`, until cancelled. A failed run (database
    down) is logged and retried at the next interval. Start it with `asyncio.create_task`."""
    while True:
        try:
            await run_purge(engine, clock(), retention_days=retention_days)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the loop must outlive a database outage
            log.warning("privacy.purge_failed", error=f"{type(e).__name__}: {e}")
        await sleep(interval_s)


async def deletion_log_rows(*, engine: AsyncEngine) -> list[dict[str, Any]]:
    """The deletion log, oldest first (for tests and audits)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(deletion_log).order_by(deletion_log.c.id))).all()
    return [dict(r._mapping) for r in rows]


def all_results_tables() -> Iterable[sa.Table]:
    """Every table the results database holds a child's data in (for erasure checks)."""
    return (players, games, stages, stage_guesses, drawings, drawing_strokes, research_consents,
            deletion_log)
