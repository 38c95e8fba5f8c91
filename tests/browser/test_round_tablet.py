"""A class round on the real tablet page: the teacher's topic replaces the child's at once, and
ending the round early shows the praise screen of a time-out, never a failure."""
from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import CLOSED_ADMIN_TOKEN, shot
from tests.browser.test_page import tap

pytestmark = pytest.mark.browser


def test_the_tablet_page_draws_the_class_round_and_is_praised_when_it_ends(closed_server,
                                                                          page_for):
    issued = httpx.post(f"{closed_server.url}/api/v1/admin/teachers", json={"label": "room 1"},
                        headers={"Authorization": f"Bearer {CLOSED_ADMIN_TOKEN}"})
    assert issued.status_code == 201, issued.text
    auth = {"Authorization": f"Bearer {issued.json()['token']}"}
    category = closed_server.category
    room = httpx.post(f"{closed_server.url}/api/v1/teacher/classes",
                      json={"name": "해바라기반", "category": category}, headers=auth)
    assert room.status_code == 201, room.text
    code = room.json()["code"]
    page = page_for(f"{closed_server.url}/?category={category}&class={code}", 1024, 768)
    tap(page, "#play")
    page.locator('#topic:not([data-label=""])').wait_for(state="visible", timeout=60_000)
    own = page.get_attribute("#topic", "data-label")
    topics = httpx.get(f"{closed_server.url}/api/v1/teacher/classes/{code}/topics",
                       headers=auth).json()
    label = next(t["label"] for t in topics if t["label"] != own)
    # The page's game is listed with the class as it starts: the round reaches it.
    started = httpx.post(f"{closed_server.url}/api/v1/teacher/classes/{code}/round",
                         json={"topic": label, "time_limit_s": 120}, headers=auth)
    assert started.status_code == 201 and started.json()["started"] == 1, started.text
    page.locator(f'#topic[data-label="{label}"]').wait_for(state="visible", timeout=30_000)
    assert page.locator("#overlay").is_hidden(), "the class's topic is shown at once"
    rounds = [m for m in page.evaluate("() => window.doodle.messages()")
              if m["type"] == "stage_start" and m.get("round")]
    assert rounds and rounds[-1]["deadline_ms"] == started.json()["round"]["deadline_ms"]
    shot(page, "round-tablet", ("landscape", 1024, 768))
    ended = httpx.delete(f"{closed_server.url}/api/v1/teacher/classes/{code}/round",
                         headers=auth)
    assert ended.status_code == 200 and ended.json()["ended"] == 1, ended.text
    page.locator("#overlay.timeout").wait_for(state="visible", timeout=30_000)
    shot(page, "round-ended-tablet", ("landscape", 1024, 768))
    assert not page.js_errors
