"""Starting and stopping the servers under test (ours, and the baseline) as subprocesses."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.utils.server_process import free_port, kill_process_group

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServerSet:
    """One or more server processes (several share Redis); tablets are spread over them."""

    kind: str  # "ours" or "baseline"
    env: dict[str, str]
    log_dir: Path
    processes: int = 1
    procs: list[subprocess.Popen] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{p}/ws/play" for p in self.ports]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def start(self, ready_timeout_s: float = 240.0) -> ServerSet:
        module = "server" if self.kind == "ours" else "bench.baseline_server"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for i in range(self.processes):
            port = free_port()
            env = {**os.environ, **self.env, "PORT": str(port), "HOST": "127.0.0.1"}
            log = open(self.log_dir / f"{self.kind}-{i}.log", "ab")  # noqa: SIM115
            self.procs.append(subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env,
                                               stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))
            self.ports.append(port)
        deadline = time.monotonic() + ready_timeout_s
        for proc, port in zip(self.procs, self.ports):
            while True:  # another process's readiness cannot be awaited: poll, bounded
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.kind} server exited with {proc.returncode}; "
                                       f"see {self.log_dir}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"{self.kind} server not ready; see {self.log_dir}")
                time.sleep(0.2)
        return self

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            kill_process_group(proc)
        self.procs, self.ports = [], []


@contextlib.contextmanager
def redis_for_bench(url: str | None) -> Iterator[str]:
    """The Redis a bench measures on: `url` (its database flushed first), or, when None, a
    throwaway `redis-server` of the bench's own on a free port with the production compose
    file's persistence (AOF, fsync every second), so other users of the machine's Redis neither
    disturb the figures nor see the bench's keys. Stopped, its data deleted, on exit."""
    if url is not None:
        prepare_redis(url)
        yield url
        return
    from tests.utils.throwaway_redis import ThrowawayRedis

    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        server = ThrowawayRedis(Path(tmp), appendfsync="everysec").start()
        try:
            yield server.url
        finally:
            server.stop()


def prepare_redis(url: str) -> None:
    """Empty the bench's Redis database (never another one)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def prepare_mariadb(url: str) -> None:
    """Create the bench's results database if missing (the server migrates it)."""
    import pymysql
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = pymysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username,
                           password=u.password or "")
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{u.database}` CHARACTER SET utf8mb4")
        conn.commit()
    finally:
        conn.close()


def other_load() -> list[str]:
    """Other CPU-heavy jobs on the machine (a model training), to state in the results."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if "inference.train" in cmd or "inference.evaluate" in cmd or "pytest" in cmd:
            found.append(f"{name}: {cmd[:120]}")
    return found
