"""A scripted tablet: plays games over the WebSocket protocol (docs/protocol.md).

Used by the end-to-end tests and by the load benchmark. It draws given strokes in chunks the way
the page does, and keeps every message it receives so callers can assert on them.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets

Point = tuple[float, float, float]
DrawingFor = Callable[[str], Sequence[Sequence[Point]] | None]
#: After a stage's pong, how long the tablet waits for strokes still without an answer.
ANSWER_WAIT_S = 10.0


@dataclass
class StageLog:
    """What one stage looked like from the tablet."""

    stage: int
    label: str
    guesses: list[dict[str, Any]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    strokes_sent: int = 0
    # Stroke chunks the server refused because the stage (or, after the last stage, the game)
    # had ended, recognised while they were on their way: not kept, by design. A stroke of
    # several chunks may be refused several times, so this counts messages, not strokes.
    refused_late: int = 0


class Tablet:
    """One tablet on one socket (reconnect by creating another with the resume token)."""

    def __init__(self, url: str, *, player_id: str, category: str, canvas: tuple[int, int] = (800, 600),
                 resume_token: str | None = None, chunk_points: int = 32,
                 keep_received: bool = True, connect_kwargs: dict[str, Any] | None = None,
                 session_token: str | None = None) -> None:
        """`keep_received=False` keeps no history (long load runs); `connect_kwargs` go to
        `websockets.connect` (e.g. `compression=None`, `open_timeout`)."""
        self.url = url
        self.player_id = player_id
        self.category = category
        self.canvas = canvas
        self.resume_token = resume_token
        self.session_token = session_token
        self.chunk_points = chunk_points
        self.keep_received = keep_received
        self.connect_kwargs = connect_kwargs or {}
        self.ws: Any = None
        self.welcome: dict[str, Any] | None = None
        self.received: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []

    async def __aenter__(self) -> Tablet:
        self.ws = await websockets.connect(self.url, **{"max_size": 2**22, **self.connect_kwargs})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        if isinstance(message, dict):
            message = orjson.dumps(message).decode()
        await self.ws.send(message)

    async def recv(self, timeout_s: float = 30.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout_s)
        message = orjson.loads(raw)
        if self.keep_received:
            self.received.append(message)
        if message.get("type") == "error":
            self.errors.append(message)
        return message

    async def recv_until(self, *types: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Receive until a message of one of `types` arrives (others are kept in `received`)."""
        deadline = time.monotonic() + timeout_s
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if message["type"] in types:
                return message

    async def hello(self, **extra: Any) -> dict[str, Any]:
        await self.send({
            "type": "hello", "v": 1, "player_id": self.player_id, "category": self.category,
            "resume_token": self.resume_token,
            "canvas": {"width": self.canvas[0], "height": self.canvas[1]},
            **({"session_token": self.session_token} if self.session_token else {}), **extra,
        })
        self.welcome = await self.recv_until("welcome")
        self.resume_token = self.welcome["resume_token"]
        return self.welcome

    async def draw_stroke(self, stage: int, index: int, points: Sequence[Point], *,
                          start: int = 0, end: bool = True) -> None:
        """Send one stroke (or its remainder from `start`) in chunks."""
        points = list(points)
        if not points:
            await self.send({"type": "stroke", "stage": stage, "stroke": index, "start": start,
                             "points": [], "end": end})
            return
        for offset in range(0, len(points), self.chunk_points):
            chunk = points[offset: offset + self.chunk_points]
            last = offset + self.chunk_points >= len(points)
            await self.send({"type": "stroke", "stage": stage, "stroke": index,
                             "start": start + offset, "points": [list(p) for p in chunk],
                             "end": end and last})

    async def play_stage(self, stage_start: dict[str, Any], drawing: Sequence[Sequence[Point]] | None,
                         ) -> tuple[StageLog, dict[str, Any]]:
        """Draw `drawing` stroke by stroke, waiting for each stroke's ack; skip if None.

        Returns the stage's log and the message that follows its result (`stage_start` of the
        next stage or `game_over`).
        """
        stage = stage_start["stage"]
        log = StageLog(stage, stage_start["topic"]["label"])
        # An unrecognised stage ends at its deadline: wait that long, and a little more.
        wait_s = float(stage_start.get("time_limit_s", 40)) + 30
        if drawing is None:
            await self.send({"type": "skip", "stage": stage})
        else:
            for index, stroke in enumerate(drawing):
                await self.draw_stroke(stage, index, stroke)
                log.strokes_sent += 1
                message = await self._collect(log, "ack", "stage_result", timeout_s=wait_s)
                if message["type"] == "stage_result":
                    break
        while log.result is None:
            await self._collect(log, "stage_result", timeout_s=wait_s)
        # Every stroke gets an answer: a refusal, sent on the spot, or an ack, which comes through
        # the game's event stream (whichever process applied it). So a pong can overtake the ack
        # of a stroke sent just before the ping: wait for the pong, then (a few seconds at most:
        # a stroke never answered is the caller's finding, not a hang) for every stroke's answer.
        await self.send({"type": "ping", "id": stage})
        follow = None
        pong = False
        while not pong or len(log.acks) + log.refused_late < log.strokes_sent:
            try:
                message = await self._collect(log, "pong", "ack", "error", "stage_start", "game_over",
                                              timeout_s=ANSWER_WAIT_S if pong else wait_s)
            except asyncio.TimeoutError:
                if not pong:
                    raise
                break
            if message["type"] == "pong":
                pong = True
            elif message["type"] in ("stage_start", "game_over"):
                follow = follow or message
        if follow is None:
            follow = await self._collect(log, "stage_start", "game_over", timeout_s=wait_s)
        return log, follow

    async def _collect(self, log: StageLog, *types: str, timeout_s: float = 30.0) -> dict[str, Any]:
        while True:
            message = await self.recv(timeout_s)
            kind = message["type"]
            if kind == "guess" and message["stage"] == log.stage:
                log.guesses.append(message)
            elif kind == "ack" and message["stage"] == log.stage:
                log.acks.append(message)
            elif kind == "stage_result" and message["stage"] == log.stage:
                log.result = message
            elif kind == "error" and message.get("code") in ("wrong_stage", "game_over"):
                # Refused because the stage had ended: sent on the spot, so it may come before
                # the stage's result, which comes through the game's events.
                log.refused_late += 1
            if kind in types:
                return message


