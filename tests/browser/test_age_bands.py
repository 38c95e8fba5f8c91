"""Each age band plays by its own time and stages, and a time-out praises the drawing.

A game announced as 3-4 (the page's `?age=3-4`, set by the teacher's link) gets the band's
longer stages and fewer of them; when its time runs out the page shows a heart, the drawing and
what the robot thought it was, never a failure. Screenshots: var/screenshots/band-*.png.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from game.rules import default_band_rules
from tests.browser.conftest import Server, _serve, shot
from tests.browser.test_page import draw_strokes, line, pad_box, tap

pytestmark = pytest.mark.browser

BASE_TIME_S = 8.0
BANDS = default_band_rules()


@pytest.fixture(scope="module")
def band_server() -> Iterator[Server]:
    """Stages end only by time, in every band (each band's rule would otherwise accept a scribble)."""
    never = {"min_probability": 1.0}
    # A long pause between stages: the praise screen is still up for its screenshot on a busy machine.
    yield from _serve({"DEFAULT_TIME_LIMIT_S": str(BASE_TIME_S), "INTERMISSION_MS": "10000",
                       "RECOGNITION_MIN_PROBABILITY": "1.0",
                       "BAND_RULES": json.dumps({band: never for band in BANDS})})


@pytest.mark.parametrize("band", list(BANDS))
def test_each_band_gets_its_time_and_stages_and_a_time_out_is_praised(band_server, page_for, band) -> None:  # type: ignore[no-untyped-def]
    viewport = ("tablet", 1180, 820)
    rules = BANDS[band]
    page = page_for(f"{band_server.url}/?category={band_server.category}&age={band}", 1180, 820)
    tap(page, "#play")
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)
    start = next(m for m in page.evaluate("window.doodle.messages()") if m["type"] == "stage_start")
    want_s = round(BASE_TIME_S * rules.time_scale, 1)
    assert start["time_limit_s"] == pytest.approx(want_s)
    assert float(page.evaluate("document.body.dataset.timeLimitS")) == pytest.approx(want_s)  # the bar's length
    if rules.max_stages is not None:
        assert start["stage_count"] <= rules.max_stages
    shot(page, f"band-{band}-drawing", viewport)
    draw_strokes(page, [line(pad_box(page), 0.25, 0.4, 0.7, 0.55)])
    page.wait_for_selector('#overlay:not([hidden])[data-outcome="timeout"]', timeout=(want_s + 20) * 1000)
    # Praise, not failure: a heart, the child's drawing, and what the robot thought (if it guessed).
    assert page.get_attribute("#overlay .badge use", "href") == "#i-heart"
    thought = page.get_attribute("#overlay", "data-thought")
    if thought:
        assert thought != start["topic"]["label"]
        assert page.locator("#overlay .thought").is_visible()
    page.wait_for_timeout(400)  # nothing to wait for: let the heart's animation settle for the picture
    shot(page, f"band-{band}-praise", viewport)
    assert page.locator("#overlay").is_visible(), "the praise screen was gone before its picture"
    assert page.js_errors == []
