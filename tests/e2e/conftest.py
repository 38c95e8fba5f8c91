"""End-to-end fixtures: real server processes, real models, real fixture drawings."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from inference.api import RecognizeRequest
from tests.utils.drawings import Drawing, fit_to_canvas, raw_drawings
from tests.utils.server_process import REPO_ROOT, ServerProcess
from tests.utils.mariadb import scratch_database
from tests.utils.throwaway_redis import ThrowawayRedis

CANVAS = (1024, 768)
MODELS_DIR = REPO_ROOT / "models"


def categories() -> list[dict]:
    return json.loads((MODELS_DIR / "categories.json").read_text(encoding="utf-8"))["categories"]


@pytest.fixture(scope="session")
def recognised_drawings() -> dict[str, dict[str, Drawing]]:
    """Per category, per label: the first fixture drawing the shipped model recognises offline.

    Found with the very pool the server uses (same rasteriser, same masking), so the end-to-end
    tests can demand that the server recognises each of them too.
    """
    from inference.service import open_recognizer

    async def find() -> dict[str, dict[str, Drawing]]:
        chosen: dict[str, dict[str, Drawing]] = {}
        async with open_recognizer(MODELS_DIR, workers=1) as recognizer:
            for category in categories():
                labels = tuple(t["label"] for t in category["topics"])
                chosen[category["code"]] = {}
                for label in labels:
                    for drawing in raw_drawings(label):
                        drawing = fit_to_canvas(drawing, *CANVAS)
                        guesses = await recognizer.recognize(
                            RecognizeRequest("offline", category["code"], labels, drawing)
                        )
                        if guesses[0].label == label and guesses[0].probability >= 0.5:
                            chosen[category["code"]][label] = drawing
                            break
        return chosen

    return asyncio.run(find())


@pytest.fixture
def e2e_redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis server of the test's own (real, with AOF), stopped after it.

    It was database 10 of the machine's shared Redis, flushed at the start of each test: any
    other run of these tests at the same time (another engineer's worktree, a CI job on the same
    host) flushed a game from under this one, whose resumed tablet then found no game.
    """
    server = ThrowawayRedis(tmp_path / "e2e-redis").start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Server processes started by a test are stopped after it (list to append to)."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


def server_env(tmp_path: Path, **extra: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "DATA_DIR": str(tmp_path / "data"),
        "INFERENCE_WORKERS": "1",
        "INTERMISSION_MS": "300",
        "LOG_LEVEL": "WARNING",
        "OPEN_CLASS": "true",
        # Long stages: a busy machine (a server restarting, TensorFlow loading) must not turn a
        # test of recognition or resumption into a race against the 40 s deadline. Tests of
        # deadlines set their own.
        "DEFAULT_TIME_LIMIT_S": "40",
    }
    for name in ("REDIS_URL", "DATABASE_URL", "LEGACY_API_URL"):
        env[name] = None
    env.update(extra)
    return env


async def skip_to_drawable(tablet, message: dict, drawings: dict[str, Drawing]) -> dict:
    """Skip stages whose topic has no recognisable fixture drawing; returns the first
    `stage_start` that has one, or `game_over`."""
    while message["type"] == "stage_start" and message["topic"]["label"] not in drawings:
        await tablet.send({"type": "skip", "stage": message["stage"]})
        message = await tablet.recv_until("stage_start", "game_over")
    return message


def best_category(recognised: dict[str, dict[str, Drawing]]) -> str:
    """The category with the most labels that have a recognisable fixture drawing."""
    return max(recognised, key=lambda code: len(recognised[code]))


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh database of its own on the shared MariaDB (dropped afterwards)."""
    with scratch_database("dq_e2e") as url:
        yield url


def mariadb_rows(url: str, sql: str, *, until: Callable[[list[tuple]], bool],
                 timeout_s: float = 60.0) -> list[tuple]:
    """Poll another process's MariaDB database until `until(rows)` holds (bounded)."""
    import time

    import pymysql

    name = url.rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout_s
    rows: list[tuple] = []
    while time.monotonic() < deadline:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                               database=name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                rows = list(cur.fetchall())
        except pymysql.err.ProgrammingError:
            rows = []  # not migrated yet
        finally:
            conn.close()
        if until(rows):
            return rows
        time.sleep(0.2)
    return rows
