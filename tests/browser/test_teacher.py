"""The teacher page in real Chromium: sign in, open a class, watch 20 scripted tablets live,
run a class round on all of them, end it early and show its gallery.

Two real server processes share one Redis (a database of this test's own): the teacher's page is
on the first, the tablets are spread over both, so every tile the page shows of a tablet on the
second process came through Redis pub/sub. Screenshots go to var/screenshots/ (gitignored).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from PIL import Image

from bench.tablet import Tablet
from tests.utils.drawings import fit_to_canvas, raw_drawings
from tests.utils.server_process import REPO_ROOT, ServerProcess

REDIS_URL = "redis://127.0.0.1:6379/11"  # no other test uses database 11
ADMIN = "admin-token-for-the-teacher-test"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
TABLETS = 20
ON_SECOND = 8  # tablets on the second process
CANVAS = (800, 600)
THINKERS = 5  # every 5th tablet has drawn nothing of the round when the teacher ends it


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory) -> Iterator[list[ServerProcess]]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    tmp = tmp_path_factory.mktemp("teacher")
    env = {"REDIS_URL": REDIS_URL, "DATABASE_URL": None, "LEGACY_API_URL": None,
           "OPEN_CLASS": "false", "ADMIN_TOKEN": ADMIN, "SESSION_SECRET": "teacher-test-secret-0123",
           "INFERENCE_WORKERS": "1", "LOG_LEVEL": "WARNING", "DEFAULT_TIME_LIMIT_S": "120",
           # a recognised round drawing stays on its tile until the teacher ends the round
           # (the next stage's start would clear the thumbnail), for the round's screenshot
           "INTERMISSION_MS": "60000",
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


def drawing_for(label: str, index: int = 0) -> list[list[tuple[float, float, float]]]:
    """A real Quick, Draw! drawing of the topic (another animal when the fixture lacks it);
    `index` picks another of the fixture's drawings (the class does not all draw alike)."""
    for name in (label, "cat", "pig"):
        try:
            drawings = raw_drawings(name)
        except FileNotFoundError:
            continue
        if drawings:
            return fit_to_canvas(drawings[index % len(drawings)], *CANVAS)
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

    async def _await_round(self, tablet: Tablet) -> tuple[dict, float]:
        """The round's stage_start, and when this tablet got it (the wall clock)."""
        while True:
            message = await tablet.recv(timeout_s=120)
            if message["type"] == "stage_start" and message.get("round"):
                return message, time.time()

    def listen_for_round(self) -> concurrent.futures.Future:
        """Every tablet listens from now on (so its time of arrival is when it arrived)."""
        async def all_of_them() -> list[tuple[dict, float]]:
            return list(await asyncio.gather(*(self._await_round(t) for t in self.tablets)))
        return asyncio.run_coroutine_threadsafe(all_of_them(), self.loop)

    async def _draw_round(self, i: int, start: dict) -> dict | None:
        """Draw a real drawing of the round's topic; its stage_result if it came meanwhile.
        Every `THINKERS`-th tablet draws nothing yet: only the teacher's "end round" ends it."""
        tablet = self.tablets[i]
        if i % THINKERS == THINKERS - 1:
            return None
        for index, stroke in enumerate(drawing_for(start["topic"]["label"], i)):
            await tablet.draw_stroke(start["stage"], index, stroke)
            message = await tablet.recv_until("ack", "stage_result")
            if message["type"] == "stage_result" and message["stage"] == start["stage"]:
                return message
        return None

    def draw_round(self, starts: list[dict]) -> list[dict | None]:
        async def all_of_them() -> list[dict | None]:
            return list(await asyncio.gather(*(self._draw_round(i, s)
                                               for i, s in enumerate(starts))))
        return self.run(all_of_them())

    async def _round_result(self, tablet: Tablet, stage: int) -> dict:
        while True:
            message = await tablet.recv_until("stage_result", timeout_s=120)
            if message["stage"] == stage:
                return message

    def listen_for_results(self, starts: list[dict], done: list[dict | None],
                           ) -> concurrent.futures.Future:
        """Each tablet's result of the round (those recognised already have theirs)."""
        async def all_of_them() -> list[dict]:
            async def one(i: int) -> dict:
                return done[i] or await self._round_result(self.tablets[i], starts[i]["stage"])
            return list(await asyncio.gather(*(one(i) for i in range(len(self.tablets)))))
        return asyncio.run_coroutine_threadsafe(all_of_them(), self.loop)

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
        run_a_round(page, tablets)
        seat = tablets.tablets[0].seat  # a tablet on the second process drops
        tablets.drop(0)
        page.wait_for_selector(f".tile[data-seat='{seat}'][data-connected=false]", timeout=60_000)
        assert page.text_content(f".tile[data-seat='{seat}'] .state") == "dropped"
        shot(page, "dropped")
    finally:
        tablets.close()
    assert page.js_errors == []


