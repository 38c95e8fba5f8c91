"""Making deleted rows leave the files too, not only the tables (docs/privacy.md, "Deletion").

A `DELETE` removes a row from what queries see, but storage engines keep the old bytes around:
SQLite in free space of pages and in the `-wal` file (frames are only overwritten when the log
wraps), Redis in its append-only file (every `XADD` stays in it until the file is rewritten).
After a withdrawal or an erasure the caller scrubs every store it cleaned:

- SQLite (the outbox file and the embedded results database): `secure_delete` on every
  connection (deleted content is overwritten with zeros), then `VACUUM` (rebuilds the file, so
  pages freed before `secure_delete` was on are gone too) and `wal_checkpoint(TRUNCATE)` (the
  `-wal` file is emptied to zero bytes). A checkpoint that cannot finish raises: the deletion is
  not reported done while old frames remain.
- Redis: `BGREWRITEAOF` when AOF is on (the rewritten file holds only what exists now) and
  `BGSAVE` when RDB snapshots are configured, each awaited until Redis reports it finished.
- MariaDB: nothing can be forced from here (InnoDB purges undo and reuses pages on its own,
  binary logs expire by configuration); what a school must configure is in docs/privacy.md,
  and `mariadb_retention_warnings` tells, in the deletion's answer, what the server's settings
  keep anyway (binary logs, query logs).
"""
from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


class ScrubError(RuntimeError):
    """Deleted data could not be removed from a store's files (the deletion is not complete)."""


