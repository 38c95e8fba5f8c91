"""One simulated child: a `bench.tablet.Tablet` that draws real drawings with their real timing.

While a stage runs the child replays a drawing of the topic: each stroke is streamed in chunks of
`chunk_ms` of drawing time, each chunk sent when its last point was drawn, with the recorded
pauses between strokes. When a drawing is done and the stage still runs, the child pauses and
draws another one of the topic (children keep drawing until the guess is right or time is up),
so every connected child is a drawing child. A reader task timestamps every message as it
arrives; the measurements go into the process's `Stats`.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.load.drawings import DrawingLibrary
from bench.tablet import Tablet


@dataclass
class Window:
    """The steady phase, in this process's `time.monotonic()` seconds."""

    start_s: float
    end_s: float

    def __contains__(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass
class Stats:
    """Everything one generator process measured (lists are merged by the coordinator)."""

    stroke_to_guess_ms: list[float] = field(default_factory=list)  # steady phase only
    stroke_to_guess_all_ms: list[float] = field(default_factory=list)
    stroke_to_ack_ms: list[float] = field(default_factory=list)  # steady phase only
    timer_lateness_ms: list[float] = field(default_factory=list)  # timed-out stages
    send_lag_ms: list[float] = field(default_factory=list)  # generator health: chunk sent late
    loop_lag_ms: list[float] = field(default_factory=list)
    strokes_sent: int = 0
    strokes_acked: int = 0
    strokes_unacked: int = 0  # ended strokes never acknowledged (before wrong_stage excuses)
    strokes_without_guess: int = 0  # ended strokes whose stage ended before a covering guess
    wrong_stage_errors: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    msgs_sent: int = 0
    msgs_received: int = 0
    msgs_sent_steady: int = 0
    msgs_received_steady: int = 0
    guesses: int = 0
    stages: dict[str, int] = field(default_factory=dict)  # outcome -> count
    games_started: int = 0
    games_over: int = 0
    connected: int = 0
    connect_failures: int = 0
    disconnects: dict[str, int] = field(default_factory=dict)  # unexpected closes by reason
    clock_offset_ms: float | None = None  # server minus local, best sample

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class Child:
    """Plays games on one socket until `stop_s` (monotonic); then closes."""

    def __init__(self, url: str, index: int, *, category: str, library: DrawingLibrary,
                 stats: Stats, window: Window, stop_s: float, seed: int, chunk_ms: float = 50.0,
                 canvas: tuple[int, int] = (1024, 700), guard_ms: float = 500.0,
                 compression: str | None = "deflate", keep_drawing: bool = True,
                 ping_s: float = 5.0) -> None:
        self.ping_s = ping_s
        self.url = url
        self.index = index
        self.category = category
        self.library = library
        self.stats = stats
        self.window = window
        self.stop_s = stop_s
        self.rng = random.Random(seed)
        self.chunk_ms = chunk_ms
        self.canvas = canvas
        self.guard_ms = guard_ms
        self.compression = compression
        self.keep_drawing = keep_drawing
        # per stage
        self.stage = -1
        self.stage_event = asyncio.Event()
        self.stage_start: dict[str, Any] | None = None
        self.stage_start_local_ms = 0.0
        self.stage_over = True
        self.pending_guess: deque[tuple[int, float, bool]] = deque()  # (points, sent_s, steady)
        self.unacked: dict[tuple[int, int], float] = {}  # -> when its end was sent
        self.game_over = asyncio.Event()
        self.closing = False

    async def run(self) -> None:
        stats = self.stats
        while time.monotonic() < self.stop_s - 1.0:
            player_id = f"bench-{self.index:05d}-{self.rng.randrange(16**8):08x}"
            tablet = Tablet(self.url, player_id=player_id, category=self.category,
                            canvas=self.canvas, keep_received=False,
                            connect_kwargs={"compression": self.compression,
                                            "open_timeout": 60, "ping_interval": None})
            try:
                await tablet.__aenter__()
            except Exception as exc:  # refused, timed out: counted, tried again shortly
                stats.connect_failures += 1
                stats.error(f"connect:{type(exc).__name__}")
                await asyncio.sleep(1.0 + self.rng.random())
                continue
            stats.connected += 1
            try:
                await self._play(tablet)
            finally:
                stats.connected -= 1
                self.closing = True
                try:
                    await asyncio.wait_for(tablet.ws.close(), 5)
                except Exception:
                    pass
                self._settle()
                self.closing = False

    async def _play(self, tablet: Tablet) -> None:
        stats = self.stats
        try:
            await asyncio.wait_for(tablet.hello(), 30)
        except Exception as exc:
            stats.error(f"hello:{type(exc).__name__}")
            return
        stats.msgs_sent += 1
        stats.msgs_received += 1
        stats.games_started += 1
        self.game_over.clear()
        reader = asyncio.create_task(self._read(tablet))
        pinger = asyncio.create_task(self._ping(tablet)) if self.ping_s > 0 else None
        try:
            while not self.game_over.is_set() and time.monotonic() < self.stop_s:
                self.stage_event.clear()
                if self.stage_over:
                    waiter = asyncio.create_task(self.stage_event.wait())
                    done, _ = await asyncio.wait(
                        {waiter, reader}, timeout=max(0.0, self.stop_s - time.monotonic()),
                        return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if reader in done or not done:
                        return
                    continue
                await self._draw_stage(tablet)
                if not self.stage_over:  # drew everything allowed: wait for the stage to end
                    waiter = asyncio.create_task(self.stage_event.wait())
                    await asyncio.wait({waiter, reader},
                                       timeout=max(0.0, self.stop_s - time.monotonic()),
                                       return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if reader.done():
                        return
            # Stopped drawing: give the last strokes' acks and guesses a bounded time to arrive.
            until = time.monotonic() + 10.0
            while (self.unacked or self.pending_guess) and not reader.done() \
                    and time.monotonic() < until:
                await asyncio.sleep(0.05)
        finally:
            if pinger is not None:
                pinger.cancel()
            if not reader.done():
                reader.cancel()
                try:
                    await reader
                except BaseException:
                    pass

    async def _ping(self, tablet: Tablet) -> None:
        """The page's heartbeat (server/static/app.js): a ping every few seconds."""
        n = 0
        while time.monotonic() < self.stop_s:
            await asyncio.sleep(self.ping_s * (0.5 + self.rng.random()) if n == 0 else self.ping_s)
            n += 1
            try:
                await tablet.ws.send(f'{{"type":"ping","id":{n}}}')
            except Exception:
                return
            self.stats.msgs_sent += 1
            if time.monotonic() in self.window:
                self.stats.msgs_sent_steady += 1

    # ------------------------------------------------------------------ drawing

    async def _draw_stage(self, tablet: Tablet) -> None:
        start = self.stage_start
        assert start is not None
        stage = start["stage"]
        label = start["topic"]["label"]
        offset = self.stats.clock_offset_ms or 0.0
        deadline_local_s = time.monotonic() + (
            start["deadline_ms"] - offset - time.time() * 1000 - self.guard_ms) / 1000
        stage_t0_s = self.stage_start_local_ms  # monotonic seconds at stage_start
        stroke_no, stage_points = 0, 0
        await asyncio.sleep(self.rng.uniform(0.3, 1.5))  # the child looks at the topic
        while not self.stage_over and self.stage == stage:
            drawing = self.library.pick(label, self.rng)
            base_s = time.monotonic()
            for stroke in drawing.strokes:
                if stroke_no >= 190 or stage_points + len(stroke) >= 19_000:
                    return
                sent = await self._draw_stroke(tablet, stage, stroke_no, stroke, base_s,
                                               stage_t0_s, deadline_local_s)
                if sent is None:
                    return
                stroke_no += 1
                stage_points += sent
            if not self.keep_drawing:
                return
            await asyncio.sleep(self.rng.uniform(0.8, 2.0))  # looks, then adds another one
            if time.monotonic() >= deadline_local_s:
                return

    async def _draw_stroke(self, tablet: Tablet, stage: int, index: int, stroke: tuple,
                           base_s: float, stage_t0_s: float, deadline_s: float) -> int | None:
        """Stream one stroke in real time; returns its points, or None if the stage is over."""
        stats = self.stats
        chunk_ms = self.chunk_ms
        n = len(stroke)
        i = 0
        while i < n:
            first_t = stroke[i][2]
            j = i + 1
            while j < n and stroke[j][2] - first_t < chunk_ms and j - i < 500:
                j += 1
            due_s = base_s + stroke[j - 1][2] / 1000
            now = time.monotonic()
            if due_s > now:
                await asyncio.sleep(due_s - now)
                now = time.monotonic()
            if self.stage_over or self.stage != stage or now >= deadline_s or self.closing:
                return None
            if now > self.stop_s:
                return None
            stats.send_lag_ms.append((now - due_s) * 1000) if len(stats.send_lag_ms) < 200_000 \
                else None
            shift = (base_s - stage_t0_s) * 1000
            points = [[x, y, round(t + shift, 1)] for x, y, t in stroke[i:j]]
            end = j >= n
            if end:
                total = self._points_sent + (j - i)
            message = orjson.dumps({"type": "stroke", "stage": stage, "stroke": index, "start": i,
                                    "points": points, "end": end})
            try:
                await tablet.ws.send(message.decode())
            except Exception:
                return None
            sent_s = time.monotonic()
            stats.msgs_sent += 1
            if sent_s in self.window:
                stats.msgs_sent_steady += 1
            self._points_sent += j - i
            if end:
                stats.strokes_sent += 1
                self.unacked[(stage, index)] = sent_s
                self.pending_guess.append((total, sent_s, sent_s in self.window))
            i = j
        return n

    _points_sent = 0

    # ------------------------------------------------------------------ reading

    async def _read(self, tablet: Tablet) -> None:
        stats = self.stats
        ws = tablet.ws
        window = self.window
        while True:
            try:
                raw = await ws.recv()
            except Exception as exc:
                if not self.closing and time.monotonic() < self.stop_s - 0.5 \
                        and not self.game_over.is_set():
                    reason = getattr(getattr(exc, "rcvd", None), "code", None)
                    key = f"{type(exc).__name__}:{reason}"
                    stats.disconnects[key] = stats.disconnects.get(key, 0) + 1
                return
            now = time.monotonic()
            stats.msgs_received += 1
            if now in window:
                stats.msgs_received_steady += 1
            message = orjson.loads(raw)
            kind = message.get("type")
            if kind == "guess":
                stats.guesses += 1
                if message["stage"] == self.stage:
                    points = message["points"]
                    pending = self.pending_guess
                    while pending and pending[0][0] <= points:
                        _, sent_s, steady = pending.popleft()
                        ms = (now - sent_s) * 1000
                        stats.stroke_to_guess_all_ms.append(ms)
                        if steady:
                            stats.stroke_to_guess_ms.append(ms)
            elif kind == "ack":
                key = (message["stage"], message["stroke"])
                sent_s = self.unacked.pop(key, None)
                if sent_s is not None:
                    stats.strokes_acked += 1
                    if sent_s in window:
                        stats.stroke_to_ack_ms.append((now - sent_s) * 1000)
            elif kind == "stage_start":
                self._observe_clock(message)
                self._end_stage()
                self.stage = message["stage"]
                self.stage_start = message
                self.stage_start_local_ms = now
                self._points_sent = 0
                self.stage_over = False
                self.stage_event.set()
            elif kind == "stage_result":
                if message["stage"] == self.stage:
                    outcome = message.get("outcome", "?")
                    stats.stages[outcome] = stats.stages.get(outcome, 0) + 1
                    if outcome == "timeout" and self.stage_start is not None:
                        offset = stats.clock_offset_ms or 0.0
                        lateness = time.time() * 1000 + offset - self.stage_start["deadline_ms"]
                        stats.timer_lateness_ms.append(lateness)
                    self.stage_over = True
                    self.stage_event.set()
            elif kind == "game_over":
                stats.games_over += 1
                self._end_stage()
                self.stage_over = True
                self.game_over.set()
                self.stage_event.set()
            elif kind == "error":
                code = message.get("code", "?")
                stats.error(code)
                if code == "wrong_stage":
                    stats.wrong_stage_errors += 1

    def _observe_clock(self, message: dict[str, Any]) -> None:
        # server_now - local_receipt = offset - delivery delay: the largest sample is the best.
        sample = message["server_now_ms"] - time.time() * 1000
        if self.stats.clock_offset_ms is None or sample > self.stats.clock_offset_ms:
            self.stats.clock_offset_ms = sample

    def _end_stage(self) -> None:
        self.stats.strokes_without_guess += len(self.pending_guess)
        self.pending_guess.clear()

    def _settle(self) -> None:
        """The socket is closed: whatever stayed unacknowledged is counted."""
        self._end_stage()
        self.stats.strokes_unacked += len(self.unacked)
        self.unacked.clear()
