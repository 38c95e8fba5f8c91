"""A tablet that survives its server process dying, the way the page does (docs/protocol.md,
"Reconnecting"): it keeps its ink, reconnects with backoff and jitter (to the other process),
sends `hello` with its resume token, and resends what `stage_start.received` says is missing.

The child draws real raw Quick, Draw! drawings with their recorded timing (optionally sped up),
stroke after stroke, waiting for each stroke's `ack` before starting the next (the drawing goes on
into the tablet's own ink while the socket is down). Every stroke is accounted for: acknowledged
(by `ack`, or by `received` after a resume), refused (the stage was over), or unacknowledged.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.load.drawings import DrawingLibrary
from bench.tablet import Tablet

REFUSING_CODES = ("wrong_stage", "game_over", "stroke_ended")


@dataclass
class StrokeRec:
    """One stroke as the tablet drew it, and what became of it."""

    game_id: str
    stage: int
    stroke: int
    points: list[list[float]] = field(default_factory=list)
    ended: bool = False
    end_sent_wall: float | None = None  # the end chunk went out on a live socket
    end_sent_server: int | None = None
    acked_points: int | None = None
    ack_via: str | None = None  # "ack" or "received" (after a resume)
    ack_wall: float | None = None
    refused: str | None = None
    resent: int = 0

    def summary(self) -> dict[str, Any]:
        return {"game_id": self.game_id, "stage": self.stage, "stroke": self.stroke,
                "points": len(self.points), "ended": self.ended,
                "end_sent_wall": self.end_sent_wall, "end_sent_server": self.end_sent_server,
                "acked_points": self.acked_points, "ack_via": self.ack_via,
                "ack_wall": self.ack_wall, "refused": self.refused, "resent": self.resent}


@dataclass
class Record:
    """Everything the tablets of one generator process saw (merged by the coordinator)."""

    games_over: list[dict[str, Any]] = field(default_factory=list)
    games_unfinished: list[dict[str, Any]] = field(default_factory=list)
    strokes: list[dict[str, Any]] = field(default_factory=list)  # ended strokes only
    strokes_cut: int = 0  # begun but never ended (the stage ended, or the run stopped)
    failovers: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    guesses_by_s: Counter = field(default_factory=Counter)  # int(wall s) -> guesses received
    stroke_to_guess: list[tuple[float, float]] = field(default_factory=list)  # (sent wall, ms)
    errors: Counter = field(default_factory=Counter)
    error_samples: list[dict[str, Any]] = field(default_factory=list)
    stages: Counter = field(default_factory=Counter)
    connect_failures: Counter = field(default_factory=Counter)
    games_started: int = 0
    resent_points: int = 0
    resent_strokes: int = 0

    def error(self, code: str, detail: dict[str, Any]) -> None:
        self.errors[code] += 1
        if len(self.error_samples) < 200:
            self.error_samples.append({"code": code, **detail})

    def anomaly(self, kind: str, **detail: Any) -> None:
        self.anomalies.append({"kind": kind, "wall": time.time(), **detail})


class FailoverTablet:
    """Plays games back to back on `urls[home]` until `stop_wall`; fails over to the other URL."""

    def __init__(self, index: int, urls: list[str], home: int, *, category: str,
                 library: DrawingLibrary, rec: Record, stop_wall: float, seed: int,
                 speed: float = 1.0, chunk_ms: float = 100.0, canvas: tuple[int, int] = (1024, 700),
                 backoff_base_s: float = 0.5, backoff_cap_s: float = 5.0,
                 max_attempts: int = 30) -> None:
        self.index = index
        self.urls = urls
        self.cur = home
        self.category = category
        self.library = library
        self.rec = rec
        self.stop_wall = stop_wall
        self.rng = random.Random(seed)
        self.speed = speed
        self.chunk_ms = chunk_ms
        self.canvas = canvas
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_attempts = max_attempts
        self.player_id = f"fo-{index:05d}-{self.rng.randrange(16**8):08x}"
        self.lock = asyncio.Lock()  # held while sending, and through a reconnect and its resend
        self.ws: Any = None
        self.token: str | None = None
        self.game_id: str | None = None
        self.reader: asyncio.Task | None = None
        self.reconnector: asyncio.Task | None = None
        self.closing = False
        self.changed = asyncio.Event()
        self.ack_event = asyncio.Event()
        self.game_over = asyncio.Event()
        self.over_msg: dict[str, Any] | None = None
        self.game_servers: set[int] = set()
        self.game_started_wall = 0.0
        self._resend_todo: list[tuple[StrokeRec, int]] = []
        self._new_game_state()

    def _new_game_state(self) -> None:
        self.stage = -1
        self.stage_label = ""
        self.stage_running = False
        self.stage_t0 = 0.0  # monotonic s when the stage started
        self.stage_deadline = 0.0  # monotonic s
        self.drawn_stage = -1
        self.cum_points = 0
        self.pending_guess: deque[tuple[int, float]] = deque()
        self.strokes: dict[tuple[int, int], StrokeRec] = {}
        self.in_flight: StrokeRec | None = None
        self.game_over.clear()

    # ------------------------------------------------------------------ games

    async def run(self) -> None:
        while time.time() < self.stop_wall - 3.0:
            if not await self._start_game():
                continue
            try:
                await self._play_game()
            finally:
                await self._end_game()

    async def _connect(self, url_index: int) -> Tablet:
        tablet = Tablet(self.urls[url_index], player_id=self.player_id, category=self.category,
                        canvas=self.canvas, resume_token=self.token, keep_received=False,
                        connect_kwargs={"compression": None, "open_timeout": 10,
                                        "ping_interval": None, "close_timeout": 2})
        await tablet.__aenter__()
        try:
            await asyncio.wait_for(tablet.hello(), 15)
        except BaseException:
            await _close_quietly(tablet.ws)
            raise
        return tablet

    async def _start_game(self) -> bool:
        self.token = None
        self._new_game_state()
        try:
            tablet = await self._connect(self.cur)
        except Exception as exc:
            self.rec.connect_failures[f"new_game:{type(exc).__name__}"] += 1
            await asyncio.sleep(1.0 + self.rng.random())
            self.cur = (self.cur + 1) % len(self.urls) if isinstance(exc, OSError) else self.cur
            return False
        self.ws = tablet.ws
        self.token = tablet.resume_token
        self.game_id = tablet.welcome["game_id"]
        self.game_started_wall = time.time()
        self.game_servers = {self.cur}
        self.rec.games_started += 1
        self.closing = False
        self.reader = asyncio.create_task(self._read(self.ws))
        return True

    async def _play_game(self) -> None:
        while not self.game_over.is_set() and time.time() < self.stop_wall:
            if self.stage_running and self.stage != self.drawn_stage:
                self.drawn_stage = self.stage
                await self._draw_stage(self.stage)
                continue
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 1.0)
            except TimeoutError:
                pass
        # Stopped (or game over): give the last stroke's ack, or its refusal (a stroke drawn
        # just after the stage ended is answered after game_over), a bounded time to arrive.
        until = time.monotonic() + (2.0 if self.game_over.is_set() else 10.0)
        while (self.in_flight is not None and self.in_flight.ended
               and self.in_flight.acked_points is None and self.in_flight.refused is None
               and time.monotonic() < until):
            await asyncio.sleep(0.1)
        if self.game_over.is_set():
            return
        # The load stops: the child skips the stages left, so the game ends (and is recorded
        # and checked) now rather than after RESUME_GRACE_S. Bounded; survives a reconnect.
        until = time.monotonic() + 40.0
        skipped: set[tuple[int, int]] = set()
        while not self.game_over.is_set() and time.monotonic() < until:
            ws = self.ws
            if self.stage_running and ws is not None and (self.stage, id(ws)) not in skipped:
                async with self.lock:
                    if self.ws is ws:
                        skipped.add((self.stage, id(ws)))
                        try:
                            await ws.send(orjson.dumps({"type": "skip", "stage": self.stage}).decode())
                        except Exception:
                            pass
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 0.5)
            except TimeoutError:
                pass

    async def _end_game(self) -> None:
        self.closing = True
        if self.reconnector is not None and not self.reconnector.done():
            # Stop was reached mid-reconnect: bounded by its own timeouts and max attempts.
            try:
                await asyncio.wait_for(self.reconnector, 40)
            except BaseException:
                pass
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()
            try:
                await self.reader
            except BaseException:
                pass
        await _close_quietly(self.ws)
        self.ws = None
        finished = self.game_over.is_set() and getattr(self, "over_msg", None) is not None
        for s in self.strokes.values():
            if not s.ended:
                self.rec.strokes_cut += 1
                continue
            d = s.summary()
            d["game_finished"] = finished
            d["tablet"] = self.index
            self.rec.strokes.append(d)
        if not finished and self.game_id is not None:
            self.rec.games_unfinished.append({"game_id": self.game_id, "tablet": self.index,
                                              "player_id": self.player_id,
                                              "servers": sorted(self.game_servers)})
        self.over_msg = None
        self.strokes = {}

    # ------------------------------------------------------------------ drawing

    async def _draw_stage(self, stage: int) -> None:
        await asyncio.sleep(self.rng.uniform(0.3, 1.0) / self.speed)  # looks at the topic
        stroke_no, points = 0, 0
        while self._drawing(stage):
            drawing = self.library.pick(self.stage_label, self.rng)
            base = time.monotonic()
            for stroke in drawing.strokes:
                if stroke_no >= 190 or points + len(stroke) >= 19_000 or len(stroke) > 3900:
                    return
                if not await self._draw_stroke(stage, stroke_no, stroke, base):
                    return
                stroke_no += 1
                points += len(stroke)
                # A late ack delays the next stroke: shift the drawing's clock.
                next_due = base + stroke[-1][2] / 1000 / self.speed
                if time.monotonic() > next_due + 0.05:
                    base += time.monotonic() - next_due
            await asyncio.sleep(self.rng.uniform(0.8, 2.0) / self.speed)  # then another one

    def _drawing(self, stage: int) -> bool:
        return (self.stage_running and self.stage == stage and not self.game_over.is_set()
                and time.monotonic() < self.stage_deadline - 0.5 and time.time() < self.stop_wall)

    async def _draw_stroke(self, stage: int, index: int, stroke: tuple, base: float) -> bool:
        """Stream one stroke as it is drawn, then wait for its ack; False: stop drawing."""
        game_id = self.game_id
        assert game_id is not None
        rec = StrokeRec(game_id, stage, index)
        n, i = len(stroke), 0
        speed = self.speed
        while i < n:
            first_t = stroke[i][2]
            j = i + 1
            while j < n and (stroke[j][2] - first_t) / speed < self.chunk_ms and j - i < 256:
                j += 1
            due = base + stroke[j - 1][2] / 1000 / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self._drawing(stage):
                return False
            points = [[x, y, round(((base + t / 1000 / speed) - self.stage_t0) * 1000, 1)]
                      for x, y, t in stroke[i:j]]
            end = j >= n
            async with self.lock:
                if self.game_id != game_id or self.stage != stage or not self.stage_running:
                    return False
                if i == 0:
                    self.strokes[(stage, index)] = rec
                    self.in_flight = rec
                rec.points.extend(points)
                rec.ended = end
                self.cum_points += len(points)
                if end:
                    self.ack_event.clear()
                if self.ws is not None:
                    msg = orjson.dumps({"type": "stroke", "stage": stage, "stroke": index,
                                        "start": i, "points": points, "end": end})
                    try:
                        await self.ws.send(msg.decode())
                    except Exception:
                        pass  # the reader sees the drop; the resend after resume covers this
                    else:
                        if end:
                            rec.end_sent_wall = time.time()
                            rec.end_sent_server = self.cur
                            self.pending_guess.append((self.cum_points, rec.end_sent_wall))
            i = j
        # Wait for the ack (or a refusal, or the stage's end), through a reconnect if need be.
        until = time.monotonic() + 120.0
        while rec.acked_points is None and rec.refused is None and self.stage_running \
                and self.stage == stage and not self.game_over.is_set() \
                and time.monotonic() < until and time.time() < self.stop_wall + 10:
            self.ack_event.clear()
            if rec.acked_points is not None or rec.refused is not None:
                break
            try:
                await asyncio.wait_for(self.ack_event.wait(), 1.0)
            except TimeoutError:
                pass
        return rec.acked_points is not None

    # ------------------------------------------------------------------ reading

    async def _read(self, ws: Any) -> None:
        while True:
            try:
                raw = await ws.recv()
            except Exception as exc:
                if ws is self.ws and not self.closing and not self.game_over.is_set():
                    self.reconnector = asyncio.create_task(self._reconnect(exc))
                return
            self._on_message(orjson.loads(raw), resuming=False)

    def _on_message(self, msg: dict[str, Any], *, resuming: bool) -> None:
        kind = msg.get("type")
        now_wall = time.time()
        if kind == "guess":
            self.rec.guesses_by_s[int(now_wall)] += 1
            if msg["stage"] == self.stage:
                pending = self.pending_guess
                while pending and pending[0][0] <= msg["points"]:
                    _, sent = pending.popleft()
                    self.rec.stroke_to_guess.append((sent, (now_wall - sent) * 1000))
        elif kind == "ack":
            s = self.strokes.get((msg["stage"], msg["stroke"]))
            if s is None:
                self.rec.anomaly("ack_for_unknown_stroke", game_id=self.game_id, msg=msg)
            elif s.acked_points is None:
                s.acked_points, s.ack_via, s.ack_wall = msg["points"], "ack", now_wall
                if msg["points"] != len(s.points):
                    self.rec.anomaly("ack_points_differ", game_id=self.game_id, stage=s.stage,
                                     stroke=s.stroke, drawn=len(s.points), acked=msg["points"])
                self.ack_event.set()
        elif kind == "stage_start":
            stage = msg["stage"]
            if resuming and stage == self.stage and self.stage_running:
                self._resync(msg.get("received") or [])
            else:
                if resuming and msg.get("received"):
                    self.rec.anomaly("received_for_a_stage_not_drawn", game_id=self.game_id,
                                     stage=stage, tablet_stage=self.stage,
                                     received=msg["received"])
                self.stage = stage
                self.stage_label = msg["topic"]["label"]
                self.stage_running = True
                elapsed_s = max(0.0, (msg["server_now_ms"] - msg["started_at_ms"]) / 1000)
                self.stage_t0 = time.monotonic() - elapsed_s
                self.stage_deadline = self.stage_t0 + (msg["deadline_ms"] - msg["started_at_ms"]) / 1000
                self.cum_points = 0
                self.pending_guess.clear()
            self.changed.set()
        elif kind == "stage_result":
            if msg["stage"] == self.stage and self.stage_running:
                self.rec.stages[msg.get("outcome", "?")] += 1
            if msg["stage"] == self.stage:
                self.stage_running = False
            self.changed.set()
            self.ack_event.set()
        elif kind == "game_over":
            if msg.get("game_id") != self.game_id:
                self.rec.anomaly("game_over_of_another_game", game_id=self.game_id, msg=msg)
            self.over_msg = msg
            self.rec.games_over.append({
                "game_id": msg.get("game_id"), "tablet": self.index, "player_id": self.player_id,
                "outcome": msg.get("outcome"), "recognized": msg.get("recognized"),
                "stages": [s.get("outcome") for s in msg.get("stages", [])],
                "servers": sorted(self.game_servers), "over_wall": now_wall,
                "started_wall": self.game_started_wall})
            self.stage_running = False
            self.game_over.set()
            self.changed.set()
            self.ack_event.set()
        elif kind == "error":
            code = msg.get("code", "?")
            s = self.in_flight
            self.rec.error(code, {"tablet": self.index, "game_id": self.game_id,
                                  "stage": self.stage, "stroke": s.stroke if s else None,
                                  "message": msg.get("message", "")[:200]})
            if s is not None and code in REFUSING_CODES and s.acked_points is None:
                s.refused = code
                self.ack_event.set()

    def _resync(self, received: list[dict[str, Any]]) -> list[tuple[StrokeRec, int]]:
        """Compare the server's `received` with our ink; returns what to resend (from where)."""
        todo = []
        mine = sorted((s for (st, _), s in self.strokes.items() if st == self.stage),
                      key=lambda s: s.stroke)
        for s in mine:
            r = received[s.stroke] if s.stroke < len(received) else {"points": 0, "ended": False}
            have, ended = int(r.get("points", 0)), bool(r.get("ended"))
            if s.acked_points is not None and (have < s.acked_points or not ended):
                self.rec.anomaly("acked_stroke_missing_after_resume", game_id=self.game_id,
                                 stage=s.stage, stroke=s.stroke, acked_points=s.acked_points,
                                 received=r, server_now=self.cur)
            if have > len(s.points):
                self.rec.anomaly("server_has_more_points", game_id=self.game_id, stage=s.stage,
                                 stroke=s.stroke, drawn=len(s.points), received=r)
                continue
            if ended and not s.ended:
                self.rec.anomaly("server_ended_an_unfinished_stroke", game_id=self.game_id,
                                 stage=s.stage, stroke=s.stroke, received=r)
                continue
            if ended and have == len(s.points):
                if s.acked_points is None:
                    s.acked_points, s.ack_via, s.ack_wall = have, "received", time.time()
                    self.ack_event.set()
                continue
            todo.append((s, have))
        if len(received) > len(mine):
            self.rec.anomaly("server_has_more_strokes", game_id=self.game_id, stage=self.stage,
                             drawn=len(mine), received=len(received))
        self._resend_todo = todo
        return todo

    async def _resend(self, ws: Any) -> None:
        for s, have in getattr(self, "_resend_todo", []):
            rest = s.points[have:]
            s.resent += 1
            self.rec.resent_strokes += 1
            self.rec.resent_points += len(rest)
            if not rest:
                await ws.send(orjson.dumps({"type": "stroke", "stage": s.stage, "stroke": s.stroke,
                                            "start": have, "points": [], "end": s.ended}).decode())
                continue
            for off in range(0, len(rest), 128):
                chunk = rest[off: off + 128]
                last = off + 128 >= len(rest)
                await ws.send(orjson.dumps({"type": "stroke", "stage": s.stage, "stroke": s.stroke,
                                            "start": have + off, "points": chunk,
                                            "end": s.ended and last}).decode())
        self._resend_todo = []

    # ------------------------------------------------------------------ failover

    async def _reconnect(self, exc: BaseException) -> None:
        """The socket dropped: back off with jitter, resume on the next URL, resend, go on."""
        drop_wall = time.time()
        dropped_from = self.cur
        reason = f"{type(exc).__name__}:{getattr(getattr(exc, 'rcvd', None), 'code', None)}"
        entry: dict[str, Any] = {"tablet": self.index, "game_id": self.game_id,
                                 "from": dropped_from, "drop_wall": drop_wall, "reason": reason,
                                 "attempts": 0, "resumed": None, "welcome_wall": None,
                                 "first": None, "stage": self.stage, "resent_strokes": 0,
                                 "attempt_errors": []}
        self.rec.failovers.append(entry)
        async with self.lock:
            self.ws = None
            for attempt in range(self.max_attempts):
                if self.closing and time.time() > self.stop_wall + 20:
                    break
                delay = self.rng.uniform(0, min(self.backoff_cap_s,
                                                self.backoff_base_s * 2 ** attempt))
                await asyncio.sleep(delay)
                target = (dropped_from + 1 + attempt) % len(self.urls)
                entry["attempts"] = attempt + 1
                try:
                    tablet = await self._connect(target)
                except Exception as e:
                    entry["attempt_errors"].append(f"{target}:{type(e).__name__}")
                    continue
                welcome = tablet.welcome
                entry["welcome_wall"] = time.time()
                entry["to"] = target
                entry["resumed"] = bool(welcome.get("resumed"))
                if not welcome.get("resumed") or welcome.get("game_id") != self.game_id:
                    self.rec.anomaly("resume_failed", old_game_id=self.game_id,
                                     new_game_id=welcome.get("game_id"), tablet=self.index,
                                     errors=tablet.errors[-3:], stage=self.stage,
                                     strokes=len(self.strokes))
                    # The old game is gone from this tablet's point of view: account it, go on.
                    await _close_quietly(tablet.ws)
                    self.game_over.set()
                    self.changed.set()
                    self.ack_event.set()
                    return
                self.cur = target
                self.token = tablet.resume_token
                self.game_servers.add(target)
                self.ws = tablet.ws
                try:
                    while True:  # stage_start (with received), stage_result or game_over
                        msg = orjson.loads(await asyncio.wait_for(tablet.ws.recv(), 15))
                        self._on_message(msg, resuming=True)
                        if msg.get("type") in ("stage_start", "stage_result", "game_over"):
                            entry["first"] = msg["type"]
                            break
                    entry["resent_strokes"] = len(getattr(self, "_resend_todo", []))
                    await self._resend(tablet.ws)
                except Exception as e:
                    entry["attempt_errors"].append(f"{target}:after_welcome:{type(e).__name__}")
                    await _close_quietly(tablet.ws)
                    self.ws = None
                    continue
                entry["resumed_wall"] = time.time()
                self.reader = asyncio.create_task(self._read(tablet.ws))
                self.ack_event.set()
                self.changed.set()
                return
            entry["gave_up"] = True
            self.game_over.set()
            self.changed.set()
            self.ack_event.set()


async def _close_quietly(ws: Any) -> None:
    if ws is None:
        return
    try:
        await asyncio.wait_for(ws.close(), 3)
    except BaseException:
        pass
