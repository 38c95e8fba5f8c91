"""`ResultsSink`: a `game.records.ResultSink` that never loses a finished game.

`record()` appends to the outbox and returns. A drainer task migrates the database when it can,
then writes outbox entries one by one, oldest first; on a database error it waits (exponential
backoff, capped) and retries the same entry, so order is kept and a long outage only grows the
backlog. Only entries that can never be written (undecodable, or rejected data) are set aside as
dead letters, and those stay in the outbox store for a human.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from game.records import FinishedGame

from .. import metrics
from ..errors import UndecodableRecord
from ..retry import RetryPolicy, backoff_delays
from .codec import decode_game, encode_game
from .migrate import upgrade_async
from .outbox import Outbox
from .repo import write_game
from .storable import storable

log = structlog.get_logger("legacy_bridge.results")


class ResultsSink:
    """Durable, ordered, exactly-once delivery of finished games into the results database.

    Args:
        outbox: where games wait (RedisOutbox or SqliteOutbox).
        fallback_outbox: used by `record` when `outbox` fails (Redis down or restarting): a
            local SqliteOutbox, so a finished game is kept even then. Drained first.
        engine: async engine of the results database.
        migrate: run Alembic `upgrade head` (retrying until the database answers) before writing.
        batch_size: entries read from the outbox at a time.
        retry: backoff between failed database attempts (`attempts` is ignored: it never gives up).
        idle_poll_s: how often an idle drainer looks at the outbox anyway (another process may
            have appended to a shared Redis stream).
    """

    def __init__(self, outbox: Outbox, engine: AsyncEngine, *,
                 fallback_outbox: Outbox | None = None, migrate: bool = True,
                 batch_size: int = 50, retry: RetryPolicy | None = None,
                 idle_poll_s: float = 5.0,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.fallback_outbox = fallback_outbox
        # Local fallback first: it only holds games from while the primary was failing.
        self._outboxes = [o for o in (fallback_outbox, outbox) if o is not None]
        self.engine = engine
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy(attempts=12, base_delay_s=0.5, max_delay_s=15.0)
        self.idle_poll_s = idle_poll_s
        self._wall = wall_clock
        self._schema_ready = asyncio.Event()  # set once the schema is the newest
        if not migrate:
            self._schema_ready.set()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._backlog = 0
        self._dead = 0
        self._written = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_write_at: float | None = None

    # --- ResultSink

    async def record(self, game: FinishedGame) -> None:
        """Keep `game` durably in the outbox; the drainer writes it to the database later."""
        payload = encode_game(game)
        try:
            await self.outbox.append(game.game_id, payload)
        except Exception as e:
            if self.fallback_outbox is None:
                raise
            log.warning("results_outbox_fallback", game_id=game.game_id, error=repr(e))
            await self.fallback_outbox.append(game.game_id, payload)
        self._backlog += 1
        metrics.RESULTS_BACKLOG.set(self._backlog)
        self._drained.clear()
        self._wake.set()

    # --- drainer

    async def start(self) -> None:
        for outbox in self._outboxes:
            try:
                self._backlog += await outbox.size()
                self._dead += await outbox.dead_letter_count()
            except Exception as e:  # noqa: BLE001 - e.g. Redis down at start: the drainer retries
                self._note_error(e)
        metrics.RESULTS_BACKLOG.set(self._backlog)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="results-drainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def wait_drained(self, timeout_s: float) -> None:
        """Wait until the outbox is empty (raises TimeoutError after `timeout_s`)."""
        await asyncio.wait_for(self._drained.wait(), timeout_s)

    async def _run(self) -> None:
        while True:
            # Cleared before looking, so a record() during drain_once() is never missed.
            self._wake.clear()
            try:
                progressed = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the drainer must outlive any error
                self._note_error(e)
                await asyncio.sleep(self._next_delay())
                continue
            if progressed or self._wake.is_set():
                continue
            self._drained.set()
            try:
                await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)
            except TimeoutError:
                pass

    async def schema_ready(self) -> None:
        """Return once the database has the newest schema (the drainer migrates it when the
        database first answers)."""
        await self._schema_ready.wait()

    async def drain_once(self) -> int:
        """Write what the outbox holds, in order, until it is empty. Returns entries handled;
        raises the database error that stopped it (the caller backs off and calls again)."""
        if not self._schema_ready.is_set():
            await upgrade_async(self.engine)
            self._schema_ready.set()
            log.info("results_schema_ready")
        handled = 0
        for outbox in self._outboxes:
            handled += await self._drain(outbox)
        self._backlog = 0
        metrics.RESULTS_BACKLOG.set(0)
        return handled

    async def _drain(self, outbox: Outbox) -> int:
        handled = 0
        while entries := await outbox.peek(self.batch_size):
            self._backlog = sum([await o.size() for o in self._outboxes])
            metrics.RESULTS_BACKLOG.set(self._backlog)
            for entry in entries:
                try:
                    game, problems = storable(decode_game(entry.payload))
                    inserted = await write_game(engine=self.engine, game=game)
                except (UndecodableRecord, DataError, IntegrityError) as e:
                    # Never writable as it is (write_game already turned a duplicate game_id
                    # into success): set it aside rather than block every later game.
                    await self._set_aside(outbox, entry, e)
                    handled += 1
                    continue
                if problems:
                    # The rest of the game is in the database; the original, with the strokes
                    # that could not be written, is kept as a dead letter for a human.
                    await self._set_aside(outbox, entry, "; ".join(problems))
                else:
                    await outbox.ack(entry.entry_id)
                handled += 1
                self._failures = 0
                self._last_write_at = self._wall()
                self._written += 1
                metrics.RESULTS_WRITTEN.labels("inserted" if inserted else "duplicate").inc()
                self._backlog = max(0, self._backlog - 1)
                metrics.RESULTS_BACKLOG.set(self._backlog)
        return handled

    async def _set_aside(self, outbox: Outbox, entry: Any, error: BaseException | str) -> None:
        reason = (error if isinstance(error, str) else f"{type(error).__name__}: {error}")[:2000]
        await outbox.dead_letter(entry, reason)
        self._dead += 1
        metrics.RESULTS_DEAD_LETTERS.inc()
        log.error("results_dead_letter", game_id=entry.game_id, reason=reason)

    def _note_error(self, e: BaseException) -> None:
        self._failures += 1
        self._last_error = f"{type(e).__name__}: {str(e)[:500]}"
        self._last_error_at = self._wall()
        metrics.RESULTS_WRITE_ERRORS.inc()
        log.warning("results_write_failed", error=self._last_error, failures=self._failures,
                    backlog=self._backlog)

    def _next_delay(self) -> float:
        delays = backoff_delays(RetryPolicy(attempts=min(self._failures, 30) + 1,
                                            base_delay_s=self.retry.base_delay_s,
                                            factor=self.retry.factor,
                                            max_delay_s=self.retry.max_delay_s,
                                            jitter=self.retry.jitter))
        return delays[-1] if delays else self.retry.base_delay_s

    # --- health

    def status(self) -> dict[str, Any]:
        """For /healthz: backlog, failures in a row, last error, dead letters."""
        return {
            "state": "ok" if self._failures == 0 else "backlogged",
            "backlog": self._backlog,
            "written": self._written,
            "consecutive_failures": self._failures,
            "last_error": self._last_error,
            "last_error_at": _iso(self._last_error_at),
            "last_write_at": _iso(self._last_write_at),
            "dead_letters": self._dead,
            "schema_ready": self._schema_ready.is_set(),
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
