"""The in-process game store: the embedded default (one server process, nothing to install)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson

from game.commands import AppendGuess, AppendPoints, Event, GameFinished, Transition
from game.errors import GameNotFound
from game.records import GuessSnapshot
from game.state import GameState
from game.store import _codec
from game.store._queue import iterate
from game.store.base import Mutation, Point


class MemoryStore:
    """`GameStore` in the process's memory.

    Every method runs without awaiting between reading and writing, so on one event loop each
    `apply` is atomic without a lock.
    """

    def __init__(self) -> None:
        self._games: dict[str, GameState] = {}
        self._tokens: dict[str, str] = {}
        self._token_of: dict[str, str] = {}  # game id -> resume token (forgetting is O(1))
        # Appended chunks as the Redis store keeps them (`_codec.dump_points`): compact JSON bytes
        # rather than a Python tuple per point (~22 instead of ~136 bytes a point; a school's
        # drawings stay in this process's memory until recorded).
        self._strokes: dict[tuple[str, int], list[bytes]] = {}
        self._guesses: dict[tuple[str, int], list[GuessSnapshot]] = {}
        self._deadlines: dict[str, int] = {}
        self._to_record: dict[str, None] = {}  # insertion-ordered set
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}

    async def create(self, state: GameState, transition: Transition, *, resume_token: str) -> None:
        self._games[state.game_id] = state.clone()
        self._tokens[resume_token] = state.game_id
        self._token_of[state.game_id] = resume_token
        self._commit(state, transition)

    async def load(self, game_id: str) -> GameState | None:
        state = self._games.get(game_id)
        return state.clone() if state is not None else None

    async def game_for_token(self, resume_token: str) -> str | None:
        return self._tokens.get(resume_token)

    async def apply(self, game_id: str, mutate: Mutation) -> tuple[GameState, Transition]:
        current = self._games.get(game_id)
        if current is None:
            raise GameNotFound(f"no game {game_id}")
        state = current.clone()  # a refused (raising) mutation leaves the stored state as it was
        transition = mutate(state)
        if transition.changed:
            # Stored and returned as is: callers only read states (the engine changes a state
            # only inside `mutate`, and every apply mutates a fresh clone), so one copy a
            # command is enough.
            self._games[game_id] = state
            self._commit(state, transition)
        return state, transition

    def _commit(self, state: GameState, transition: Transition) -> None:
        for effect in transition.effects:
            if isinstance(effect, AppendPoints):
                chunks = self._strokes.setdefault((state.game_id, effect.stage), [])
                chunks.append(_codec.kept(_codec.dump_points(effect)))
            elif isinstance(effect, AppendGuess):
                self._guesses.setdefault((state.game_id, effect.stage), []).append(
                    GuessSnapshot(effect.t_ms, tuple(effect.guesses))
                )
            elif isinstance(effect, GameFinished):
                self._to_record[state.game_id] = None
        deadline = state.next_deadline_ms()
        if deadline is None:
            self._deadlines.pop(state.game_id, None)
        else:
            self._deadlines[state.game_id] = deadline
        for queue in self._subscribers.get(state.game_id, ()):
            for event in transition.events:
                queue.put_nowait(event)

    async def strokes(self, game_id: str, stage: int) -> list[list[Point]]:
        chunks = self._strokes.get((game_id, stage), [])
        return _codec.join_chunks([orjson.loads(c) for c in chunks])

    async def guesses(self, game_id: str, stage: int) -> list[GuessSnapshot]:
        return list(self._guesses.get((game_id, stage), []))

    async def due_games(self, now_ms: int, *, limit: int = 500) -> list[str]:
        due = [g for g, d in self._deadlines.items() if d <= now_ms]
        return due[:limit]

    async def next_deadline_ms(self) -> int | None:
        return min(self._deadlines.values(), default=None)

    async def games_to_record(self, *, limit: int = 100) -> list[str]:
        return list(self._to_record)[:limit]

    async def mark_recorded(self, game_id: str, *, keep_s: int) -> None:
        self._to_record.pop(game_id, None)
        self._forget_drawings(game_id)
        loop = asyncio.get_running_loop()
        self._expiry[game_id] = loop.call_later(keep_s, self._forget, game_id)

    async def games_of_player(self, player_id: str) -> list[str]:
        return [g for g, s in self._games.items() if s.player_id == player_id]

    async def delete_game(self, game_id: str) -> None:
        handle = self._expiry.pop(game_id, None)
        if handle is not None:
            handle.cancel()
        self._deadlines.pop(game_id, None)
        self._to_record.pop(game_id, None)
        self._forget(game_id)

    def _forget(self, game_id: str) -> None:
        self._expiry.pop(game_id, None)
        self._forget_drawings(game_id)
        self._games.pop(game_id, None)
        token = self._token_of.pop(game_id, None)
        if token is not None:
            self._tokens.pop(token, None)

    def _forget_drawings(self, game_id: str) -> None:
        state = self._games.get(game_id)
        stages = state.stage_count if state is not None else 0
        for stage in range(stages):
            self._strokes.pop((game_id, stage), None)
            self._guesses.pop((game_id, stage), None)

    @asynccontextmanager
    async def subscribe(self, game_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.setdefault(game_id, set()).add(queue)

        try:
            yield iterate(queue)
        finally:
            subscribers = self._subscribers.get(game_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[game_id]

    async def ping(self) -> bool:
        return True

    async def drop_idle_connections(self) -> None:
        return None  # no connections

    async def aclose(self) -> None:
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
