"""Game rules: the settings a game is played by, and the recognition rule (pure)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: The age bands a tablet may announce (`hello.age_band`); None means not given.
AGE_BANDS = ("3-4", "5-6", "7-8")


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
class BandRules:
    """How one age band plays: its recognition rule, more time, fewer stages.

    `time_scale` multiplies every topic's time limit; `max_stages` caps the category's stage
    count (None: no cap). Chosen per band from measurements: docs/recognition-rule.md.
    """

    recognition: RecognitionRule
    time_scale: float = 1.0
    max_stages: int | None = None


@dataclass(frozen=True, slots=True)
class ClassPace:
    """A teacher's choice for every game of one class, over the band's and category's numbers.

    `time_limit_s`: seconds per drawing (the band does not scale it: the teacher chose it);
    `stage_count`: drawings per game (at most the category's topics). None keeps the default.
    """

    time_limit_s: float | None = None
    stage_count: int | None = None


def default_band_rules() -> dict[str, BandRules]:
    """The measured defaults (docs/recognition-rule.md; `python -m bench.recognition_rule`)."""
    return {
        "3-4": BandRules(RecognitionRule(3, 0.2), time_scale=1.5, max_stages=3),
        "5-6": BandRules(RecognitionRule(3, 0.25), time_scale=1.25, max_stages=4),
        "7-8": BandRules(RecognitionRule(1, 0.25), time_scale=1.0, max_stages=None),
    }


@dataclass(frozen=True, slots=True)
class GameRules:
    """Everything the engine needs to know that is a setting rather than state.

    Limits are keyword settings; names carry their units.
    """

    default_stage_count: int = 5
    default_time_limit_s: float = 40.0
    intermission_ms: int = 3000
    resume_grace_ms: int = 60_000
    # Strokes still on their way when a stage ends (a connection pause, a recognition from the
    # strokes already in) belong to the drawing if the child began them before the result and
    # finished them within `late_stroke_grace_ms` of it, by the child's own clock (the points'
    # `t`). They are taken until `late_stroke_window_ms` after the result; a finished game is
    # recorded when its tablet leaves or the window closes, whichever comes first. 0: no late
    # strokes, a finished game is recorded at once.
    late_stroke_window_ms: int = 0
    late_stroke_grace_ms: int = 2_000
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
    #: Per age band; a game without a band plays by `recognition` and the category's own numbers.
    bands: Mapping[str, BandRules] = field(default_factory=default_band_rules)

    def for_band(self, age_band: str | None) -> BandRules:
        """The band's rules; for no (or an unknown) band, `recognition` with no time or stage change."""
        band = self.bands.get(age_band) if age_band else None
        return band if band is not None else BandRules(self.recognition)
