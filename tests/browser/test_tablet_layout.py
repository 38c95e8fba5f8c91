"""The start screen as a child meets it (issue 18), at every tablet size of conftest.VIEWPORTS:
every category card can be seen whole (at once or after a finger swipe), no two share a
picture, and no Korean word is broken across two lines (measured glyph by glyph in the page).
"""
from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser

# The Hangul words of every visible text node under `root` whose syllables are not all on one
# line: each syllable's own box (a Range over it) gives its line's top.
BROKEN_KOREAN_WORDS_JS = """(selector) => {
  const broken = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const re = /[\\uac00-\\ud7a3]+/g;
      let m;
      while ((m = re.exec(n.textContent))) {
        const tops = new Set();
        for (let i = m.index; i < m.index + m[0].length; i++) {
          const r = document.createRange();
          r.setStart(n, i);
          r.setEnd(n, i + 1);
          const box = r.getClientRects()[0];
          if (box && box.width > 0) tops.add(Math.round(box.top));
        }
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""

# Cards whose whole box is inside the viewport right now.
FULLY_VISIBLE_JS = """() => [...document.querySelectorAll('.cat')].filter((c) => {
  const r = c.getBoundingClientRect();
  return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
}).map((c) => c.dataset.code)"""


def broken_korean_words(page, selector: str) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate(BROKEN_KOREAN_WORDS_JS, selector)


def swipe_up(cdp, x: float, y0: float, distance_px: float) -> None:  # type: ignore[no-untyped-def]
    """A finger dragged up the screen by `distance_px` (real touch events through Chromium's input
    pipeline; CDP's synthesizeScrollGesture does not scroll in headless Chromium 156)."""
    def tp(y: float) -> list[dict[str, float]]:
        return [{"x": x, "y": y, "id": 1, "radiusX": 8, "radiusY": 8, "force": 0.5}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": tp(y0)})
    steps = 20
    for i in range(1, steps + 1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": tp(y0 - distance_px * i / steps)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def categories(url: str) -> list[dict]:
    with urllib.request.urlopen(url + "/api/v1/categories", timeout=5) as r:
        return json.load(r)


def test_every_category_card_is_seen_whole_and_unlike_the_others(server, page_for, viewport) -> None:  # type: ignore[no-untyped-def]
    _, w, h = viewport
    cats = categories(server.url)
    page = page_for(server.url + "/", w, h)
    page.wait_for_function(f"document.querySelectorAll('.cat').length === {len(cats)}")
    page.evaluate("document.fonts.ready")
    shot(page, "1-start", viewport)

    # The title is on screen, not pushed above it.
    brand = page.locator(".brand").bounding_box()
    assert brand["y"] >= 0, f"the title starts {brand['y']:.0f} px above the screen"

    # Every card is seen whole, at rest or after swipes (a page that cannot scroll never gets there).
    codes = [c["code"] for c in cats]
    seen = set(page.evaluate(FULLY_VISIBLE_JS))
    cdp = page.context.new_cdp_session(page)
    start = "document.querySelector('#start')"
    swipes = 0
    while seen != set(codes) and swipes < 12:
        top = page.evaluate(f"{start}.scrollTop")
        swipe_up(cdp, w / 2, h * 0.85, h * 0.4)
        swipes += 1
        try:  # the list follows the finger (a page that blocks scrolling never does)
            page.wait_for_function(f"{start}.scrollTop > {top}", timeout=5000)
        except PlaywrightTimeoutError:
            break
        page.evaluate(f"""() => new Promise((done) => {{ const s = {start};
            const t = setTimeout(done, 1000); s.addEventListener('scrollend', () => {{ clearTimeout(t); done(); }}, {{once: true}}); }})""")
        seen |= set(page.evaluate(FULLY_VISIBLE_JS))
    if swipes:
        shot(page, "1-start-swiped", viewport)
    missing = [c for c in codes if c not in seen]
    assert not missing, f"never seen whole at {w}x{h} (after {swipes} swipes): {missing}"

    # No two categories look alike.
    icons = page.locator(".cat .emoji").all_inner_texts()
    assert len(icons) == len(codes) and all(icons)
    assert len(set(icons)) == len(icons), f"repeated icons: {sorted(i for i in icons if icons.count(i) > 1)}"

    # Korean names break between words only.
    assert broken_korean_words(page, "#start") == []
    assert page.js_errors == []


def test_unknown_categories_still_get_pictures_of_their_own(server, page_for) -> None:  # type: ignore[no-untyped-def]
    """Codes the page has no picture for (a new Spring category) still get distinct ones."""
    page = page_for(server.url + "/", 1024, 768)
    page.wait_for_selector(".cat")
    fake = [{"code": f"new_{i}", "name_ko": f"새 분류 {i}", "name_en": f"New {i}"} for i in range(20)]
    real = categories(server.url)
    page.route("**/api/v1/categories", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(real + fake)))
    page.reload()
    page.wait_for_function(f"document.querySelectorAll('.cat').length === {len(real) + len(fake)}")
    icons = page.locator(".cat .emoji").all_inner_texts()
    assert len(set(icons)) == len(icons), icons
