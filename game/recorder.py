"""Hands every finished game to the result sink, once it is kept durably there.

A game that finishes is marked "to record" in the store in the same atomic step; this loop turns
it into a `FinishedGame` and calls `ResultSink.record` (idempotent on the game id). Only then is
the game marked recorded, so a crash in between records it again rather than losing it.
"""
from __future__ import annotations

import asyncio
import logging

from game.records import ResultSink
from game.service import GameService

log = logging.getLogger(__name__)


class Recorder:
    """Drains finished games into `sink`.

    Args:
        keep_s: how long a recorded game stays in the store (a late tablet still gets game_over).
        poll_s: how often to look for games finished by other processes.
    """

    def __init__(
        self, service: GameService, sink: ResultSink, *, keep_s: int = 600, poll_s: float = 1.0
    ) -> None:
        self._service = service
        self._sink = sink
        self._keep_s = keep_s
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.recorded = 0

    def wake(self) -> None:
        """A game has just finished here: record it now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Record every finished game not yet recorded; returns how many were recorded."""
        done = 0
        for game_id in await self._service.store.games_to_record():
            try:
                record = await self._service.finished_record(game_id)
                await self._sink.record(record)
            except Exception:
                log.exception("could not record game %s yet; will retry", game_id)
                continue
            await self._service.store.mark_recorded(game_id, keep_s=self._keep_s)
            done += 1
        self.recorded += done
        return done

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("recorder: the store failed; trying again")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
            except TimeoutError:
                pass
