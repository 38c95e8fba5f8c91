"""What the page says aloud (issue 18, items 4 and 5).

Headless Chromium has no voices, so the page's `speechSynthesis` is replaced (before the page's
own script runs) by a recorder that keeps the line being said until the test ends it, as a real
voice would keep talking: every `speak` and `cancel` is logged with the line it landed on.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import _serve, load_drawings, shot
from tests.browser.test_page import draw_strokes, fit, line, pad_box, tap, wait_stage
from tests.browser.test_tablet_layout import broken_korean_words

pytestmark = pytest.mark.browser

VOICE_RECORDER = """(() => {
  const log = [];
  let current = null;
  const synth = window.speechSynthesis;
  // The robot's newest guess when a line is said (guesses keep coming while a line is spoken).
  const newest = () => { const g = window.doodle && window.doodle.game; const s = g && g.stages[g.current];
    return s && s.history.length ? s.history[s.history.length - 1].name_ko : null; };
  synth.speak = (u) => { log.push({op: 'speak', text: u.text, over: current && current.text, newest: newest()}); current = u; };
  synth.cancel = () => { const u = current; log.push({op: 'cancel', over: u && u.text}); current = null;
    if (u && u.onerror) u.onerror(new Event('error')); };
  // What the page reads to know a line is still being said.
  Object.defineProperty(synth, 'speaking', {get: () => !!current, configurable: true});
  Object.defineProperty(synth, 'pending', {get: () => false, configurable: true});
  window.__voice = {
    log,
    speaking: () => current && current.text,
    finish: () => { const u = current; current = null; if (u) { log.push({op: 'end', text: u.text}); if (u.onend) u.onend(new Event('end')); } return u && u.text; },
  };
})();"""


def said(page) -> list[dict]:  # type: ignore[no-untyped-def]
    return page.evaluate("window.__voice.log")


def open_with_voice(page_for, url: str, w: int = 1180, h: int = 820):  # type: ignore[no-untyped-def]
    page = page_for("about:blank", w, h)
    page.context.add_init_script(VOICE_RECORDER)
    page.goto(url)
    return page


def test_the_topic_is_heard_whole_before_any_guess_and_guesses_are_questions(open_stage_server, page_for) -> None:  # type: ignore[no-untyped-def]
    page = open_with_voice(page_for, f"{open_stage_server.url}/?category={open_stage_server.category}")
    tap(page, "#play")
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)
    start = next(m for m in page.evaluate("window.doodle.messages()") if m["type"] == "stage_start")
    topic_line = page.evaluate("window.__voice.speaking()")
    assert topic_line and start["topic"]["name_ko"] in topic_line, said(page)

    # The child draws at once; guesses come while the topic is still being said.
    box = pad_box(page)
    draw_strokes(page, [line(box, 0.2, 0.3, 0.6, 0.3), line(box, 0.3, 0.2, 0.4, 0.7), line(box, 0.6, 0.6, 0.8, 0.8)])
    page.wait_for_function("window.doodle.messages().filter(m => m.type === 'guess').length >= 2", timeout=20000)
    log = said(page)
    assert page.evaluate("window.__voice.speaking()") == topic_line, f"the topic was cut short: {log}"
    assert [e for e in log if e.get("over") == topic_line] == [], f"something was said over the topic: {log}"

    # The topic ends: only then the robot's newest guess, as a question (this server never
    # recognises, so no line may sound like the answer).
    page.evaluate("window.__voice.finish()")
    page.wait_for_function("window.__voice.speaking() !== null", timeout=5000)
    spoken = said(page)[-1]
    assert spoken["op"] == "speak" and spoken["text"] == page.evaluate("window.__voice.speaking()")
    assert spoken["text"] == f"{spoken['newest']}일까?", spoken  # the newest guess, as a question
    assert not any("알았다" in (e.get("text") or "") for e in said(page))
    assert page.js_errors == []


@pytest.fixture(scope="module")
def patient_server():  # type: ignore[no-untyped-def]
    """The normal rules with a long pause after each stage: time to reload during it."""
    yield from _serve({"INTERMISSION_MS": "9000", "DEFAULT_TIME_LIMIT_S": "120"})  # see conftest.server


def test_a_win_waits_for_the_topic_and_is_said_once_even_after_a_reload(patient_server, page_for) -> None:  # type: ignore[no-untyped-def]
    page = open_with_voice(page_for, f"{patient_server.url}/?category={patient_server.category}")
    tap(page, "#play")
    stage_count = None
    for stage in range(5):
        label = wait_stage(page, stage)
        stage_count = stage_count or page.evaluate("window.doodle.game.stageCount")
        topic_line = page.evaluate("window.__voice.speaking()")
        assert topic_line and "그려 볼까요" in topic_line
        drawings = load_drawings(label)
        if drawings:  # the drawing the shipped model is known to recognise, drawn at once
            draw_strokes(page, fit(drawings[0], pad_box(page)), stage=stage)
        result = f"window.doodle.messages().find(m => m.type === 'stage_result' && m.stage === {stage})"
        try:
            page.wait_for_function(result, timeout=12000)
        except PlaywrightTimeoutError:
            pass
        if page.evaluate(result + "?.outcome") == "recognized":
            break
        if stage + 1 >= stage_count:
            pytest.fail("the model recognised none of the fixture drawings")
        if not page.evaluate(result):
            page.locator("#skip").click()
        page.evaluate("window.__voice.finish()")
    name_ko = page.evaluate(result + ".topic.name_ko")
    win_line = f"알았다! {name_ko}!"
    # Won while the topic is still being said: the win waits for it, and nothing cut it.
    if page.evaluate("window.__voice.speaking()") == topic_line:
        assert not any(e["op"] == "cancel" and e.get("over") == topic_line for e in said(page)), said(page)
        assert not any(e.get("text") == win_line for e in said(page)), "the win was said over the topic"
        page.evaluate("window.__voice.finish()")
    page.wait_for_function(f"window.__voice.speaking() === {win_line!r}", timeout=5000)
    shot(page, "3-recognized-voice", ("1180x820", 1180, 820))
    assert broken_korean_words(page, "#game") == []

    # A reload during the pause: the celebration is back on screen, the win is not said again.
    page.reload()
    page.wait_for_function("window.doodle.connected()", timeout=20000)
    page.wait_for_selector('#overlay:not([hidden])[data-outcome="recognized"]', timeout=5000)
    page.wait_for_function("window.doodle.messages().some(m => m.type === 'stage_result')", timeout=5000)
    assert not any(e.get("text") == win_line for e in said(page)), said(page)
    assert page.js_errors == []