def run_a_round(page, tablets: ScriptedClass) -> None:  # type: ignore[no-untyped-def]
    """Everyone draws the same topic: all 20 get it at once with one deadline; the teacher ends
    it early and the projector shows the round's drawings."""
    page.wait_for_selector("#round-topic option[value=cat]", state="attached")
    page.select_option("#round-topic", "cat")
    arrivals = tablets.listen_for_round()
    page.click("#round-start")
    page.wait_for_selector("#round-banner[data-state=running]")
    got = arrivals.result(120)
    starts = [m for m, _ in got]
    times = [t for _, t in got]
    assert len(starts) == TABLETS
    assert {m["topic"]["label"] for m in starts} == {"cat"}
    assert len({m["deadline_ms"] for m in starts}) == 1, "one deadline for the whole class"
    spread_s = max(times) - min(times)
    assert spread_s < 1.0, f"the round reached the tablets {spread_s:.3f} s apart"
    print(f"round: 20 tablets got stage_start within {spread_s * 1000:.0f} ms of each other")
    assert "cat" in page.text_content("#round-topic-name")
    done = tablets.draw_round(starts)
    # the tiles show the round's ink
    drawers = TABLETS - TABLETS // THINKERS
    page.wait_for_function(
        f"document.querySelectorAll('.tile[data-ink-topic=cat]').length >= {drawers}",
        timeout=60_000)
    shot(page, "round")
    results = tablets.listen_for_results(starts, done)
    page.click("#round-end")
    ended = results.result(120)
    assert {r["outcome"] for r in ended} <= {"timeout", "recognized"}
    thinkers = [r for i, r in enumerate(ended) if i % THINKERS == THINKERS - 1]
    assert thinkers and all(r["outcome"] == "timeout" for r in thinkers), \
        "ending early ends the round's stage as a time-out (the page praises it)"
    assert all(r["time_ms"] < starts[0]["time_limit_s"] * 1000 for r in thinkers), "early"
    page.wait_for_selector("body[data-screen=gallery]")
    page.wait_for_function(f"document.querySelectorAll('#gallery .drawing').length === {TABLETS}",
                           timeout=30_000)
    assert page.eval_on_selector_all("#gallery .gallery-group", "ns => ns.map(n => n.dataset.topic)") == ["cat"]
    seats = page.eval_on_selector_all("#gallery .drawing", "ns => ns.map(n => Number(n.dataset.seat))")
    assert seats == list(range(1, TABLETS + 1))
    text = page.text_content("#gallery")
    assert "player-" not in text and "🤖" in text
    recognized = sum(r["outcome"] == "recognized" for r in ended)
    shown = page.eval_on_selector_all("#gallery .drawing[data-recognized=true]", "ns => ns.length")
    assert shown == recognized
    shot(page, "gallery")
    with page.expect_download() as download:
        page.click("#gallery-download")
    sheet_path = SCREENSHOTS / "teacher-gallery-sheet.png"
    download.value.save_as(str(sheet_path))
    sheet = Image.open(io.BytesIO(sheet_path.read_bytes()))
    assert sheet.format == "PNG" and sheet.width > 1000
    page.click("#gallery-back")
    page.wait_for_selector("body[data-screen=room]")
