"""The tablet page in headless Chromium against the running game server (docs/protocol.md).

Each test writes screenshots to var/screenshots/ (gitignored) at the three tablet sizes of
conftest.VIEWPORTS (1180x820, 1024x768, 820x1180 portrait).
"""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import load_drawings, settle, shot

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- helpers


def pad_box(page) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return page.locator("#pad").bounding_box()


def fit(drawing, box, fill: float = 0.7):  # type: ignore[no-untyped-def]
    """Scale a raw Quick, Draw! drawing ([[xs, ys, ts], ...]) into the page's drawing area."""
    xs = [x for s in drawing for x in s[0]]
    ys = [y for s in drawing for y in s[1]]
    w, h = max(max(xs) - min(xs), 1), max(max(ys) - min(ys), 1)
    scale = min(box["width"] * fill / w, box["height"] * fill / h)
    ox = box["x"] + (box["width"] - w * scale) / 2 - min(xs) * scale
    oy = box["y"] + (box["height"] - h * scale) / 2 - min(ys) * scale
    return [[(ox + x * scale, oy + y * scale) for x, y in zip(s[0], s[1], strict=False)] for s in drawing]


def draw_strokes(page, strokes, stage: int | None = None) -> None:  # type: ignore[no-untyped-def]
    """Draw with the mouse (pointer events: down, moves, up), one stroke after another.

    With `stage`, stop as soon as that stage is over (recognised: a child would stop and watch).
    """
    running = f"window.doodle.game.drawing && window.doodle.game.current === {stage}"
    for stroke in strokes:
        if stage is not None and not page.evaluate(running):
            return
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for i, (x, y) in enumerate(stroke[1:]):
            if stage is not None and i % 40 == 39 and not page.evaluate(running):
                break
            page.mouse.move(x, y)
        page.mouse.up()


def topic_label(page) -> str:  # type: ignore[no-untyped-def]
    page.wait_for_function("document.querySelector('#topic').dataset.label !== ''")
    return page.locator("#topic").get_attribute("data-label")


def wait_stage(page, stage: int) -> str:  # type: ignore[no-untyped-def]
    print("waiting for stage", stage, flush=True)
    try:
        page.wait_for_function(f"window.doodle.game.current === {stage} && window.doodle.game.drawing",
                               timeout=20000)
    except PlaywrightTimeoutError:
        # Say where the game was (a stage that already ran out, or one that never started).
        seen = page.evaluate("""() => ({game: {current: window.doodle.game.current,
            drawing: window.doodle.game.drawing, screen: document.body.dataset.screen},
            last: window.doodle.messages().slice(-6).map(m => [m.type, m.stage, m.outcome])})""")
        raise AssertionError(f"stage {stage} never drawing within 20 s: {seen}") from None
    return topic_label(page)


def start_game(page, category: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f'.cat[data-code="{category}"]').click()
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)


