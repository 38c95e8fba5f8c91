"""The game store: where game state lives, behind one interface with two implementations.

`MemoryStore` keeps everything in the process (the embedded default); `RedisStore` shares games
between server processes and survives their restarts. Both give the same guarantees:

- `apply` is atomic: the command is applied to the newest state, and the new state, the points
  and guesses it appends, the deadline index and the events are written all at once or not at
  all (compare-and-set on `GameState.version`, retried on conflict).
- events reach every subscriber of the game in the order the transitions were committed.
- a deadline is delivered through `due_games`; applying `Tick` is idempotent, so when several
  processes race for one deadline exactly one transition fires it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from game.commands import Event, Transition
from game.records import GuessSnapshot
from game.state import GameState

Point = tuple[float, float, float]
Mutation = Callable[[GameState], Transition]

# Not an event of the game: put in a subscription after the store had to subscribe again (its
# connection was lost, e.g. a Redis restart). Events published meanwhile never arrive, so the
# subscriber must read the game's state again and show where it is now.
RESYNC = Event("resync", {})


class GameStore(Protocol):
    """Storage for games. All methods are safe to call from many tasks at once."""

    async def create(self, state: GameState, transition: Transition, *, resume_token: str) -> None:
        """Store a new game with its first transition (its events are published)."""
        ...

    async def load(self, game_id: str) -> GameState | None:
        """The current state of a game, or None."""
        ...

    async def game_for_token(self, resume_token: str) -> str | None:
        """The game a resume token belongs to, or None."""
        ...

    async def apply(self, game_id: str, mutate: Mutation) -> tuple[GameState, Transition]:
        """Atomically apply `mutate` to the newest state of the game.

        `mutate` may be called more than once (on a conflict) and must not have side effects.
        Raises `GameNotFound` if there is no such game; exceptions from `mutate` propagate and
        nothing is written.
        """
        ...

    async def strokes(self, game_id: str, stage: int) -> list[list[Point]]:
        """Every stroke of a stage as stored, in order."""
        ...

    async def guesses(self, game_id: str, stage: int) -> list[GuessSnapshot]:
        """The guesses shown during a stage, in order."""
        ...

    async def due_games(self, now_ms: int, *, limit: int = 500) -> list[str]:
        """Games with a deadline at or before `now_ms`."""
        ...

    async def next_deadline_ms(self) -> int | None:
        """The earliest deadline of any game, or None."""
        ...

    async def games_to_record(self, *, limit: int = 100) -> list[str]:
        """Finished games not yet handed to the result sink."""
        ...

    async def mark_recorded(self, game_id: str, *, keep_s: int) -> None:
        """The game is recorded: its strokes and guesses go now (the record holds them; a child's
        drawing is kept nowhere longer than needed), its state and token after `keep_s` (a late
        tablet still gets game_over)."""
        ...

    async def games_of_player(self, player_id: str) -> list[str]:
        """Every game of a player still held here (running, or recorded and not yet expired)."""
        ...

    async def delete_game(self, game_id: str) -> None:
        """Remove every trace of a game: state, strokes, guesses, tokens, deadlines (erasure)."""
        ...

    def subscribe(self, game_id: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Events of one game from the moment the context is entered. After the store lost and
        regained its subscription, `RESYNC` comes instead of the events it may have missed."""
        ...

    async def ping(self) -> bool:
        """True when the store answers (for /readyz)."""
        ...

    async def drop_idle_connections(self) -> None:
        """After an outage: close the idle connections opened before it, which would each fail
        once on their next use (their server went away) and look like a second outage."""
        ...

    async def aclose(self) -> None:
        """Release connections and background tasks."""
        ...
