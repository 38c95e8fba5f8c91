"""Run the stand-in on a real port in a background thread; stop listening and start again on the
same port (so a client sees "connection refused" in between, as during a Spring restart)."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn

from .app import StandinState, create_app


class StandinServer:
    """uvicorn serving the stand-in in a thread. `port=0` picks a free port on first start."""

    def __init__(self, state: StandinState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, ready_timeout_s: float = 10.0) -> None:
        """Start listening (on the same port as before when restarting)."""
        if self._thread is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(self.state), log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                  name=f"standin:{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + ready_timeout_s
        while not server.started:  # bounded readiness poll: uvicorn offers no callback
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the stand-in did not start")
            time.sleep(0.01)
        sock.close()  # uvicorn's server holds its own reference to the listening socket
        self._server, self._thread = server, thread

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop listening: new connections are refused until `start()`."""
        if self._thread is None or self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError("the stand-in did not stop")
        self._server = self._thread = None

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> StandinServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
