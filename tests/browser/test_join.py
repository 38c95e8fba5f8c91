"""Joining a class in a real browser: the page asks for the teacher's code, then plays."""
from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import CLOSED_ADMIN_TOKEN, shot
from tests.browser.test_page import tap

pytestmark = pytest.mark.browser


def test_a_tablet_joins_a_closed_class_with_the_teachers_code(closed_server, page_for):
    opened = httpx.post(f"{closed_server.url}/api/v1/classes", json={"name": "해바라기반"},
                        headers={"Authorization": f"Bearer {CLOSED_ADMIN_TOKEN}"})
    assert opened.status_code == 201
    code = opened.json()["code"]
    categories = httpx.get(f"{closed_server.url}/api/v1/categories").json()
    page = page_for(f"{closed_server.url}/?category={categories[0]['code']}", 1024, 768)
    tap(page, "#play")  # the child's tap starts the game (and unlocks audio)
    form = page.locator("#class-code")
    form.wait_for(state="visible", timeout=30_000)
    shot(page, "join-code", ("landscape", 1024, 768))
    page.fill("#class-code input", code.lower())
    page.click("#class-code button")
    page.locator('#topic:not([data-label=""])').wait_for(state="visible", timeout=60_000)
    received = [m["type"] for m in page.evaluate("() => window.doodle.messages()")]
    assert "welcome" in received and "stage_start" in received  # the token was accepted
    assert "error" not in received
    assert page.evaluate("() => localStorage.getItem('dq.class')") == code.lower().upper()
    assert not page.js_errors