def acked(page, count: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until the server acknowledged `count` strokes of the current stage."""
    page.wait_for_function(
        f"window.doodle.game.stages[window.doodle.game.current].strokes.filter(k => k.acked).length >= {count}",
        timeout=10000,
    )


def tap(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Tap the middle of an element (the play button breathes, so it is never "stable")."""
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def ink(page):  # type: ignore[no-untyped-def]
    """The drawing area's dark pixels, as a set of (x, y)."""
    return set(page.evaluate(
        """() => { const c = document.querySelector('#pad'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const out = []; for (let i = 0; i < d.length; i += 4) if (d[i] < 128 && d[i + 3] > 128) out.push((i / 4) | 0);
             return out; }"""
    ))


def same_ink(a: set[int], b: set[int]) -> bool:
    """The same drawing, give or take anti-aliasing at the edges of the lines."""
    return len(a) > 0 and len(a & b) / len(a | b) > 0.9


def local_strokes(page):  # type: ignore[no-untyped-def]
    return page.evaluate("window.doodle.strokes()")


def line(box, x0: float, y0: float, x1: float, y1: float, n: int = 8):  # type: ignore[no-untyped-def]
    """A short straight stroke in fractions of the drawing area."""
    return [(box["x"] + box["width"] * (x0 + (x1 - x0) * i / n), box["y"] + box["height"] * (y0 + (y1 - y0) * i / n))
            for i in range(n + 1)]


# --------------------------------------------------------------------------- 1. a whole game


def test_full_game_with_real_drawings(server, page_for, viewport) -> None:  # type: ignore[no-untyped-def]
    """Pick a category, draw each topic from real Quick, Draw! strokes, see guesses, reach the gallery."""
    _, w, h = viewport
    page = page_for(server.url + "/", w, h)
    page.wait_for_selector(f'.cat[data-code="{server.category}"]')
    shot(page, "1-start", viewport)
    start_game(page, server.category)
    stage_count = page.evaluate("window.doodle.game.stageCount")
    assert stage_count >= 1
    recognized = 0
    guesses_shot = celebration_shot = False
    for stage in range(stage_count):
        label = wait_stage(page, stage)
        print(f"stage {stage}: {label}")
        drawings = load_drawings(label)
        if not drawings:
            pytest.fail(f"no Quick, Draw! fixture drawing for {label!r} (tests/fixtures/quickdraw/)")
        strokes = fit(drawings[0], pad_box(page))  # the one the model is known to recognise
        half = 1  # the first stroke: a guess comes, the child goes on
        draw_strokes(page, strokes[:half], stage=stage)
        # A guess arrives while the child is still drawing.
        page.wait_for_function(f"window.doodle.messages().some(m => m.type === 'guess' && m.stage === {stage})",
                               timeout=10000)
        if not guesses_shot and page.evaluate(f"window.doodle.game.drawing && window.doodle.game.current === {stage}"):
            page.wait_for_timeout(400)  # the bubble pops in
            if page.evaluate(f"window.doodle.game.drawing && window.doodle.game.current === {stage}"):
                assert page.locator("#guessbox #bubble span").count() >= 1
                shot(page, "2-drawing-guesses", viewport)
                guesses_shot = True
        if page.evaluate("window.doodle.game.drawing"):
            draw_strokes(page, strokes[half:], stage=stage)
        result = f"window.doodle.messages().find(m => m.type === 'stage_result' && m.stage === {stage})"
        try:
            page.wait_for_function(result, timeout=12000)
        except Exception:  # the model did not get it: the child taps skip, as a child would
            page.locator("#skip").click()
            page.wait_for_function(result, timeout=8000)
        outcome = page.evaluate(result + ".outcome")
        if outcome == "recognized":
            if not celebration_shot and page.locator('#overlay:not([hidden])[data-outcome="recognized"]').count():
                page.wait_for_timeout(450)  # let the confetti fly for the picture
                shot(page, "3-recognized", viewport)
                celebration_shot = True
            recognized += 1
        sent = page.evaluate(f"window.doodle.strokes({stage})")
        # Every stroke drawn is in the page's model (recognised early: the rest was not drawn).
        assert len(sent) == len(strokes) or (outcome == "recognized" and 1 <= len(sent) < len(strokes)), (len(sent), len(strokes))
    page.wait_for_selector('body[data-screen="gallery"]', timeout=20000)
    settle(page)  # the cards have popped in
    shot(page, "6-gallery", viewport)
    assert recognized >= 1, "no stage was recognised"
    assert guesses_shot, "no guess was ever shown while drawing"
    assert celebration_shot, "the celebration was never on screen after a recognised stage"
    cards = page.locator(".gcard")
    assert cards.count() == stage_count
    assert page.locator(".gcard.recognized").count() == recognized
    assert page.locator(".gcard .thought span").count() >= stage_count
    # The gallery is drawn from the page's own ink: every card has dark pixels.
    for i in range(stage_count):
        ink = page.evaluate(
            """(i) => { const c = document.querySelectorAll('.gcard canvas')[i];
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let j = 0; j < d.length; j += 4) if (d[j] < 100) n++; return n; }""",
            i,
        )
        assert ink > 50, f"card {i} shows no drawing"
    assert page.js_errors == []


# --------------------------------------------------------------------------- 2. a dropped connection


def test_connection_drop_resumes_with_ink(open_stage_server, page_for, viewport) -> None:  # type: ignore[no-untyped-def]
    """Cut the socket mid-stage, keep drawing, come back: the server ends up with every point."""
    _, w, h = viewport
    page = page_for(open_stage_server.url + "/", w, h)
    page.wait_for_selector(f'.cat[data-code="{open_stage_server.category}"]')
    start_game(page, open_stage_server.category)
    box = pad_box(page)
    draw_strokes(page, [line(box, 0.2, 0.3, 0.4, 0.3), line(box, 0.2, 0.3, 0.2, 0.5)])
    acked(page, 2)
    game_id = page.evaluate("window.doodle.game.gameId")
    before = local_strokes(page)

    page.evaluate("window.doodle.cut()")
    page.wait_for_selector('body[data-net="reconnecting"]')
    # The child keeps drawing while the Wi-Fi is away: the ink stays on the screen and in the page.
    draw_strokes(page, [line(box, 0.6, 0.6, 0.75, 0.7, n=12)])
    page.wait_for_timeout(400)  # the sign slides in
    shot(page, "5-reconnecting", viewport)
    pixels_offline = ink(page)
    assert len(local_strokes(page)) == 3

    page.evaluate("window.doodle.restore()")
    page.wait_for_function("window.doodle.connected()", timeout=15000)
    assert page.evaluate("window.doodle.game.gameId") == game_id, "a new game started instead of resuming"
    welcome = [m for m in page.evaluate("window.doodle.messages()") if m["type"] == "welcome"][-1]
    assert welcome["resumed"] is True
    # The server had exactly the two strokes drawn before the cut...
    assert page.evaluate("window.doodle.received()") == [{"points": s["points"], "ended": True} for s in before]
    # ...and gets the third one now.
    acked(page, 3)
    assert same_ink(ink(page), pixels_offline)

    # A second drop proves what the server holds: stage_start.received equals the page's ink.
    page.evaluate("window.doodle.cut()")
    page.evaluate("window.doodle.restore()")
    page.wait_for_function("window.doodle.connected() && window.doodle.received().length === 3", timeout=15000)
    assert page.evaluate("window.doodle.received()") == [
        {"points": s["points"], "ended": True} for s in local_strokes(page)
    ]

    # Even a reload of the page resumes the game with the ink redrawn (kept in localStorage),
    # and the robot's guesses so far back in its bubble.
    page.wait_for_function("!document.querySelector('#guessbox').hidden", timeout=15000)
    bubble = page.locator("#bubble").inner_text()
    page.reload()
    page.wait_for_function("window.doodle.connected() && window.doodle.game.drawing", timeout=15000)
    assert not page.locator("#guessbox").is_hidden() and page.locator("#bubble").inner_text() == bubble
    assert page.evaluate("window.doodle.game.gameId") == game_id
    assert [s["xy"] for s in local_strokes(page)] == [s["xy"] for s in before] + [local_strokes(page)[2]["xy"]]
    assert len(local_strokes(page)) == 3
    assert same_ink(ink(page), pixels_offline)
    assert page.js_errors == []


# --------------------------------------------------------------------------- 3. two fingers, palms


def _touch(cdp, kind: str, points) -> None:  # type: ignore[no-untyped-def]
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def _tp(tid: int, x: float, y: float, r: float = 8) -> dict[str, float]:
    return {"x": x, "y": y, "id": tid, "radiusX": r, "radiusY": r, "force": 0.5}


def test_second_finger_and_palm_do_not_draw(open_stage_server, page_for, viewport) -> None:  # type: ignore[no-untyped-def]
    _, w, h = viewport
    page = page_for(open_stage_server.url + "/?category=" + open_stage_server.category, w, h)
    # Record what the page says aloud (headless Chromium has no voices).
    page.evaluate("""() => { window.__said = [];
        speechSynthesis.speak = (u) => window.__said.push({text: u.text, lang: u.lang}); }""")
    tap(page, "#play")
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)
    start = next(m for m in page.evaluate("window.doodle.messages()") if m["type"] == "stage_start")
    said = page.evaluate("window.__said")
    assert any(u["lang"] == "ko-KR" and start["topic"]["name_ko"] in u["text"] for u in said), said
    assert page.locator("#topic .ko").inner_text() == start["topic"]["name_ko"]
    assert page.locator("#topic .en").inner_text() == start["topic"]["name_en"]
    cdp = page.context.new_cdp_session(page)
    box = pad_box(page)
    ax, bx, y0 = box["x"] + box["width"] * 0.25, box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.3

    # One finger draws; a second finger lands and moves along with it: only the first one inks.
    _touch(cdp, "touchStart", [_tp(1, ax, y0)])
    _touch(cdp, "touchStart", [_tp(1, ax, y0), _tp(2, bx, y0)])
    for i in range(1, 15):
        _touch(cdp, "touchMove", [_tp(1, ax, y0 + i * 12), _tp(2, bx + i * 3, y0 + i * 12)])
    _touch(cdp, "touchEnd", [_tp(2, bx + 42, y0 + 168)])
    _touch(cdp, "touchEnd", [])
    page.wait_for_function("window.doodle.strokes().length === 1 && window.doodle.strokes()[0].ended")
    strokes = local_strokes(page)
    assert len(strokes) == 1
    xs = [x for x, _ in strokes[0]["xy"]]
    assert strokes[0]["points"] >= 10
    assert max(xs) - min(xs) < 3, "points of the second finger got into the stroke"

    # A palm (a very large contact) does not draw at all.
    _touch(cdp, "touchStart", [_tp(3, bx, y0, r=60)])
    for i in range(1, 10):
        _touch(cdp, "touchMove", [_tp(3, bx - i * 10, y0 + i * 10, r=60)])
    _touch(cdp, "touchEnd", [])
    page.wait_for_timeout(300)  # nothing to wait for: nothing must happen
    assert len(local_strokes(page)) == 1
    acked(page, 1)
    assert page.js_errors == []


