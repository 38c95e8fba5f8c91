"""Run the real game server (`python -m server`) as a subprocess, for end-to-end tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL what is left of the process group `proc` leads (started with
    `start_new_session=True`): granian's worker process outlives a killed supervisor."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ServerProcess:
    """One server process. `env` adds to (and overrides) the test's environment."""

    def __init__(self, *, env: dict[str, str | None], log_path: Path, port: int | None = None) -> None:
        """`env` adds to the test's environment; a None value removes that variable."""
        self.port = port or free_port()
        merged = {**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/play"

    def start(self, *, ready_timeout_s: float = 180.0) -> ServerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server"], cwd=REPO_ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: what it started can be found again
        )
        self._wait_ready(ready_timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        # Another process's readiness cannot be awaited: poll its health endpoint, bounded.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.http_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready in {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """A graceful stop (SIGTERM), as a deployment restarts a process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._kill_leftovers()

    def kill(self) -> None:
        """A crash (SIGKILL): nothing gets to clean up. Then whatever it started and left
        behind goes too (granian's worker process outlives a killed supervisor)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        if self.proc is not None:
            kill_process_group(self.proc)