async def open_class(http_url: str, admin_token: str, name: str = "class") -> str:
    """A teacher opens a class; returns its join code."""
    import httpx

    async with httpx.AsyncClient(base_url=http_url) as client:
        response = await client.post("/api/v1/classes", json={"name": name},
                                     headers={"Authorization": f"Bearer {admin_token}"})
        response.raise_for_status()
        return response.json()["code"]


async def join(http_url: str, player_id: str, code: str | None = None) -> str:
    """A tablet joins a class (or the open local class); returns its session token."""
    import httpx

    async with httpx.AsyncClient(base_url=http_url) as client:
        body = {"player_id": player_id, **({"code": code} if code else {})}
        response = await client.post("/api/v1/join", json=body)
        response.raise_for_status()
        return response.json()["session_token"]


async def play_game(url: str, *, player_id: str, category: str, drawing_for: DrawingFor,
                    canvas: tuple[int, int] = (800, 600),
                    ) -> tuple[list[StageLog], dict[str, Any]]:
    """Play a whole game: `drawing_for(label)` gives the strokes to draw (None: skip)."""
    async with Tablet(url, player_id=player_id, category=category, canvas=canvas) as tablet:
        await tablet.hello()
        message = await tablet.recv_until("stage_start")
        logs = []
        while message["type"] == "stage_start":
            log, message = await tablet.play_stage(message, drawing_for(message["topic"]["label"]))
            logs.append(log)
        return logs, message
