"""The WebSocket game endpoint `/ws/play`: the only place that touches a tablet's socket.

One `TabletConnection` per socket. It reads messages, validates them (server.protocol), applies
them to the game (game.service), forwards the game's events to the tablet (whichever process
produced them: they arrive through the store's subscription), and asks recognition for guesses,
throttled per drawing. Every outgoing message goes through one bounded queue and one writer task,
so a slow tablet can never make the server buffer without bound.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from starlette.websockets import WebSocketState

from game.commands import AppendPoints, Disconnected, GuessResult, RequestGuess, Skip, StrokeChunk
from game.errors import GameNotFound, ProtocolViolation, UnknownCategory
from game.service import GameService
from game.rules import ClassPace
from game.state import GameState, Phase
from game.store.base import RESYNC
from inference.api import RecognizeRequest, Recognizer
from server import protocol
from server.metrics import METRICS
from server.access import LOCAL_CLASS, Access, AccessDenied, origin_allowed
from server.limits import FloodGuard
from server.logs import bind_game
from server.settings import Settings

log = logging.getLogger(__name__)

WS_1008_POLICY_VIOLATION = 1008
WS_1011_INTERNAL_ERROR = 1011
WS_1013_TRY_AGAIN_LATER = 1013


@dataclass
class Services:
    """What a connection needs from the running server."""

    games: GameService
    recognizer: Recognizer
    settings: Settings
    access: Access | None = None
    on_local_transition: Any = None  # callable(state, transition): wake timers / recorder
    rounds: Any = None  # server.rounds.ClassRounds: a new game joins its class's running round


class TabletConnection:
    """One tablet playing one game over one socket."""

    def __init__(self, websocket: WebSocket, services: Services) -> None:
        self.ws = websocket
        self.services = services
        self.settings = services.settings
        # Encoded messages (so what is queued is bounded in bytes too, not only in messages).
        self.outbox: asyncio.Queue[str | _Close | None] = asyncio.Queue(
            maxsize=self.settings.outbound_queue_max
        )
        self.queued_bytes = 0
        self.game_id: str | None = None
        # This socket's name in the game's presence: only the socket the player is on may start
        # the resume grace when it closes (game.commands.Disconnected).
        self.connection_id = uuid.uuid4().hex
        self.state: GameState | None = None
        self.names: dict[str, tuple[str, str]] = {}
        self.drawing = _Drawing()
        self.guesses = _GuessThrottle()
        self._guess_task: asyncio.Task[None] | None = None
        self._last_stage_key: tuple[str, int | None] | None = None  # what the tablet was told
        self._closing = False
        self.flood = FloodGuard.create(
            messages_per_s=self.settings.max_messages_per_s,
            points_per_s=self.settings.max_points_per_s,
            max_violations=self.settings.max_rate_violations,
        )

    # --- lifecycle

    async def run(self) -> None:
        access = self.services.access
        if access is not None and not origin_allowed(
            self.ws.headers.get("origin"), self.ws.headers.get("host"), access.allowed_origins
        ):
            METRICS.protocol_errors.labels("origin_refused").inc()
            await self.ws.close(code=WS_1008_POLICY_VIOLATION)  # before accept: HTTP 403
            return
        await self.ws.accept()
        METRICS.connections.inc()
        writer = asyncio.create_task(self._write_loop(), name="ws-writer")
        try:
            hello = await self._await_hello()
            if hello is not None:
                await self._play(hello)
        except WebSocketDisconnect:
            pass
        except (ConnectionError, OSError, RedisError) as exc:
            # The store was away while the game was being created or resumed: the tablet
            # heard of no game, so it may simply say hello again shortly.
            log.warning("store unavailable at hello: %s", exc)
            self.send(protocol.error_message("unavailable", "the server cannot start or resume "
                                             "your game right now: reconnect shortly"))
            await self._close(WS_1013_TRY_AGAIN_LATER, "store unavailable")
        finally:
            METRICS.connections.dec()
            if self._guess_task is not None:
                self._guess_task.cancel()
            if self.drawing.stage >= 0:  # it may resume on another process, or never
                self._forget_drawing(self.drawing.stage)
            await self._on_disconnect()
            self._closing = True
            try:
                self.outbox.put_nowait(None)  # flush what is queued, then stop
                await asyncio.wait_for(asyncio.shield(writer), timeout=5)
            except (asyncio.QueueFull, TimeoutError, Exception):
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer

    async def _await_hello(self) -> protocol.Hello | None:
        """Read messages until a valid hello (answering anything else with an error).

        The hello must come within `hello_timeout_s` of the socket opening, however many other
        messages come first (a ping every few seconds once kept a socket open without a game).
        """
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + self.settings.hello_timeout_s
        while True:
            try:
                raw = await asyncio.wait_for(self._receive_raw(), max(0.0, deadline_s - loop.time()))
            except TimeoutError:
                await self._close(WS_1008_POLICY_VIOLATION, "no hello in time")
                return None
            if raw is None:
                return None
            verdict = await self._admit(points=0)
            if verdict == _CLOSED:
                return None
            if verdict == _DROPPED:
                continue
            try:
                message = self._parse(raw)
            except protocol.ClientMessageError as exc:
                self.send(protocol.error_message(exc.code, str(exc)))
                continue
            if isinstance(message, protocol.Ping):
                self.send({"type": "pong", "id": message.id})
                continue
            if not isinstance(message, protocol.Hello):
                self.send(
                    protocol.error_message(
                        "hello_required", "say hello first: no game is running on this connection"
                    )
                )
                continue
            return message

    def _class_of(self, hello: protocol.Hello) -> str | None:
        """The class this tablet plays in, from its session token.

        Raises:
            AccessDenied: no valid token while classes are closed, or a token of another player.
        """
        access = self.services.access
        if access is None:
            return hello.class_code
        if hello.session_token is None:
            if access.classes_open:
                return LOCAL_CLASS
            raise AccessDenied("a session token is needed: join the class first (POST /api/v1/join)")
        claims = access.tokens.verify(hello.session_token)
        if claims.player_id != hello.player_id:
            raise AccessDenied("the session token belongs to another player")
        return claims.class_code

    async def _play(self, hello: protocol.Hello) -> None:
        games = self.services.games
        try:
            class_code = self._class_of(hello)
        except AccessDenied as exc:
            self.send(protocol.error_message("unauthorized", str(exc)))
            await self._close(WS_1008_POLICY_VIOLATION, "unauthorized")
            return
        access = self.services.access
        if (access is not None and class_code not in (None, LOCAL_CLASS)
                and await access.classes.get(class_code) is None):
            # The teacher closed the class: its sessions end with it (docs/teacher.md).
            self.send(protocol.error_message("unauthorized", "your class has been closed: join "
                                             "with the teacher's new code"))
            await self._close(WS_1008_POLICY_VIOLATION, "class closed")
            return
        resumed = False
        if hello.resume_token:
            try:
                game_id = await games.store.game_for_token(hello.resume_token)
                if game_id is None:
                    raise GameNotFound("unknown token")
                resumed = True
                token = hello.resume_token
            except GameNotFound:
                self.send(
                    protocol.error_message(
                        "resume_failed", "that game cannot be resumed; a new game starts"
                    )
                )
        try:
            category = None
            if not resumed:
                category = await games.category(hello.category)
                game_id, token = games.new_ids()
        except UnknownCategory as exc:
            self.send(protocol.error_message("unknown_category", str(exc)))
            await self._close(WS_1008_POLICY_VIOLATION, "unknown category")
            return
        self.game_id = game_id
        bind_game(game_id)
        async with games.store.subscribe(game_id) as events:
            if resumed:
                try:
                    # Checked in the same atomic step that gives this socket the presence: a
                    # stranger's tablet holding the token changes nothing of the game.
                    state = await games.resume(token, player_id=hello.player_id,
                                               connection=self.connection_id)
                except ProtocolViolation:
                    self.game_id = None  # not this socket's game: its close is not the child's
                    self.send(protocol.error_message("resume_failed", "that game is not yours"))
                    await self._close(WS_1008_POLICY_VIOLATION, "resume token of another player")
                    return
                await self._learn_names(state.category)
            else:
                assert category is not None
                self.names = {t.label: (t.name_ko, t.name_en) for t in category.topics}
                class_round = await self._running_round(class_code)
                age_band, pace = await self._class_pace(class_code, hello.age_band)
                # The game is stored before the tablet hears of it: a resume token in a
                # welcome always names a game that exists, even if this process dies right
                # after. Its first events wait in the subscription until welcome has gone out.
                state = await games.start(
                    game_id=game_id,
                    resume_token=token,
                    player_id=hello.player_id,
                    category=category,
                    canvas_width=hello.canvas.width,
                    canvas_height=hello.canvas.height,
                    age_band=age_band,
                    class_code=class_code,
                    connection=self.connection_id,
                    class_round=class_round,
                    pace=pace,
                )
                METRICS.games_started.inc()
                await self._joined_class(class_code, hello.player_id, game_id, class_round)
            self.send(
                {
                    "type": "welcome",
                    "v": protocol.PROTOCOL_VERSION,
                    "game_id": game_id,
                    "resume_token": token,
                    "resumed": resumed,
                    "category": {"code": hello.category} if category is None else {
                        "code": category.code,
                        "name_ko": category.name_ko,
                        "name_en": category.name_en,
                    },
                    "limits": {
                        "max_points_per_message": self.settings.max_points_per_message,
                        "max_message_bytes": self.settings.max_message_bytes,
                        "guess_interval_ms": self.settings.guess_interval_ms,
                    },
                }
            )
            forward = asyncio.create_task(self._forward(events), name="ws-forward")
            try:
                if resumed:
                    assert state is not None
                    self.state = state
                    if state.phase == Phase.DRAWING:
                        strokes = await games.store.strokes(game_id, state.stage)
                        self.drawing.reset(state.stage, strokes)
                    for event in games.snapshot_events(state):
                        self._last_stage_key = _stage_key(event)
                        self.send(protocol.event_message(event, self.names))
                    if self.drawing.points:
                        # The guess for the last stroke kept may have died with the process
                        # that took it: a finished drawing must still be judged.
                        self._want_guess(stroke_ended=True)
                else:
                    self.state = state
                    self.drawing.reset(0, [])
                    self._notify_local(self.state, None)
                await self._receive_loop()
            finally:
                forward.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await forward

    def _teacher_class(self, class_code: str | None) -> bool:
        return self.services.rounds is not None and class_code not in (None, LOCAL_CLASS)

    async def _running_round(self, class_code: str | None) -> Any:
        """The round the tablet's class is drawing, if any: the new game starts with it."""
        if not self._teacher_class(class_code):
            return None
        try:
            return await self.services.rounds.running(class_code)
        except (ConnectionError, OSError, RedisError) as exc:  # the game goes on without it
            log.warning("could not look up the round of class %s: %s", class_code, exc)
            return None

    async def _class_pace(self, class_code: str | None,
                          age_band: str | None) -> tuple[str | None, ClassPace | None]:
        """The age band and pace a new game of the tablet's class plays by: the teacher's time
        and stage count, and the class's band where the tablet gave none."""
        if not self._teacher_class(class_code):
            return age_band, None
        try:
            room = await self.services.rounds.rooms.get(class_code)
        except (ConnectionError, OSError, RedisError) as exc:  # the game goes on by defaults
            log.warning("could not look up class %s: %s", class_code, exc)
            return age_band, None
        if room is None:
            return age_band, None
        pace = ClassPace(time_limit_s=room.time_limit_s, stage_count=room.stage_count)
        return age_band or room.age_band, pace

    async def _joined_class(self, class_code: str | None, player_id: str, game_id: str,
                            class_round: Any) -> None:
        """List the new game with its class and catch a round started meanwhile (its events
        wait in the subscription until welcome has gone out)."""
        if not self._teacher_class(class_code):
            return
        try:
            await self.services.rounds.joined(
                class_code, player_id, game_id,
                started_with=class_round.round_id if class_round is not None else None)
        except (ConnectionError, OSError, RedisError) as exc:  # the roster lists it later
            log.warning("could not list game %s with class %s: %s", game_id, class_code, exc)

    async def _learn_names(self, category_code: str) -> None:
        try:
            category = await self.services.games.category(category_code)
        except UnknownCategory:
            return
        self.names = {t.label: (t.name_ko, t.name_en) for t in category.topics}

    async def _on_disconnect(self) -> None:
        if self.game_id is None:
            return
        try:
            state, transition = await self.services.games.command(
                self.game_id, Disconnected(self.connection_id))
            self._notify_local(state, transition)
        except Exception:
            log.warning("could not mark game %s disconnected", self.game_id, exc_info=True)

    # --- inbound

    async def _receive_raw(self) -> str | bytes | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        return message.get("text") if message.get("text") is not None else message.get("bytes")

    def _parse(self, raw: str | bytes) -> protocol.ClientMessage:
        try:
            return protocol.parse_client_message(
                raw,
                max_bytes=self.settings.max_message_bytes,
                max_points=self.settings.max_points_per_message,
            )
        except protocol.ClientMessageError:
            raise
        except Exception as exc:
            # Whatever a tablet sends is answered, never a crash of the connection (1011).
            log.error("a message could not be parsed: %r", exc)
            raise protocol.ClientMessageError(
                "invalid_message", "the server cannot read this message") from None

    async def _receive_loop(self) -> None:
        while True:
            raw = await self._receive_raw()
            if raw is None:
                continue
            METRICS.messages_in.inc()
            # Every frame counts against the budget before it is even parsed: invalid frames
            # (each answered `bad_json`) once flowed at 28k a second and were never cut off.
            verdict = await self._admit(points=0)
            if verdict == _CLOSED:
                return
            if verdict == _DROPPED:
                continue
            try:
                message = self._parse(raw)
                if isinstance(message, protocol.Stroke) and message.points:
                    verdict = await self._admit(points=len(message.points))
                    if verdict == _CLOSED:
                        return
                    if verdict == _DROPPED:
                        continue
                await self._dispatch(message)
            except protocol.ClientMessageError as exc:
                METRICS.protocol_errors.labels(exc.code).inc()
                self.send(protocol.error_message(exc.code, str(exc)))
            except ProtocolViolation as exc:
                METRICS.protocol_errors.labels(exc.code).inc()
                self.send(protocol.error_message(exc.code, str(exc)))
            except (ConnectionError, OSError, RedisError) as exc:
                # The store is away: nothing of this message was kept. Closing with "try again
                # later" makes the tablet reconnect, resume, and resend what was not acknowledged.
                log.warning("store unavailable: %s", exc)
                self.send(protocol.error_message("unavailable", "the server cannot keep your "
                                                 "drawing right now: reconnect and send it again"))
                await self._close(WS_1013_TRY_AGAIN_LATER, "store unavailable")
                return

    async def _admit(self, *, points: int) -> str:
        """One message (`points=0`) or a stroke's points against the tablet's rate limits:
        `_ADMITTED`, `_DROPPED` (the tablet was told so) or `_CLOSED` (flooding: cut off)."""
        now_s = asyncio.get_running_loop().time()
        admitted = self.flood.admit_points(now_s, points) if points else self.flood.admit(now_s)
        if admitted:
            return _ADMITTED
        METRICS.protocol_errors.labels("rate_limited").inc()
        if self.flood.should_disconnect():
            self.send(protocol.error_message("rate_limited", "too many messages: goodbye"))
            await self._close(WS_1008_POLICY_VIOLATION, "flooding")
            return _CLOSED
        self.send(
            protocol.error_message(
                "rate_limited",
                f"too many messages or points: at most {self.settings.max_messages_per_s:g} "
                f"messages and {self.settings.max_points_per_s:g} points a second; this "
                "message was dropped, send it again",
            )
        )
        return _DROPPED

    async def _dispatch(self, message: protocol.ClientMessage) -> None:
        assert self.game_id is not None
        games = self.services.games
        if isinstance(message, protocol.Stroke):
            command = StrokeChunk(
                stage=message.stage,
                stroke=message.stroke,
                start=message.start,
                points=tuple(message.points),
                end=message.end,
                connection=self.connection_id,
            )
            state, transition = await games.command(self.game_id, command)
        elif isinstance(message, protocol.Skip):
            state, transition = await games.command(self.game_id, Skip(message.stage, self.connection_id))
        elif isinstance(message, protocol.Ping):
            self.send({"type": "pong", "id": message.id})
            return
        else:
            raise protocol.ClientMessageError("already_started", "this connection already has a game")
        self.state = state
        if self.drawing.stage != state.stage:
            self.drawing.reset(state.stage, [])
        for effect in transition.effects:
            if isinstance(effect, AppendPoints):
                if effect.stage != self.drawing.stage:
                    continue  # a late stroke of a stage already judged: kept, never guessed
                if effect.stroke >= len(self.drawing.strokes):
                    self.guesses.stroke_began(asyncio.get_running_loop().time() * 1000)
                self.drawing.add(effect.stroke, effect.points)
            elif isinstance(effect, RequestGuess):
                if effect.stroke_ended and isinstance(message, protocol.Stroke):
                    self.drawing.seal(message.stroke)
                self._want_guess(effect.stroke_ended)
        self._notify_local(state, transition)

    # --- guesses

    def _want_guess(self, stroke_ended: bool) -> None:
        now_ms = asyncio.get_running_loop().time() * 1000
        if not self.guesses.want(stroke_ended, now_ms, self.settings.guess_interval_ms):
            return
        if self._guess_task is None or self._guess_task.done():
            self._guess_task = asyncio.create_task(self._guess_loop(), name="ws-guess")
            self._guess_task.add_done_callback(_report_failure)

    async def _guess_loop(self) -> None:
        """Ask recognition until no newer drawing waits (latest wins: one request in flight)."""
        games = self.services.games
        failures = 0
        while self.guesses.take():
            state = self.state
            if state is None or state.phase != Phase.DRAWING or self.game_id is None:
                return
            # A drawing whose strokes have all ended only grows by whole strokes: under its own
            # key the worker's raster cache adds just the new stroke. A drawing with a stroke in
            # progress goes under another key, as pieces that never change (see `_Drawing.live`),
            # so its growing last stroke invalidates neither cache (a changed last stroke made
            # the worker rasterise the whole drawing again).
            ended = state.stroke_ended
            complete = len(ended) >= len(self.drawing.strokes) and all(
                ended[: len(self.drawing.strokes)])
            if complete:
                stage, strokes, points = self.drawing.snapshot()
            else:
                stage, strokes, points = self.drawing.live()
            if points == 0 or stage != state.stage:
                continue
            request = RecognizeRequest(
                drawing_key=self._drawing_key(stage, live=not complete),
                category=state.category,
                labels=tuple(state.labels),
                strokes=strokes,
            )
            try:
                with METRICS.guess_latency.time():
                    guesses = await self.services.recognizer.recognize(request)
            except Exception as exc:  # recognition trouble must not stop the game
                METRICS.guess_failures.inc()
                log.warning("recognition failed for %s: %s", request.drawing_key, exc)
                if _retryable(exc):
                    # An overloaded pool or a replaced worker: the child's last stroke still
                    # deserves its guess.
                    failures = await self._ask_again(failures)
                continue
            failures = 0
            METRICS.guesses.inc()
            result = GuessResult(
                stage=stage,
                points_seen=points,
                guesses=tuple((g.label, g.probability) for g in guesses),
            )
            try:
                new_state, transition = await games.command(self.game_id, result)
            except GameNotFound:
                return
            except ProtocolViolation:
                continue  # the stage ended while the guess was on its way
            except (ConnectionError, OSError, RedisError) as exc:
                # The store is away: the guess could not be applied. Ask again (with the newest
                # drawing) a few times; the receive loop closes with 1013 if the outage lasts,
                # and the resumed tablet's next stroke brings a new guess.
                log.warning("could not apply a guess for %s: %s", self.game_id, exc)
                failures = await self._ask_again(failures)
                continue
            self.state = new_state
            self._notify_local(new_state, transition)

    async def _ask_again(self, failures: int) -> int:
        """After a failed guess, ask again shortly with the newest drawing, at most
        `GUESS_RETRIES` times in a row, backing off; returns the new count of failures."""
        if failures >= GUESS_RETRIES:
            return failures
        failures += 1
        self.guesses.pending = True
        await asyncio.sleep(GUESS_RETRY_BACKOFF_S * 2 ** (failures - 1))
        return failures

    def _forget_drawing(self, stage: int) -> None:
        """The stage's drawing will not be guessed again (here): the recogniser may drop it."""
        forget = getattr(self.services.recognizer, "forget", None)
        if forget is not None and self.game_id is not None:
            forget(self._drawing_key(stage, live=False))
            forget(self._drawing_key(stage, live=True))

    def _drawing_key(self, stage: int, *, live: bool) -> str:
        """The recogniser's key for a stage's drawing: whole strokes, or pieces while a stroke
        is being drawn (two keys, so a growing stroke invalidates neither worker cache)."""
        return f"{self.game_id}:{stage}:live" if live else f"{self.game_id}:{stage}"

    # --- outbound

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message for the tablet; a tablet that cannot keep up is disconnected.

        The message is encoded here, not in the writer: one the server cannot encode becomes an
        `invalid_message` error for the tablet instead of killing the writer (which left the
        socket open and silent), and the queue's size is known in bytes.
        """
        if self._closing:
            return
        try:
            text = protocol.encode(message)
        except TypeError as exc:  # orjson.JSONEncodeError
            log.error("cannot encode a %r message for game %s: %s", message.get("type"),
                      self.game_id, exc)
            METRICS.protocol_errors.labels("unencodable").inc()
            text = protocol.encode(protocol.error_message(
                "invalid_message", "the server cannot answer this message"))
        # Only what waits behind other messages counts against the byte limit: one large message
        # to a tablet that reads (a long game's game_over) is never a reason to close.
        if self.queued_bytes and (
                self.queued_bytes + len(text) > self.settings.outbound_queue_max_bytes):
            self._too_slow("bytes")
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self._too_slow("messages")
            return
        self.queued_bytes += len(text)

    def _too_slow(self, what: str) -> None:
        METRICS.slow_clients.inc()
        log.warning("tablet of game %s is too slow (queued %s over the limit); closing",
                    self.game_id, what)
        self._closing = True
        self._drop_queued()
        asyncio.create_task(self._close_now(WS_1013_TRY_AGAIN_LATER, "too slow"))

    def _drop_queued(self) -> None:
        """Nothing queued will be written (the socket is being closed): let the memory go."""
        while True:
            try:
                self.outbox.get_nowait()
            except asyncio.QueueEmpty:
                break
        self.queued_bytes = 0

    async def _forward(self, events: Any) -> None:
        async for event in events:
            if event is RESYNC:
                await self._resync()
                continue
            if event.type in ("stage_start", "stage_result", "game_over"):
                self._track_stage(event)
            self.send(protocol.event_message(event, self.names))

    async def _resync(self) -> None:
        """The subscription was lost and made again: events published meanwhile never came.
        Send where the game is now (its `stage_start`, `stage_result` or `game_over`), unless
        that is what the tablet was last told; otherwise the page would sit on a stage that
        ended while Redis restarted."""
        if self.game_id is None:
            return
        games = self.services.games
        try:
            state = await games.store.load(self.game_id)
        except (ConnectionError, OSError, RedisError) as exc:
            log.warning("could not resynchronise game %s: %s", self.game_id, exc)
            return
        if state is None:
            return
        METRICS.resyncs.inc()
        for event in games.snapshot_events(state):
            if _stage_key(event) == self._last_stage_key:
                continue
            self._track_stage(event)
            self.send(protocol.event_message(event, self.names))

    def _track_stage(self, event: Any) -> None:
        self._last_stage_key = _stage_key(event)
        if event.type == "stage_start" and self.drawing.stage != event.data["stage"]:
            self.drawing.reset(event.data["stage"], [])
        if event.type == "stage_result":
            self._forget_drawing(event.data["stage"])
        if self.state is not None and event.type in ("stage_result", "game_over"):
            # The state we hold is stale now; the next command refreshes it.
            self.state = None if event.type == "game_over" else self.state

    async def _write_loop(self) -> None:
        try:
            while True:
                message = await self.outbox.get()
                if message is None:
                    return
                if isinstance(message, _Close):
                    await self._close_now(message.code, message.reason)
                    return
                self.queued_bytes -= len(message)
                METRICS.messages_out.inc()
                await self.ws.send_text(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Never a silent socket: without its writer the tablet would hear nothing more.
            if isinstance(exc, WebSocketDisconnect | OSError | RuntimeError):
                log.debug("tablet of game %s went away while written to: %r", self.game_id, exc)
            else:
                log.error("writer of game %s failed; closing", self.game_id, exc_info=exc)
            self._closing = True
            self._drop_queued()
            await self._close_now(WS_1011_INTERNAL_ERROR, "server error")

    async def _close(self, code: int, reason: str) -> None:
        """Close after the messages already queued (an error explaining why goes first)."""
        if self._closing:
            await self._close_now(code, reason)
            return
        self._closing = True
        try:
            self.outbox.put_nowait(_Close(code, reason))
        except asyncio.QueueFull:
            await self._close_now(code, reason)

    async def _close_now(self, code: int, reason: str) -> None:
        self._closing = True
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, reason=reason)

    def _notify_local(self, state: GameState, transition: Any) -> None:
        hook = self.services.on_local_transition
        if hook is not None:
            hook(state, transition)


def _stage_key(event: Any) -> tuple[str, int | None]:
    """Which stage-level message an event is (`stage_start` of stage 2, `game_over`...)."""
    return event.type, event.data.get("stage")


_ADMITTED, _DROPPED, _CLOSED = "admitted", "dropped", "closed"
GUESS_RETRIES = 3
GUESS_RETRY_BACKOFF_S = 0.05


def _report_failure(task: asyncio.Task[None]) -> None:
    """A background task of a connection that failed is logged (not left for the GC)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


