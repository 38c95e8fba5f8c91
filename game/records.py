"""What a finished game leaves behind: the record written to the results database.

The engine builds a `FinishedGame` when a game ends (completed or abandoned); the server hands it
to a `ResultSink`, which must keep it durably before acknowledging (see legacy_bridge.results).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class StageOutcome(StrEnum):
    RECOGNIZED = "recognized"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"  # the tablet never came back within the grace period


class GameOutcome(StrEnum):
    COMPLETED = "completed"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class GuessSnapshot:
    """The guesses shown to the child at one moment of a stage."""

    t_ms: int  # ms since the stage started
    guesses: tuple[tuple[str, float], ...]  # (label, probability), best first


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One stage of a game, with the child's whole drawing."""

    index: int  # 0-based
    label: str
    name_ko: str
    name_en: str
    time_limit_s: float
    started_at_ms: int  # Unix epoch ms (server clock)
    ended_at_ms: int
    outcome: StageOutcome
    time_to_recognize_ms: int | None  # set when outcome is RECOGNIZED
    # strokes[i] = list of [x, y, t_ms] points, canvas pixels, t since the stage started
    strokes: tuple[tuple[tuple[float, float, float], ...], ...]
    guesses: tuple[GuessSnapshot, ...] = ()
    final_guesses: tuple[tuple[str, float], ...] = ()
    canvas_width: int | None = None
    canvas_height: int | None = None


@dataclass(frozen=True, slots=True)
class FinishedGame:
    """A game that has ended. `game_id` is globally unique and makes writes idempotent."""

    game_id: str
    player_id: str  # pseudonymous, chosen by the device; never a name
    category: str
    started_at_ms: int
    ended_at_ms: int
    outcome: GameOutcome
    stages: tuple[StageRecord, ...]
    age_band: str | None = None  # "3-4", "5-6" or "7-8"; never a birth date
    class_code: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class ResultSink(Protocol):
    """Where finished games go. `record` returns once the game is kept durably."""

    async def record(self, game: FinishedGame) -> None:
        """Keep `game` durably (idempotent on `game_id`)."""
        ...
