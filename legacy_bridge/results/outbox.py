"""The local outbox: finished games kept durably before they reach the database.

Two backends behind one interface: a Redis stream (when Redis is configured) and an SQLite file
(the embedded default). Entries come out oldest first; an entry leaves only when acknowledged
(after its database transaction committed), so a crash in between re-delivers it and the
database's unique `game_id` turns the second write into a no-op.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    entry_id: str
    game_id: str
    payload: str


class Outbox(Protocol):
    async def append(self, game_id: str, payload: str) -> None:
        """Keep one entry durably (returns once kept)."""
        ...

    async def peek(self, limit: int) -> list[OutboxEntry]:
        """Up to `limit` oldest entries, without removing them."""
        ...

    async def ack(self, entry_id: str) -> None:
        """Remove an entry that reached the database."""
        ...

    async def dead_letter(self, entry: OutboxEntry, reason: str) -> None:
        """Move an entry that can never be written aside (kept for a human, not dropped)."""
        ...

    async def size(self) -> int: ...

    async def dead_letter_count(self) -> int: ...

    async def close(self) -> None: ...


class SqliteOutbox:
    """An SQLite file in WAL mode with `synchronous=FULL` (an append survives a power cut) and
    `secure_delete` (a removed entry leaves no bytes in the file's pages)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # An acknowledged or erased entry's bytes are zeroed, not left in a free page
        # (erasure then empties the -wal file: legacy_bridge.results.scrub).
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " game_id TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (seq INTEGER PRIMARY KEY,"
            " game_id TEXT NOT NULL, payload TEXT NOT NULL, reason TEXT NOT NULL,"
            " created_at REAL NOT NULL)")

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    async def append(self, game_id: str, payload: str) -> None:
        await asyncio.to_thread(self._run, "INSERT INTO outbox (game_id, payload, created_at)"
                                " VALUES (?, ?, ?)", (game_id, payload, time.time()))

    async def peek(self, limit: int) -> list[OutboxEntry]:
        rows = await asyncio.to_thread(
            self._run, "SELECT seq, game_id, payload FROM outbox ORDER BY seq LIMIT ?", (limit,))
        return [OutboxEntry(str(seq), gid, payload) for seq, gid, payload in rows]

    async def ack(self, entry_id: str) -> None:
        await asyncio.to_thread(self._run, "DELETE FROM outbox WHERE seq = ?", (int(entry_id),))

    async def dead_letter(self, entry: OutboxEntry, reason: str) -> None:
        def move() -> None:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(
                        "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?)",
                        (int(entry.entry_id), entry.game_id, entry.payload, reason, time.time()))
                    self._db.execute("DELETE FROM outbox WHERE seq = ?", (int(entry.entry_id),))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        await asyncio.to_thread(move)

    async def size(self) -> int:
        return (await asyncio.to_thread(self._run, "SELECT COUNT(*) FROM outbox"))[0][0]

    async def dead_letter_count(self) -> int:
        return (await asyncio.to_thread(self._run, "SELECT COUNT(*) FROM dead_letters"))[0][0]

    async def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisOutbox:
    """A Redis stream (`XADD`, never trimmed). Durable as Redis is: run it with AOF
    (`appendonly yes`, `appendfsync everysec` or `always`) so a restart keeps the backlog."""

    def __init__(self, redis: Any, stream_key: str = "doodle:results:outbox") -> None:
        self.redis = redis
        self.key = stream_key
        self.dead_key = f"{stream_key}:dead"

    async def append(self, game_id: str, payload: str) -> None:
        await self.redis.xadd(self.key, {"game_id": game_id, "payload": payload})

    async def peek(self, limit: int) -> list[OutboxEntry]:
        rows = await self.redis.xrange(self.key, "-", "+", count=limit)
        out = []
        for entry_id, fields in rows:
            f = {_s(k): _s(v) for k, v in fields.items()}
            out.append(OutboxEntry(_s(entry_id), f.get("game_id", ""), f.get("payload", "")))
        return out

    async def ack(self, entry_id: str) -> None:
        await self.redis.xdel(self.key, entry_id)

    async def dead_letter(self, entry: OutboxEntry, reason: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_key, {"entry_id": entry.entry_id, "game_id": entry.game_id,
                                      "payload": entry.payload, "reason": reason})
            pipe.xdel(self.key, entry.entry_id)
            await pipe.execute()

    async def size(self) -> int:
        return int(await self.redis.xlen(self.key))

    async def dead_letter_count(self) -> int:
        return int(await self.redis.xlen(self.dead_key))

    async def close(self) -> None:
        pass  # the Redis client belongs to the caller


def _s(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