def _retryable(exc: Exception) -> bool:
    """Failures that may pass (overload, a crashed worker), not requests that are wrong."""
    from inference.errors import BadRequestError, UnknownCategoryError, UnknownLabelError

    return not isinstance(exc, BadRequestError | UnknownCategoryError | UnknownLabelError)


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


@dataclass
class _Drawing:
    """The current stage's strokes as this connection knows them (for recognition).

    A stroke in progress is a list of point tuples; an ended stroke is sealed into a float64
    (n, 3) array (24 bytes a point instead of ~136: this is most of a drawing tablet's memory on
    the server), which recognition reads exactly like the list (`inference.raster`). Sealed
    arrays are never changed, so a snapshot shares them.
    """

    stage: int = -1
    strokes: list[Any] = field(default_factory=list)
    points: int = 0
    # The drawing as guessed mid-stroke: pieces of strokes, only ever appended, so the worker's
    # raster cache adds only the new piece. A piece starts at the last point of the one before
    # (no gap in the ink); pieces differ from whole strokes only in where the stroke is
    # simplified, and only mid-stroke guesses see them (a finished stroke is guessed whole).
    pieces: list[Any] = field(default_factory=list)
    covered: list[int] = field(default_factory=list)  # per stroke: points already in pieces

    def reset(self, stage: int, strokes: list[list[tuple[float, float, float]]]) -> None:
        self.stage = stage
        self.strokes = [list(s) for s in strokes]
        self.points = sum(len(s) for s in strokes)
        self.pieces = []
        self.covered = []

    def live(self) -> tuple[int, list[Any], int]:
        """The drawing so far as pieces (for a guess while a stroke is being drawn)."""
        while len(self.covered) < len(self.strokes):
            self.covered.append(0)
        for index, stroke in enumerate(self.strokes):
            done, n = self.covered[index], len(stroke)
            if n > done:
                piece = stroke[max(0, done - 1):n]
                self.pieces.append(
                    piece if isinstance(piece, np.ndarray) else
                    np.array(piece, dtype=np.float64).reshape(-1, 3))
                self.covered[index] = n
        return self.stage, list(self.pieces), self.points

    def add(self, stroke: int, points: tuple[tuple[float, float, float], ...]) -> None:
        while len(self.strokes) <= stroke:
            self.strokes.append([])
        current = self.strokes[stroke]
        if not isinstance(current, list):  # sealed (the engine refuses this; stay correct)
            current = self.strokes[stroke] = [tuple(p) for p in current.tolist()]
        current.extend(points)
        self.points += len(points)

    def seal(self, stroke: int) -> None:
        """The stroke has ended: keep it compactly."""
        if stroke < len(self.strokes) and isinstance(self.strokes[stroke], list):
            self.strokes[stroke] = np.array(self.strokes[stroke], dtype=np.float64).reshape(-1, 3)

    def snapshot(self) -> tuple[int, list[Any], int]:
        return self.stage, [list(s) if isinstance(s, list) else s for s in self.strokes], \
            self.points


@dataclass
class _GuessThrottle:
    """After every finished stroke a guess; during a long stroke at most one per interval.

    "Long": a stroke gets a guess of its own only once it has lasted an interval (counted from
    its first chunk), so the first chunk of every stroke does not ask again right after the
    previous stroke's guess.
    """

    pending: bool = False
    last_request_ms: float = float("-inf")
    stroke_began_ms: float = float("-inf")

    def stroke_began(self, now_ms: float) -> None:
        self.stroke_began_ms = now_ms

    def want(self, stroke_ended: bool, now_ms: float, interval_ms: int) -> bool:
        since = max(self.last_request_ms, self.stroke_began_ms)
        if not stroke_ended and now_ms - since < interval_ms:
            return False
        self.last_request_ms = now_ms
        self.pending = True
        return True

    def take(self) -> bool:
        pending, self.pending = self.pending, False
        return pending


async def play(websocket: WebSocket, services: Services) -> None:
    """Serve one tablet until it goes away."""
    connection = TabletConnection(websocket, services)
    try:
        await connection.run()
    except Exception:
        log.exception("connection failed")
        with contextlib.suppress(Exception):
            await websocket.close(code=WS_1011_INTERNAL_ERROR)
