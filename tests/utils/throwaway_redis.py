"""A Redis of a test's own (own port, own data directory), for tests that stop or kill it.

The machine's shared Redis on 6379 is never touched.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.utils.server_process import free_port


class ThrowawayRedis:
    """redis-server with AOF persistence (appendfsync always: no acknowledged write is lost)."""

    def __init__(self, base: Path, *, appendfsync: str = "always",
                 extra_args: tuple[str, ...] = ()) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is missing: run scripts/ensure_services.sh")
        self.dir = base / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendfsync = appendfsync
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, ready_timeout_s: float = 20.0) -> ThrowawayRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
             "--logfile", str(self.dir / "redis.log"), *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:  # another process: poll its readiness, bounded
            try:
                if client.ping():
                    return self
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise TimeoutError("throwaway Redis did not start")

    def kill(self) -> None:
        """A crash: SIGKILL, no chance to write anything more."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
