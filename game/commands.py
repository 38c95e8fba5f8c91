"""What can happen to a game: commands in, events out, effects for the I/O layer (pure data)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from game.records import StageOutcome
from game.state import TopicPlan

Point = tuple[float, float, float]


# --- commands (inputs to the engine)


@dataclass(frozen=True, slots=True)
class StrokeChunk:
    """Points of one stroke. `start` is the index of the first point within the stroke, so a
    chunk sent again after a reconnect is recognised and only its new points are kept."""

    stage: int
    stroke: int
    start: int
    points: tuple[Point, ...]
    end: bool
    connection: str | None = None  # the socket it came from (see `Connected`)


@dataclass(frozen=True, slots=True)
class Skip:
    stage: int
    connection: str | None = None


@dataclass(frozen=True, slots=True)
class GuessResult:
    """Recognition's answer for the drawing as it was with `points_seen` points."""

    stage: int
    points_seen: int
    guesses: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class Tick:
    """Time has passed: fire whatever deadline is due (idempotent)."""


@dataclass(frozen=True, slots=True)
class Connected:
    """The game's player is (back) on the socket `connection`, which now holds its presence.

    `player_id`, when given, must be the game's own player (a resume token is a bearer secret,
    but another child's tablet holding it must not take the game over).
    """

    connection: str | None = None
    player_id: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The socket `connection` has closed. Only the socket holding the game's presence can
    start the resume grace: an older socket of the same tablet (half-open Wi-Fi, closed by the
    keepalive long after the tablet resumed elsewhere) or a refused stranger cannot."""

    connection: str | None = None


@dataclass(frozen=True, slots=True)
class StartClassRound:
    """The teacher's "everyone draws the same topic now": the game draws `topic` next, at once,
    until `deadline_ms` (the same absolute moment on every tablet of the class).

    A stage being drawn ends first (as a time-out: its drawing is kept and praised like any
    other); the round's stage is inserted after it, so the game's own stages follow the round.
    Applying the same `round_id` again changes nothing (the fan-out may be retried).
    """

    round_id: str
    topic: TopicPlan
    deadline_ms: int


@dataclass(frozen=True, slots=True)
class EndClassRound:
    """The teacher ends round `round_id` early: its stage ends as a time-out would. A game that
    is no longer drawing that round (recognised, skipped, another stage) is left as it is."""

    round_id: str


@dataclass(frozen=True, slots=True)
class EndGame:
    """The game ends now, completed with the stages played so far (the teacher closed the
    class): a stage being drawn ends as a time-out would, its drawing kept; a finished game is
    left as it is."""


Command = (StrokeChunk | Skip | GuessResult | Tick | Connected | Disconnected | StartClassRound
           | EndClassRound | EndGame)


# --- events (for the tablet; `server.protocol` turns them into messages)


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    data: dict[str, Any]


# --- effects (for the I/O layer, applied atomically with the new state)


@dataclass(frozen=True, slots=True)
class AppendPoints:
    stage: int
    stroke: int
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class AppendGuess:
    stage: int
    t_ms: int
    guesses: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class RequestGuess:
    """Ask recognition about the current drawing (the I/O layer throttles and batches)."""

    stage: int
    stroke_ended: bool


@dataclass(frozen=True, slots=True)
class StageEnded:
    stage: int
    outcome: StageOutcome


@dataclass(frozen=True, slots=True)
class GameFinished:
    """The game is over: the I/O layer records it durably."""


Effect = AppendPoints | AppendGuess | RequestGuess | StageEnded | GameFinished


@dataclass(slots=True)
class Transition:
    """The result of handling one command."""

    events: list[Event] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    changed: bool = False
