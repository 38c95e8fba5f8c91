"""The end of a game (issue 18, item 8): the whole gallery on one screen, a drawing tapped shows
it large with the robot's guesses and other children's drawings of the topic; the favicon."""
from __future__ import annotations

import urllib.request

import pytest

from tests.browser.conftest import settle, shot
from tests.browser.test_page import draw_strokes, line, pad_box, tap, wait_stage
from tests.browser.test_tablet_layout import broken_korean_words

pytestmark = pytest.mark.browser

INK_JS = """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let j = 0; j < d.length; j += 4) if (d[j] < 100 && d[j + 3] > 128) n++; return n; }"""

FULLY_VISIBLE_JS = """(sel) => [...document.querySelectorAll(sel)].every((c) => {
  const r = c.getBoundingClientRect();
  return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth; })"""


def test_the_gallery_fits_and_a_tapped_drawing_opens_large(open_stage_server, page_for, viewport) -> None:  # type: ignore[no-untyped-def]
    _, w, h = viewport
    page = page_for(f"{open_stage_server.url}/?category={open_stage_server.category}", w, h)
    tap(page, "#play")
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)
    stage_count = page.evaluate("window.doodle.game.stageCount")
    for stage in range(stage_count):  # a line each, then skip (this server never recognises)
        wait_stage(page, stage)
        box = pad_box(page)
        draw_strokes(page, [line(box, 0.2, 0.3 + 0.1 * stage, 0.7, 0.6)])
        page.wait_for_function(f"window.doodle.messages().some(m => m.type === 'ack' && m.stage === {stage})")
        page.locator("#skip").click()
        page.wait_for_function(f"window.doodle.messages().some(m => m.type === 'stage_result' && m.stage === {stage})")
    page.wait_for_selector('body[data-screen="gallery"]', timeout=20000)
    settle(page)  # the cards have popped in
    shot(page, "6-gallery", viewport)

    # Every drawing of the game on one screen, with no scrolling.
    assert page.locator(".gcard").count() == stage_count
    assert page.evaluate(FULLY_VISIBLE_JS, ".gcard"), "a gallery card is cut off"
    assert page.evaluate(FULLY_VISIBLE_JS, "#again")
    assert broken_korean_words(page, "#gallery") == []

    # A tap on a drawing shows it large: the topic, the robot's top 3, three other children's.
    over = next(m for m in page.evaluate("window.doodle.messages()") if m["type"] == "game_over")
    card = page.locator(".gcard").nth(1)
    tap(page, ".gcard:nth-child(2)")
    page.wait_for_selector("#detail:not([hidden])")
    topic = over["stages"][1]["topic"]
    assert page.locator("#detail .word .ko").inner_text() == topic["name_ko"]
    assert page.locator("#detail").get_attribute("data-label") == card.get_attribute("data-label") == topic["label"]
    guessed = [g["name_ko"] for g in over["stages"][1]["guesses"][:3]]
    assert page.locator("#detail .guesses span").all_inner_texts() == (guessed or ["?"])
    assert page.evaluate(INK_JS, page.locator("#detail canvas.big").element_handle()) > 100
    page.wait_for_function("document.querySelectorAll('#detail .minis canvas').length === 3", timeout=5000)
    for mini in page.locator("#detail .minis canvas").element_handles():
        assert page.evaluate(INK_JS, mini) > 20, "an example drawing is blank"
    settle(page)  # it has popped in: while it grows, the card is measured larger than it is
    assert page.evaluate(FULLY_VISIBLE_JS, "#detail .detail-card, #detail-close")
    assert broken_korean_words(page, "#detail") == []
    shot(page, "7-gallery-drawing", viewport)
    tap(page, "#detail-close")
    page.wait_for_selector("#detail", state="hidden")
    assert page.js_errors == []


def test_the_page_has_a_favicon(open_stage_server) -> None:  # type: ignore[no-untyped-def]
    with urllib.request.urlopen(open_stage_server.url + "/favicon.ico", timeout=5) as r:
        assert r.status == 200
        assert r.read(4) == b"\x00\x00\x01\x00", "not an ICO file"