def secure_delete_on_connect(engine: AsyncEngine) -> None:
    """Turn on `PRAGMA secure_delete` for every connection of an SQLite engine (no-op otherwise),
    so a deleted row's bytes are overwritten with zeros rather than left in free space."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()


def scrub_sqlite(db: sqlite3.Connection) -> None:
    """Rebuild an SQLite file and empty its write-ahead log (`db` in autocommit mode, no open
    transaction). Raises ScrubError when another connection keeps the checkpoint from finishing
    (the busy timeout of `db` applies first)."""
    db.execute("VACUUM")
    busy, _log_frames, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise ScrubError("the SQLite write-ahead log could not be emptied (a reader is busy)")


async def scrub_results_database(engine: AsyncEngine) -> bool:
    """Scrub the embedded SQLite results database after a deletion; True if done, False for a
    server database (MariaDB: see docs/privacy.md for what the school configures)."""
    if engine.dialect.name != "sqlite":
        return False
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("PRAGMA secure_delete=ON")
        await autocommit.exec_driver_sql("VACUUM")
        busy = (await autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).first()
    if busy is not None and busy[0]:
        raise ScrubError("the SQLite write-ahead log could not be emptied (a reader is busy)")
    return True


async def _info(redis: Any, section: str) -> dict[str, Any]:
    info = await redis.info(section)
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in info.items()}


async def _config(redis: Any, name: str) -> str:
    got = await redis.config_get(name)
    value = next(iter(got.values()), "") if got else ""
    return value.decode() if isinstance(value, bytes) else str(value)


async def _await_idle(redis: Any, flag: str, timeout_s: float) -> None:
    # Redis has no notification for a finished rewrite: poll INFO, bounded by `timeout_s`.
    deadline = time.monotonic() + timeout_s
    while int((await _info(redis, "persistence")).get(flag, 0)):
        if time.monotonic() > deadline:
            raise ScrubError(f"Redis did not finish ({flag}) within {timeout_s} s")
        await asyncio.sleep(0.05)


async def _bgrewriteaof(redis: Any, timeout_s: float) -> None:
    """Our own AOF rewrite, started after the deletion. One already running (another deletion,
    Redis's own auto-rewrite) may have started before it: wait for it and start ours."""
    deadline = time.monotonic() + timeout_s
    while True:
        await _await_idle(redis, "aof_rewrite_in_progress", timeout_s)
        try:
            await redis.bgrewriteaof()
            break
        except Exception as e:  # noqa: BLE001 - "already in progress": another client's
            if "progress" not in str(e) or time.monotonic() > deadline:
                raise ScrubError(f"Redis AOF rewrite could not start: {e}") from e
    # While an RDB save runs the rewrite is only scheduled: aof_rewrite_scheduled, then
    # aof_rewrite_in_progress, stay set until it is done.
    await _await_idle(redis, "aof_rewrite_scheduled", timeout_s)
    await _await_idle(redis, "aof_rewrite_in_progress", timeout_s)


async def _bgsave(redis: Any, timeout_s: float) -> None:
    """Our own BGSAVE, started after the deletion (one already running may predate it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        await _await_idle(redis, "rdb_bgsave_in_progress", timeout_s)
        await _await_idle(redis, "aof_rewrite_in_progress", timeout_s)
        try:
            await redis.bgsave()
            break
        except Exception as e:  # noqa: BLE001 - "already in progress": another client's save
            if "progress" not in str(e) or time.monotonic() > deadline:
                raise ScrubError(f"Redis snapshot could not start: {e}") from e
    await _await_idle(redis, "rdb_bgsave_in_progress", timeout_s)


async def rewrite_redis_persistence(redis: Any, *, timeout_s: float = 120.0) -> list[str]:
    """Rewrite Redis's files so deleted keys and stream entries leave them: `BGREWRITEAOF`
    when `appendonly` is on, `BGSAVE` when `save` has rules. Waits for each to finish; returns
    what was done (e.g. `["aof"]`). A Redis whose CONFIG command is disabled (some managed
    services) is reported as `["unknown"]`: its operator must rewrite the files."""
    try:
        appendonly = await _config(redis, "appendonly")
        save = await _config(redis, "save")
    except Exception:  # noqa: BLE001 - CONFIG renamed or refused: say so rather than fail
        return ["unknown"]
    done = []
    if appendonly == "yes":
        await _bgrewriteaof(redis, timeout_s)
        status = (await _info(redis, "persistence")).get("aof_last_bgrewrite_status", "ok")
        if str(status) != "ok":
            raise ScrubError(f"Redis AOF rewrite failed: {status}")
        done.append("aof")
    if save.strip():
        await _bgsave(redis, timeout_s)
        status = (await _info(redis, "persistence")).get("rdb_last_bgsave_status", "ok")
        if str(status) != "ok":
            raise ScrubError(f"Redis snapshot failed: {status}")
        done.append("rdb")
    return done


# --- MariaDB: what the server keeps after a DELETE, from its settings (docs/privacy.md)

MARIADB_VARIABLES = ("log_bin", "binlog_expire_logs_seconds", "expire_logs_days", "general_log",
                     "slow_query_log", "innodb_file_per_table")


def _on(value: str | None) -> bool:
    return str(value).strip().upper() in {"ON", "1", "YES", "TRUE"}


def _number(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def mariadb_retention_warnings(variables: dict[str, str]) -> list[str]:
    """What a MariaDB configured with `variables` (SHOW GLOBAL VARIABLES) keeps of deleted rows
    beyond the tables, as sentences for the deletion's answer; [] when configured as
    docs/privacy.md asks. (InnoDB's free page space is always a concern: the periodic
    OPTIMIZE TABLE in the docs handles it, and no setting reports it.)"""
    out = []
    if _on(variables.get("log_bin")):
        days = max(_number(variables.get("binlog_expire_logs_seconds")) / 86400,
                   _number(variables.get("expire_logs_days")))
        if days <= 0:
            out.append("binary logs are on and never expire: the deleted rows stay in them "
                       "(set binlog_expire_logs_seconds)")
        else:
            out.append(f"binary logs keep the deleted rows for up to {days:g} days")
    if _on(variables.get("general_log")):
        out.append("the general query log is on: it holds the statements that wrote the "
                   "drawings (set general_log = OFF and remove the log file)")
    if _on(variables.get("slow_query_log")):
        out.append("the slow query log is on: it may hold statements that wrote drawings")
    if "innodb_file_per_table" in variables and not _on(variables["innodb_file_per_table"]):
        out.append("innodb_file_per_table is off: OPTIMIZE TABLE cannot rewrite deleted rows "
                   "out of the shared system tablespace")
    return out


async def mariadb_variables(engine: AsyncEngine) -> dict[str, str]:
    """The server's values of MARIADB_VARIABLES (those it has)."""
    names = ", ".join(f"'{n}'" for n in MARIADB_VARIABLES)  # constants, not input
    async with engine.connect() as conn:
        rows = (await conn.exec_driver_sql(
            f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})")).all()
    return {str(name): str(value) for name, value in rows}
