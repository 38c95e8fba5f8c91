"""The state of one game: small, serialisable, and changed only by `game.engine`.

Strokes and guess snapshots are not kept here (they would make every update rewrite the whole
drawing): the engine emits them as effects and the store appends them beside the state.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from game.records import GameOutcome, StageOutcome


class Phase(StrEnum):
    DRAWING = "drawing"  # a stage is running, the child draws
    INTERMISSION = "intermission"  # between stages, the result is shown
    FINISHED = "finished"


@dataclass(slots=True, frozen=True)
class TopicPlan:
    """One stage's topic, fixed when the game starts (immutable: clones share it)."""

    label: str
    name_ko: str
    name_en: str
    time_limit_s: float


@dataclass(slots=True, frozen=True)
class StageSummary:
    """How a stage ended (the drawing itself is stored beside the state). Immutable: a stage
    ends once, and clones of the state share its summary."""

    outcome: StageOutcome
    started_at_ms: int
    ended_at_ms: int
    time_to_recognize_ms: int | None
    final_guesses: tuple[tuple[str, float], ...]
    stroke_count: int
    round_id: str | None = None  # the class round this stage was (None: the game's own stage)


@dataclass(slots=True)
class GameState:
    """Everything the engine knows about one game. `version` grows with every transition."""

    game_id: str
    player_id: str
    category: str
    category_name_ko: str
    category_name_en: str
    plan: list[TopicPlan]
    labels: list[str]  # every label of the category: recognition compares within these
    started_at_ms: int
    canvas_width: int
    canvas_height: int
    age_band: str | None = None
    class_code: str | None = None
    version: int = 0
    phase: Phase = Phase.DRAWING
    stage: int = 0
    stage_started_at_ms: int = 0
    deadline_ms: int | None = None  # when the current stage or intermission ends
    round_id: str | None = None  # the class round the current stage belongs to, if any
    # current stage: points received per stroke, and whether each stroke has ended
    stroke_points: list[int] = field(default_factory=list)
    stroke_ended: list[bool] = field(default_factory=list)
    # the newest guess applied this stage: (strokes it saw, points it saw, guesses)
    last_guess_points: int = -1
    last_guesses: list[tuple[str, float]] = field(default_factory=list)
    stages: list[StageSummary] = field(default_factory=list)
    # the stage that ended last, while its late strokes are still taken (GameRules): what the
    # server holds of it per stroke, and until when (-1 / None: none)
    late_stage: int = -1
    late_stroke_points: list[int] = field(default_factory=list)
    late_stroke_ended: list[bool] = field(default_factory=list)
    late_until_ms: int | None = None
    # a completed game waiting for late strokes before it is recorded
    record_at_ms: int | None = None
    connected: bool = True
    presence: str | None = None  # the socket (connection id) the player is on, see `Connected`
    abandon_at_ms: int | None = None
    ended_at_ms: int | None = None
    outcome: GameOutcome | None = None

    @property
    def stage_count(self) -> int:
        return len(self.plan)

    @property
    def topic(self) -> TopicPlan:
        return self.plan[self.stage]

    @property
    def points_this_stage(self) -> int:
        return sum(self.stroke_points)

    def next_deadline_ms(self) -> int | None:
        """The earliest moment at which a `Tick` changes this game, or None."""
        if self.phase == Phase.FINISHED:
            return self.record_at_ms
        candidates = [d for d in (self.deadline_ms, self.abandon_at_ms) if d is not None]
        return min(candidates) if candidates else None

    def to_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict(self)`, written out: asdict's generic recursion was a tenth of a
        Redis-backed server's CPU (every command stores the state)."""
        return {
            "game_id": self.game_id, "player_id": self.player_id, "category": self.category,
            "category_name_ko": self.category_name_ko, "category_name_en": self.category_name_en,
            "plan": [{"label": t.label, "name_ko": t.name_ko, "name_en": t.name_en,
                      "time_limit_s": t.time_limit_s} for t in self.plan],
            "labels": list(self.labels), "started_at_ms": self.started_at_ms,
            "canvas_width": self.canvas_width, "canvas_height": self.canvas_height,
            "age_band": self.age_band, "class_code": self.class_code, "version": self.version,
            "phase": self.phase, "stage": self.stage,
            "stage_started_at_ms": self.stage_started_at_ms, "deadline_ms": self.deadline_ms,
            "round_id": self.round_id,
            "stroke_points": list(self.stroke_points), "stroke_ended": list(self.stroke_ended),
            "last_guess_points": self.last_guess_points,
            "last_guesses": [tuple(g) for g in self.last_guesses],
            "stages": [{"outcome": s.outcome, "started_at_ms": s.started_at_ms,
                        "ended_at_ms": s.ended_at_ms,
                        "time_to_recognize_ms": s.time_to_recognize_ms,
                        "final_guesses": tuple(tuple(g) for g in s.final_guesses),
                        "stroke_count": s.stroke_count, "round_id": s.round_id}
                       for s in self.stages],
            "late_stage": self.late_stage, "late_stroke_points": list(self.late_stroke_points),
            "late_stroke_ended": list(self.late_stroke_ended),
            "late_until_ms": self.late_until_ms, "record_at_ms": self.record_at_ms,
            "connected": self.connected, "presence": self.presence,
            "abandon_at_ms": self.abandon_at_ms, "ended_at_ms": self.ended_at_ms, "outcome": self.outcome,
        }

    def clone(self) -> GameState:
        """An independent copy, equal to `copy.deepcopy(self)` but ~20x cheaper.

        The in-process store copies the state on every command (once so a refused command leaves
        no trace, once so callers cannot change the stored state); a generic deepcopy of the
        plan, labels and summaries was most of the server's CPU under load. Every field is
        immutable (str, int, float, enum, tuple of immutables) except the lists, which are
        copied; what they hold (topic plans, stage summaries, guesses) is immutable and shared.
        Sharing also keeps each command's allocations down (7 tracked objects a clone instead
        of 18): every live game's state is a fresh clone, so all of them sit in the garbage
        collector's youngest generation, and each young collection walks them all.
        """
        return GameState(
            game_id=self.game_id, player_id=self.player_id, category=self.category,
            category_name_ko=self.category_name_ko, category_name_en=self.category_name_en,
            plan=list(self.plan),
            labels=list(self.labels), started_at_ms=self.started_at_ms,
            canvas_width=self.canvas_width, canvas_height=self.canvas_height,
            age_band=self.age_band, class_code=self.class_code, version=self.version,
            phase=self.phase, stage=self.stage, stage_started_at_ms=self.stage_started_at_ms,
            deadline_ms=self.deadline_ms, round_id=self.round_id,
            stroke_points=list(self.stroke_points),
            stroke_ended=list(self.stroke_ended), last_guess_points=self.last_guess_points,
            last_guesses=list(self.last_guesses),
            stages=list(self.stages),
            late_stage=self.late_stage, late_stroke_points=list(self.late_stroke_points),
            late_stroke_ended=list(self.late_stroke_ended), late_until_ms=self.late_until_ms,
            record_at_ms=self.record_at_ms,
            connected=self.connected, presence=self.presence, abandon_at_ms=self.abandon_at_ms,
            ended_at_ms=self.ended_at_ms, outcome=self.outcome,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GameState:
        data = dict(data)
        data["plan"] = [TopicPlan(**t) for t in data["plan"]]
        data["stages"] = [
            StageSummary(
                **{
                    **s,
                    "outcome": StageOutcome(s["outcome"]),
                    "final_guesses": tuple(tuple(g) for g in s["final_guesses"]),
                }
            )
            for s in data["stages"]
        ]
        data["phase"] = Phase(data["phase"])
        data["last_guesses"] = [tuple(g) for g in data["last_guesses"]]
        if data.get("outcome") is not None:
            data["outcome"] = GameOutcome(data["outcome"])
        return cls(**data)
