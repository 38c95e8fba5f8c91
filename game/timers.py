"""Server-side timers: deliver `Tick` to every game whose deadline has come.

Every server process runs one `TimerLoop`. Deadlines live in the store (shared through Redis), so
a deadline fires even if the tablet went silent or the process that started the stage died; when
two processes see the same due game, the engine's idempotent `Tick` and the store's
compare-and-set make exactly one transition fire it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from game.commands import Tick, Transition
from game.errors import GameNotFound
from game.service import GameService
from game.state import GameState

log = logging.getLogger(__name__)

FiredHook = Callable[[str, GameState, Transition, int], None]
OutageHook = Callable[[bool], None]  # True: an attempt failed, the store is away; False: it is back
OUTAGE_BACKOFF_MAX_MS = 250  # how often a loop tries again while the store is away, at most


class TimerLoop:
    """Polls the store's deadline index every `poll_ms` (or sooner when a deadline is nearer).

    Args:
        service: applies the ticks.
        poll_ms: how often to look for deadlines set by other processes; bounds lateness.
        on_fired: called with (game id, new state, transition, lateness in ms) for each tick that
            changed a game (metrics, recording).
        on_store_failure: called with True after each attempt that failed because the store is
            away, and with False once when it answers again (metrics).
    """

    def __init__(
        self, service: GameService, *, poll_ms: int = 10, on_fired: FiredHook | None = None,
        on_store_failure: OutageHook | None = None,
    ) -> None:
        self._service = service
        self._poll_ms = poll_ms
        self._on_fired = on_fired
        self._on_store_failure = on_store_failure
        self._outage_since_ms: int | None = None  # when the store stopped answering
        self._failures = 0  # attempts failed in a row
        self._wake = asyncio.Event()
        self._next_look_ms: float = float("-inf")  # when the loop looks next (clock_ms)

    def wake(self) -> None:
        """A nearer deadline may exist now (a local transition set one): look again at once."""
        self._wake.set()

    def wake_for(self, deadline_ms: int | None) -> None:
        """Wake only if `deadline_ms` comes before the loop's next look anyway.

        Called after every local transition (every stroke chunk): waking for each would make the
        loop scan the deadlines thousands of times a second under load, for nothing, since a
        deadline later than the next poll is found by that poll.
        """
        if deadline_ms is not None and deadline_ms < self._next_look_ms:
            self._wake.set()

    def _failed(self, exc: Exception) -> None:
        """An attempt failed: the outage is logged when it starts, not at every attempt (a
        traceback every 10 ms while Redis was away buried every other log line)."""
        self._failures += 1
        if self._outage_since_ms is None:
            self._outage_since_ms = self._service.clock_ms()
            log.error("timer loop: the store is unavailable (%r); deadlines wait until it is "
                      "back", exc, exc_info=exc)
        if self._on_store_failure is not None:
            self._on_store_failure(True)

    def _answered(self) -> bool:
        """The store answered; True when that ends an outage."""
        ended = self._outage_since_ms is not None
        if ended:
            lasted_s = (self._service.clock_ms() - self._outage_since_ms) / 1000
            log.warning("timer loop: the store is back after %.1f s (%d failed attempts)",
                        lasted_s, self._failures)
            if self._on_store_failure is not None:
                self._on_store_failure(False)
        self._outage_since_ms = None
        self._failures = 0
        return ended

    async def run_once(self) -> int:
        """Fire every due deadline now; returns how many ticks changed a game."""
        store = self._service.store
        now = self._service.clock_ms()
        fired = 0
        for game_id in await store.due_games(now):
            before = await store.load(game_id)
            due_at = before.next_deadline_ms() if before else None
            try:
                state, transition = await self._service.command(game_id, Tick())
            except GameNotFound:
                continue
            except Exception:  # one broken game must not stop every other game's timers
                log.exception("tick failed for game %s", game_id)
                continue
            if transition.changed:
                fired += 1
                if self._on_fired is not None:
                    lateness = self._service.clock_ms() - due_at if due_at else 0
                    self._on_fired(game_id, state, transition, lateness)
        return fired

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                await self.run_once()
                next_at = await self._service.store.next_deadline_ms()
            except Exception as exc:
                self._failed(exc)
                next_at = None
            else:
                if self._answered():
                    try:
                        await self._service.store.drop_idle_connections()
                    except Exception:  # only a courtesy: a stale connection would fail once
                        log.warning("could not drop the store's idle connections", exc_info=True)
            wait_ms = self._poll_ms
            if self._failures:  # back off while the store is away (it was tried every 10 ms)
                wait_ms = min(OUTAGE_BACKOFF_MAX_MS, self._poll_ms * 2 ** min(self._failures, 10))
            if next_at is not None:
                wait_ms = max(0, min(wait_ms, next_at - self._service.clock_ms()))
            self._wake.clear()
            self._next_look_ms = self._service.clock_ms() + wait_ms
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait_ms / 1000)
            except TimeoutError:
                pass