# --------------------------------------------------------------------------- 4. time runs out


def test_time_out_is_gentle_and_gallery_shows_it(quick_server, page_for, viewport) -> None:  # type: ignore[no-untyped-def]
    _, w, h = viewport
    page = page_for(quick_server.url + "/?category=" + quick_server.category, w, h)
    shot(page, "1-start-preset", viewport)
    tap(page, "#play")
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)
    box = pad_box(page)
    draw_strokes(page, [line(box, 0.3, 0.3, 0.6, 0.6)])  # never recognised on this server
    # The bar shrinks with the server's clock.
    page.wait_for_function("Number(document.body.dataset.timeLeft) < 80", timeout=60000)
    limit_s = page.evaluate("window.doodle.messages().find(m => m.type === 'stage_start').time_limit_s")
    page.wait_for_selector('#overlay:not([hidden])[data-outcome="timeout"]', timeout=(limit_s + 10) * 1000)
    page.wait_for_timeout(500)
    shot(page, "4-timeout", viewport)
    # The other stages: skipped with the big button.
    stage_count = page.evaluate("window.doodle.game.stageCount")
    for stage in range(1, stage_count):
        wait_stage(page, stage)
        page.locator("#skip").click()
        page.wait_for_selector('#overlay:not([hidden])[data-outcome="skipped"]', timeout=10000)
    page.wait_for_selector('body[data-screen="gallery"]', timeout=15000)
    outcomes = [c.get_attribute("data-outcome") for c in page.locator(".gcard").all()]
    assert outcomes == ["timeout"] + ["skipped"] * (stage_count - 1)
    assert page.locator(".stars svg.off").count() == stage_count
    assert page.js_errors == []


