"""The live roster: what the teacher's page shows of every tablet in a class, as it changes.

Every process tells the feed of each transition it commits (`GameService.observer`): the feed
only notes the newest state and the new ink of games in a class (a dict write; games of the local
class or of no class cost one comparison). At most once an interval (`ROSTER_INTERVAL_MS`) it
publishes one message per class with the tiles that changed, on the class's roster channel:
Redis pub/sub when the server runs on Redis (so a teacher on any process sees tablets on every
process), an in-process hub otherwise. Tablets never wait for any of this.

Tiles travel between processes with the player id (a pseudonym); the teacher's socket turns it
into the seat number before anything reaches the browser.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from game.commands import AppendPoints, Transition
from game.records import StageOutcome
from game.state import GameState, Phase
from server.access import LOCAL_CLASS
from server.classroom import Classrooms

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "dq:roster:"


def tile_of(state: GameState) -> dict[str, Any]:
    """The tile fields a game's state gives (without ink)."""
    topic = state.plan[state.stage] if state.stage < len(state.plan) else None
    return {
        "player_id": state.player_id,
        "game_id": state.game_id,
        "connected": state.connected,
        "phase": str(state.phase),
        "stage": state.stage,
        "stages": len(state.plan),
        "topic": {"label": topic.label, "ko": topic.name_ko, "en": topic.name_en}
        if topic is not None else None,
        "recognized": sum(1 for s in state.stages if s.outcome == StageOutcome.RECOGNIZED),
        "canvas": [state.canvas_width, state.canvas_height],
        "deadline_ms": state.deadline_ms,
        # A tablet's tiles may come from two processes (its own, and one that started a class
        # round or fired a deadline) in either order: these let the page keep the newest.
        "stage_started_at_ms": state.stage_started_at_ms,
        "version": state.version,
    }


def flat_ink(points: Any) -> list[int]:
    """Points (x, y, t) as a flat list of whole pixels [x0, y0, x1, y1, ...] (a thumbnail needs
    no more: a fifth of the JSON of the points as sent)."""
    out: list[int] = []
    for p in points:
        out.append(round(p[0]))
        out.append(round(p[1]))
    return out


class RosterHub:
    """Publishes and subscribes roster messages of a class: Redis pub/sub, or in the process."""

    def __init__(self, redis: Any | None = None) -> None:
        self._redis = redis
        self._local: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    async def publish(self, code: str, message: dict[str, Any]) -> None:
        if self._redis is not None:
            await self._redis.publish(CHANNEL_PREFIX + code, orjson.dumps(message))
            return
        for queue in self._local.get(code, ()):
            queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, code: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Messages of the class from the moment the context is entered (subscribed on entry)."""
        if self._redis is not None:
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(CHANNEL_PREFIX + code)  # confirmed before we go on

            async def from_redis() -> AsyncIterator[dict[str, Any]]:
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        yield orjson.loads(message["data"])

            try:
                yield from_redis()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.unsubscribe()
                await pubsub.aclose()
            return
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._local.setdefault(code, set()).add(queue)

        async def from_queue() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield from_queue()
        finally:
            queues = self._local.get(code)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._local[code]


@dataclass
class _Pending:
    state: GameState
    ink: list[list[Any]] = field(default_factory=list)  # [stroke, [x, y, ...]] since the last tile
    reset: bool = False  # the stage changed: the thumbnail starts empty


class RosterFeed:
    """Collects tile changes of this process's games and publishes them, batched per interval."""

    def __init__(self, hub: RosterHub, classrooms: Classrooms, *, interval_ms: int) -> None:
        self.hub = hub
        self.classrooms = classrooms
        self.interval_s = interval_ms / 1000
        self._pending: dict[str, _Pending] = {}
        self._stage_of: dict[str, int] = {}  # game -> stage last seen here
        self._noted: set[str] = set()  # games already in their class's game list
        self._dirty = asyncio.Event()

    def observe(self, state: GameState, transition: Transition | None) -> None:
        """A transition was committed here (called on every command: keep it cheap)."""
        code = state.class_code
        if code is None or code == LOCAL_CLASS:
            return
        pending = self._pending.get(state.game_id)
        if pending is None:
            pending = self._pending[state.game_id] = _Pending(state)
        pending.state = state
        if self._stage_of.get(state.game_id) != state.stage:
            self._stage_of[state.game_id] = state.stage
            pending.reset, pending.ink = True, []
        if transition is not None:
            for effect in transition.effects:
                if isinstance(effect, AppendPoints) and effect.stage == state.stage:
                    pending.ink.append([effect.stroke, flat_ink(effect.points)])
        if state.phase == Phase.FINISHED:
            self._stage_of.pop(state.game_id, None)
        self._dirty.set()

    async def run(self) -> None:
        """Publish what changed, at most once an interval, until cancelled."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.flush()
            except Exception:  # Redis away: tiles catch up with the next change
                log.warning("could not publish the roster", exc_info=True)
            await asyncio.sleep(self.interval_s)

    async def flush(self) -> None:
        """Publish the tiles changed since the last flush, one message per class."""
        batch, self._pending = self._pending, {}
        by_class: dict[str, list[dict[str, Any]]] = {}
        for game_id, pending in batch.items():
            state = pending.state
            assert state.class_code is not None
            if game_id not in self._noted:
                self._noted.add(game_id)
                await self.classrooms.note_game(state.class_code, state.player_id, game_id)
            tile = tile_of(state)
            tile["reset"] = pending.reset
            tile["ink"] = pending.ink
            by_class.setdefault(state.class_code, []).append(tile)
            if state.phase == Phase.FINISHED:
                self._noted.discard(game_id)
        for code, tiles in by_class.items():
            await self.hub.publish(code, {"type": "tiles", "tiles": tiles})

    async def class_closed(self, code: str) -> None:
        """Tell every watcher of the class that it is closed."""
        await self.hub.publish(code, {"type": "class_closed", "code": code})
