"""Game rules: the settings a game is played by, and the recognition rule (pure)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecognitionRule:
    """When a drawing counts as recognised.

    The target must be among the first `top_k` guesses with a probability of at least
    `min_probability`. The default (top-1, p >= 0.5) was chosen by measuring false acceptances
    on held-out drawings: see docs/recognition-rule.md.
    """

    top_k: int = 1
    min_probability: float = 0.5

    def accepts(self, target: str, guesses: Sequence[tuple[str, float]]) -> bool:
        """True when `guesses` (best first) recognise `target` under this rule."""
        for label, probability in guesses[: self.top_k]:
            if label == target and probability >= self.min_probability:
                return True
        return False


@dataclass(frozen=True, slots=True)
class GameRules:
    """Everything the engine needs to know that is a setting rather than state.

    Limits are keyword settings; names carry their units.
    """

    default_stage_count: int = 5
    default_time_limit_s: float = 40.0
    intermission_ms: int = 3000
    resume_grace_ms: int = 60_000
    recognition: RecognitionRule = RecognitionRule()
    max_points_per_stroke: int = 4000
    max_strokes_per_stage: int = 200
    max_points_per_stage: int = 20_000
    max_canvas_px: int = 4096
    # Points may land a little outside the canvas (a finger sliding off the edge).
    canvas_margin_px: float = 64.0
    # A point's time (ms since the stage started, by the tablet's clock) must fit the results
    # database's INT columns (drawings.last_t_ms, drawing_strokes.t_end_ms: at most 2**31 - 1),
    # or the finished game could never be written. A stage lasts minutes; a day is generous.
    max_point_time_ms: int = 86_400_000
