"""Age bands in the pure engine: each band's recognition rule, time and stage count."""
from __future__ import annotations

import pytest

from game import engine
from game.commands import GuessResult, StrokeChunk
from game.rules import AGE_BANDS, BandRules, GameRules, RecognitionRule, default_band_rules
from game.state import GameState, Phase
from game.topics import Category, Topic

LABELS = ["cat", "dog", "pig", "cow", "bird", "fish", "frog"]
CATEGORY = Category("animals", "동물", "Animals", tuple(Topic(l, l, l, 30.0) for l in LABELS), stage_count=5)
BANDS = {
    "3-4": BandRules(RecognitionRule(3, 0.2), time_scale=1.5, max_stages=3),
    "7-8": BandRules(RecognitionRule(1, 0.6)),
}
RULES = GameRules(recognition=RecognitionRule(1, 0.5), bands=BANDS)


def start(age_band: str | None, rules: GameRules = RULES) -> GameState:
    state, _ = engine.new_game(game_id="g-1", player_id="player-1", category=CATEGORY, rules=rules,
                               now_ms=0, canvas_width=800, canvas_height=600, age_band=age_band)
    return state


def guess(state: GameState, guesses: tuple[tuple[str, float], ...], rules: GameRules = RULES) -> None:
    engine.handle(state, StrokeChunk(0, 0, 0, ((1, 2, 0), (30, 40, 10)), True), now_ms=5, rules=rules)
    engine.handle(state, GuessResult(0, 2, guesses), now_ms=10, rules=rules)


def test_youngest_get_more_time_and_fewer_stages() -> None:
    young, plain = start("3-4"), start(None)
    assert young.stage_count == 3 and plain.stage_count == 5
    assert {t.time_limit_s for t in young.plan} == {45.0} and {t.time_limit_s for t in plain.plan} == {30.0}
    assert young.deadline_ms == 45_000


@pytest.mark.parametrize("band, won", [("3-4", True), ("7-8", False), (None, False)])
def test_target_third_at_low_probability_counts_only_for_the_band_whose_rule_allows_it(band, won) -> None:
    state = start(band)
    target = state.topic.label
    others = [l for l in LABELS if l != target]
    guess(state, ((others[0], 0.4), (others[1], 0.3), (target, 0.25)))
    assert (state.phase != Phase.DRAWING) is won


def test_a_band_rule_can_be_stricter_than_the_default() -> None:
    state = start("7-8")
    guess(state, ((state.topic.label, 0.55),))
    assert state.phase == Phase.DRAWING  # 7-8 asks p >= 0.6 here; no band would have accepted
    plain = start(None)
    guess(plain, ((plain.topic.label, 0.55),))
    assert plain.phase != Phase.DRAWING


def test_every_band_has_measured_defaults_and_an_unknown_band_plays_by_the_default() -> None:
    defaults = default_band_rules()
    assert set(defaults) == set(AGE_BANDS)
    rules = GameRules()
    assert rules.for_band("9-10") == BandRules(rules.recognition)
    # Younger bands never get less time or more stages than older ones.
    scales = [defaults[b].time_scale for b in AGE_BANDS]
    assert scales == sorted(scales, reverse=True)
