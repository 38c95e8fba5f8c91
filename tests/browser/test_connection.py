"""A line that really breaks (issue 18, items 6 and 7): a TCP proxy between Chromium and the
server drops every connection, as a school's Wi-Fi does. The page shows the reconnecting picture,
comes back on its own, and every stroke the child finished before the stage's result is in the
results database, even the ones that reached the server only after the result.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.browser.conftest import shot
from tests.browser.test_page import acked, draw_strokes, ink, line, local_strokes, pad_box, same_ink, tap, wait_stage

pytestmark = pytest.mark.browser

NET_SIGN_SHOWN = """() => { const n = document.querySelector('#net'); const r = n.getBoundingClientRect();
  return document.body.dataset.net === 'reconnecting' && getComputedStyle(n).visibility === 'visible'
    && r.top >= 0 && r.bottom <= innerHeight && r.width > 0 && !!n.querySelector('svg use'); }"""


def play_and_draw_a_line(page) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    """Start a game, draw one line and wait for its ack: the game id and the pad's box."""
    tap(page, "#play")
    page.wait_for_function("window.doodle.connected() && window.doodle.game.drawing", timeout=20000)
    game_id = page.evaluate("window.doodle.game.gameId")
    box = pad_box(page)
    draw_strokes(page, [line(box, 0.2, 0.3, 0.5, 0.3)])
    acked(page, 1)
    return game_id, box

def test_a_real_socket_close_shows_the_reconnecting_picture_and_the_page_comes_back(
        open_stage_server, page_for, cuttable_line, viewport) -> None:  # type: ignore[no-untyped-def]
    _, w, h = viewport
    line_ = cuttable_line(open_stage_server)
    page = page_for(f"{line_.url}/?category={open_stage_server.category}", w, h)
    game_id, box = play_and_draw_a_line(page)

    line_.cut()  # the socket dies under the page: no close frame, no offline event
    page.wait_for_function(NET_SIGN_SHOWN, timeout=15000)
    # The picture, not words: the sign has no text a child would have to read.
    assert page.locator("#net").inner_text().strip() == ""
    draw_strokes(page, [line(box, 0.3, 0.5, 0.6, 0.7)])  # the child goes on drawing
    page.wait_for_timeout(400)  # the sign slides in, for the picture
    shot(page, "5-reconnecting", viewport)
    pixels = ink(page)

    line_.mend()  # nobody taps anything: the page reconnects by itself
    page.wait_for_function("window.doodle.connected()", timeout=30000)
    assert page.evaluate("window.doodle.game.gameId") == game_id, "a new game started instead of resuming"
    acked(page, 2)
    page.wait_for_function("getComputedStyle(document.querySelector('#net')).visibility === 'hidden'")
    assert same_ink(ink(page), pixels)
    assert line_.accepted >= 2, "the page never opened a new connection"
    assert page.js_errors == []


def _kept_strokes(db: Path, game_id: str, stage: int, expected: int, timeout_s: float = 60.0) -> dict[int, int]:
    """The results database's strokes of one stage (stroke index: points), polled (another
    process writes it) until `expected` are there or the time is up."""
    deadline = time.monotonic() + timeout_s
    kept: dict[int, int] = {}
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    kept = dict(conn.execute(
                        "select s.stroke_index, s.point_count from drawing_strokes s join stages g"
                        " on g.id = s.stage_id where g.game_id = ? and g.stage_index = ?",
                        (game_id, stage)).fetchall())
            except sqlite3.OperationalError:
                kept = {}  # not migrated yet
            if len(kept) >= expected:
                return kept
        time.sleep(0.25)
    return kept


def test_strokes_finished_before_the_result_are_all_in_the_results_database(
        quick_server, page_for, cuttable_line) -> None:  # type: ignore[no-untyped-def]
    """The stage ends (its time runs out) while the line is down and two finished strokes are
    still on the tablet: after the reconnect they are acknowledged for that stage and recorded."""
    line_ = cuttable_line(quick_server)
    page = page_for(f"{line_.url}/?category={quick_server.category}", 1180, 820)
    game_id, box = play_and_draw_a_line(page)

    line_.cut()
    page.wait_for_function(NET_SIGN_SHOWN, timeout=15000)
    draw_strokes(page, [line(box, 0.3, 0.5, 0.6, 0.7), line(box, 0.7, 0.2, 0.7, 0.6)])
    offline = local_strokes(page)
    assert len(offline) == 3 and all(s["ended"] for s in offline)
    assert page.evaluate("window.doodle.game.drawing && window.doodle.game.current === 0"), \
        "the strokes must be finished before the stage's time is up"
    # The stage's time runs out on the server while the tablet cannot reach it.
    page.wait_for_function("""() => { const s = window.doodle.game.stages[0];
        return performance.now() > s.deadline + 1500; }""", timeout=30000)
    line_.mend()

    # Back on the line, the server says stage 0 is over, and then takes its two late strokes.
    page.wait_for_function("""() => window.doodle.messages().filter(m => m.type === 'ack' && m.stage === 0
        && m.stroke >= 1).length >= 2""", timeout=30000)
    messages = page.evaluate("window.doodle.messages()")
    second_welcome = [i for i, m in enumerate(messages) if m["type"] == "welcome"][1]
    after = messages[second_welcome:]
    ended = next(i for i, m in enumerate(after) if (m["type"] == "stage_result" and m["stage"] == 0)
                 or (m["type"] == "stage_start" and m["stage"] == 1))
    late_acks = [i for i, m in enumerate(after) if m["type"] == "ack" and m["stage"] == 0]
    assert late_acks and min(late_acks) > ended, "the strokes were taken after the stage had ended"
    refused = [m for m in after if m["type"] == "error"]
    assert refused == [], refused

    # The rest of the game is skipped; the game is recorded when the tablet leaves.
    stage_count = page.evaluate("window.doodle.game.stageCount")
    for stage in range(1, stage_count):
        wait_stage(page, stage)
        page.locator("#skip").click()
        page.wait_for_function(f"window.doodle.messages().some(m => m.type === 'stage_result' && m.stage === {stage})")
    page.wait_for_selector('body[data-screen="gallery"]', timeout=20000)
    assert quick_server.data_dir is not None
    kept = _kept_strokes(quick_server.data_dir / "results.sqlite3", game_id, 0, 3)
    assert kept == {i: s["points"] for i, s in enumerate(offline)}, "every stroke finished before the result is kept"
    assert page.js_errors == []
