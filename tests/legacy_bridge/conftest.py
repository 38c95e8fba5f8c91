"""Fixtures for the bridge's tests: the Spring stand-in on a real port, a fresh MariaDB database
on the shared server, a throwaway MariaDB that tests may stop, real Redis with unique keys."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pymysql
import pytest
import redis.asyncio as aioredis

from game.records import FinishedGame, GameOutcome, GuessSnapshot, StageOutcome, StageRecord
from legacy_bridge.standin import StandinServer, StandinState
from legacy_bridge.standin.app import category, topic
from tests.utils.mariadb import scratch_database

REDIS_URL = "redis://127.0.0.1:6379/0"


# --- Spring stand-in

def standin_state(api_key: str = "test-key") -> StandinState:
    """Two active categories (one with a label no model knows), one inactive."""
    state = StandinState(api_key=api_key)
    state.categories = [
        category(3, "animals", "동물", "Animals", sort_order=1, age_min=3, age_max=7,
                 stage_count=5, colour="blue"),  # an unknown extra field
        category(4, "food", "음식", "Food", sort_order=2, age_min=None, age_max=None,
                 stage_count=None),
        category(7, "old", "옛날", "Old", sort_order=3, active=False),
    ]
    state.topics = {
        3: [topic(101, 3, "cat", "고양이", time_limit_s=40, mood="happy"),
            topic(102, 3, "dog", "개", time_limit_s=None),
            topic(103, 3, "unicorn", "유니콘"),  # no model knows it
            topic(104, 3, "fish", "물고기", active=False),
            topic(105, 3, "house plant", "화분")],
        4: [topic(201, 4, "apple", "사과"), topic(202, 4, "banana", "바나나")],
        7: [topic(701, 7, "cat", "고양이")],
    }
    return state


KNOWN = {"animals": frozenset({"cat", "dog", "fish", "house plant"}),
         "food": frozenset({"apple", "banana"}),
         "old": frozenset({"cat"})}


def known_labels(code: str) -> frozenset[str]:
    return KNOWN.get(code, frozenset())


@pytest.fixture
def state() -> StandinState:
    return standin_state()


@pytest.fixture
def standin(state: StandinState) -> Iterator[StandinServer]:
    server = StandinServer(state)
    server.start()
    yield server
    server.stop()


# --- MariaDB (shared server, fresh database per test)

def _mariadb_up(host: str, port: int) -> bool:
    try:
        pymysql.connect(host=host, port=port, user="root", password="", connect_timeout=2).close()
        return True
    except pymysql.MySQLError:
        return False


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    with scratch_database("dq_bridge") as url:
        yield url


# --- a throwaway MariaDB this test may stop and start

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayMariaDB:
    """mariadbd on its own port, socket and data directory (installed once per session)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
                        "--user=root", "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True, timeout=120)

    def start(self, ready_timeout_s: float = 30.0) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.base / 'mysqld.sock'}",
             f"--pid-file={self.base / 'mysqld.pid'}", f"--log-error={self.base / 'err.log'}",
             "--user=root", "--skip-grant-tables", "--innodb-buffer-pool-size=16M",
             "--skip-log-bin", "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_unicode_ci"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + ready_timeout_s
        while not _mariadb_up("127.0.0.1", self.port):  # bounded readiness poll
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.base / "err.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"throwaway MariaDB did not start:\n{log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.proc = None

    def url(self, db: str) -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/{db}"

    def create_database(self, db: str) -> None:
        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="")
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4")
        conn.close()


@pytest.fixture(scope="session")
def throwaway_mariadb() -> Iterator[ThrowawayMariaDB]:
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        pytest.fail("mariadbd / mariadb-install-db missing: run scripts/ensure_services.sh")
    base = Path(tempfile.mkdtemp(prefix="dq-mariadb-"))
    os.chmod(base, 0o755)
    db = ThrowawayMariaDB(base)
    db.start()
    try:
        yield db
    finally:
        db.stop()
        shutil.rmtree(base, ignore_errors=True)


# --- Redis

@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        pytest.fail("Redis on 127.0.0.1:6379 is down: run scripts/ensure_services.sh")
    yield client
    await client.aclose()


@pytest.fixture
def unique_key(request: pytest.FixtureRequest) -> str:
    return f"test:legacy_bridge:{request.node.name}:{uuid.uuid4().hex[:10]}"


# --- finished games

def make_game(i: int, *, player: str | None = None, stages: int = 2,
              strokes: int = 3) -> FinishedGame:
    """A finished game with Korean names, strokes with timing and guesses over time."""
    t0 = 1_790_000_000_000 + i * 600_000
    stage_records = []
    for s in range(stages):
        start = t0 + s * 45_000
        recognized = (i + s) % 2 == 0
        stage_records.append(StageRecord(
            index=s, label="cat" if s % 2 == 0 else "house plant",
            name_ko="고양이" if s % 2 == 0 else "화분", name_en="cat" if s % 2 == 0 else "house plant",
            time_limit_s=40.0, started_at_ms=start, ended_at_ms=start + 30_000,
            outcome=StageOutcome.RECOGNIZED if recognized else StageOutcome.TIMEOUT,
            time_to_recognize_ms=12_345 if recognized else None,
            strokes=tuple(
                tuple((10.0 * k + p, 20.0 * k + p, float(1000 * k + 16 * p)) for p in range(5))
                for k in range(strokes)),
            guesses=(GuessSnapshot(800, (("dog", 0.4), ("cat", 0.3))),
                     GuessSnapshot(2400, (("cat", 0.8), ("dog", 0.1), ("pig", 0.05)))),
            final_guesses=(("cat", 0.8), ("dog", 0.1)),
            canvas_width=1024, canvas_height=768,
        ))
    return FinishedGame(
        game_id=f"g-{i:05d}-{uuid.uuid4().hex[:8]}", player_id=player or f"p-{i % 7}",
        category="animals", started_at_ms=t0, ended_at_ms=t0 + stages * 45_000,
        outcome=GameOutcome.COMPLETED, stages=tuple(stage_records), age_band="5-6",
        class_code="해바라기반", extra={"device": "tab-3"},
    )


async def wait_for(predicate, timeout_s: float = 10.0, interval_s: float = 0.02) -> None:
    """Poll a readiness condition with a bounded timeout (for things that offer no event)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval_s)