# --------------------------------------------------------------------------- 5. streaming, English


def test_long_stroke_streams_in_chunks_and_english_setting(open_stage_server, page_for) -> None:  # type: ignore[no-untyped-def]
    """A stroke goes out in chunks while it is drawn (before the finger lifts), `start` offsets
    contiguous, `end` on the last; `?lang=en` shows the English word."""
    page = page_for(open_stage_server.url + f"/?category={open_stage_server.category}&lang=en", 1024, 768)
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(json.loads(payload))))
    tap(page, "#play")
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)
    start = next(m for m in page.evaluate("window.doodle.messages()") if m["type"] == "stage_start")
    assert page.locator("#topic .ko").inner_text() == start["topic"]["name_en"]
    box = pad_box(page)
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    for i in range(1, 90):
        page.mouse.move(box["x"] + 100 + i * 4, box["y"] + 100 + (i % 20) * 6)
        page.wait_for_timeout(8)  # a child's hand, not a robot's
    page.wait_for_timeout(200)
    page.mouse.up()
    acked(page, 1)
    chunks = [f for f in frames if f["type"] == "stroke"]
    # Playwright reports sent frames asynchronously (late on a busy machine), so count what was
    # sent rather than what had been reported by pointerup: the page sends `end: false` chunks
    # only while the stroke is being drawn, and one `end: true` chunk when the finger lifts.
    while_drawing = [f for f in chunks if not f["end"]]
    assert len(while_drawing) >= 2, "the stroke was not streamed while it was drawn"
    assert chunks[-1]["end"] is True and sum(f["end"] for f in chunks) == 1
    offset = 0
    for f in chunks:
        assert f["stage"] == 0 and f["stroke"] == 0 and f["start"] == offset
        assert len(f["points"]) <= 512
        offset += len(f["points"])
    local = local_strokes(page)[0]
    assert offset == local["points"]
    points = [p for f in chunks for p in f["points"]]
    assert [[p[0], p[1]] for p in points] == local["xy"]
    assert all(b[2] >= a[2] for a, b in zip(points, points[1:], strict=False)), "t must not go back"
    assert page.js_errors == []


# --------------------------------------------------------------------------- 6. lost events


def test_the_page_recovers_by_itself_when_a_stage_end_never_reaches_it(quick_server, page_for) -> None:  # type: ignore[no-untyped-def]
    # A server whose Redis restarted may never pass on a stage's end; the line itself is fine
    # (pongs come). Past the deadline it knows, and a grace, the page reconnects and its resume
    # says where the game is: it must not sit on a stage that has ended.
    page = page_for(quick_server.url + "/?category=" + quick_server.category, 1024, 768)
    tap(page, "#play")
    page.wait_for_function("window.doodle.game.drawing === true", timeout=20000)
    page.evaluate("window.doodle.deafen()")
    limit_s = page.evaluate("window.doodle.messages().find(m => m.type === 'stage_start').time_limit_s")
    page.wait_for_function(
        "window.doodle.game.current >= 1 || window.doodle.game.stages[0].outcome === 'timeout'",
        timeout=(limit_s + 30) * 1000)
    assert page.js_errors == []
