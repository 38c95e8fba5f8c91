"""The teacher page in real Chromium: sign in, open a class, watch 20 scripted tablets live.

Two real server processes share one Redis (a database of this test's own): the teacher's page is
on the first, the tablets are spread over both, so every tile the page shows of a tablet on the
second process came through Redis pub/sub. Screenshots go to var/screenshots/ (gitignored).
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from bench.tablet import Tablet
from tests.utils.drawings import fit_to_canvas, raw_drawings
from tests.utils.server_process import REPO_ROOT, ServerProcess

REDIS_URL = "redis://127.0.0.1:6379/11"  # no other test uses database 11
ADMIN = "admin-token-for-the-teacher-test"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
TABLETS = 20
ON_SECOND = 8  # tablets on the second process
CANVAS = (800, 600)


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory) -> Iterator[list[ServerProcess]]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    tmp = tmp_path_factory.mktemp("teacher")
    env = {"REDIS_URL": REDIS_URL, "DATABASE_URL": None, "LEGACY_API_URL": None,
           "OPEN_CLASS": "false", "ADMIN_TOKEN": ADMIN, "SESSION_SECRET": "teacher-test-secret-0123",
           "INFERENCE_WORKERS": "1", "LOG_LEVEL": "WARNING", "DEFAULT_TIME_LIMIT_S": "120",
           "DATA_DIR": str(tmp / "data")}
    servers = []
    try:
        for i in range(2):
            servers.append(ServerProcess(env=env, log_path=tmp / f"server{i}.log").start())
        yield servers
    finally:
        for s in servers:
            s.kill()


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"teacher-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def drawing_for(label: str) -> list[list[tuple[float, float, float]]]:
    """A real Quick, Draw! drawing of the topic (another animal when the fixture lacks it)."""
    for name in (label, "cat", "pig"):
        try:
            drawings = raw_drawings(name)
        except FileNotFoundError:
            continue
        if drawings:
            return fit_to_canvas(drawings[0], *CANVAS)
    raise AssertionError("no fixture drawings")


class ScriptedClass:
    """20 tablets on their own event loop (in a thread): join with the code, draw, wait."""

    def __init__(self, servers: list[ServerProcess], code: str, category: str) -> None:
        self.servers, self.code, self.category = servers, code, category
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tablets: list[Tablet] = []

    def run(self, coro, timeout_s: float = 300):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    async def _one(self, i: int) -> Tablet:
        server = self.servers[1] if i < ON_SECOND else self.servers[0]
        player = f"player-{i:04d}"
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            joined = (await client.post("/api/v1/join", json={"player_id": player,
                                                              "code": self.code})).json()
        tablet = Tablet(server.ws_url, player_id=player, category=self.category, canvas=CANVAS,
                        session_token=joined["session_token"])
        tablet.seat = joined["seat"]  # type: ignore[attr-defined]
        await tablet.__aenter__()
        await tablet.hello()
        start = await tablet.recv_until("stage_start")
        drawing = drawing_for(start["topic"]["label"])
        for index, stroke in enumerate(drawing):
            await tablet.draw_stroke(start["stage"], index, stroke)
            message = await tablet.recv_until("ack", "stage_result")
            if message["type"] == "stage_result":
                break
        return tablet

    def join_and_draw(self) -> None:
        async def all_of_them() -> None:
            self.tablets = list(await asyncio.gather(*(self._one(i) for i in range(TABLETS))))
        self.run(all_of_them())

    def drop(self, i: int) -> None:
        self.run(self.tablets[i].__aexit__(None, None, None))

    def close(self) -> None:
        async def close_all() -> None:
            for t in self.tablets:
                try:
                    await t.__aexit__(None, None, None)
                except Exception:
                    pass
        self.run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_the_teacher_watches_twenty_tablets_on_two_processes(two_servers, page_for):
    first = two_servers[0]
    issued = httpx.post(first.http_url + "/api/v1/admin/teachers", json={"label": "room 1"},
                        headers={"Authorization": f"Bearer {ADMIN}"})
    assert issued.status_code == 201, issued.text
    page = page_for(first.http_url + "/teacher", 1280, 900)

    page.fill("input[name=token]", "dqt_wrong")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "not valid" in page.text_content("#signin-error")
    page.fill("input[name=token]", issued.json()["token"])
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("body[data-screen=classes]")
    page.wait_for_selector("#open-form select[name=category] option[value=animals]", state="attached")
    page.select_option("#open-form select[name=category]", "animals")
    page.select_option("#open-form select[name=age_band]", "5-6")
    shot(page, "open")
    page.click("#open-form button[type=submit]")
    page.wait_for_selector("body[data-screen=room] #qr svg")
    page.wait_for_selector("#room-status[data-state=live]")
    code = page.text_content("#join-code").strip()
    assert len(code) == 6
    assert page.text_content("#join-url").endswith(f"/?class={code}")
    shot(page, "class")

    tablets = ScriptedClass(two_servers, code, "animals")
    try:
        tablets.join_and_draw()
        # every tablet's tile got ink, whichever process it plays on
        page.wait_for_function(
            f"document.querySelectorAll('.tile[data-inked=true]').length === {TABLETS}",
            timeout=120_000)
        seats = page.eval_on_selector_all(".tile", "ns => ns.map(n => Number(n.dataset.seat))")
        assert seats == list(range(1, TABLETS + 1))
        names = page.eval_on_selector_all(".tile .who", "ns => ns.map(n => n.textContent)")
        assert all("player-" not in n for n in names), "no player id on the page"
        topics = page.eval_on_selector_all(".tile .topic", "ns => ns.map(n => n.textContent)")
        assert all(t for t in topics)
        shot(page, "roster")
        seat = tablets.tablets[0].seat  # a tablet on the second process drops
        tablets.drop(0)
        page.wait_for_selector(f".tile[data-seat='{seat}'][data-connected=false]", timeout=60_000)
        assert page.text_content(f".tile[data-seat='{seat}'] .state") == "dropped"
        shot(page, "dropped")
    finally:
        tablets.close()
    assert page.js_errors == []
