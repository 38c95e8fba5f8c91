"""The teacher's WebSocket `/ws/teacher`: the live roster of one of the teacher's classes.

The page sends `{"type": "watch", "token": <teacher token>, "code": <class code>}` first. The
server answers `roster` (the class, every tablet's tile with its drawing so far, and the newest
round), then `tiles` as tablets change (at most one a tile per `ROSTER_INTERVAL_MS`), `round` and
`round_ended` as the teacher starts and ends class rounds, and `class_closed`.
A wrong token, or a class that is not the teacher's, gets an `error` and close 1008: it learns
nothing of the class. See docs/protocol.md, "The teacher's roster".
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from fastapi import WebSocket, WebSocketDisconnect

from game.state import Phase
from server.access import normalise_code, origin_allowed
from server.classroom import Classroom, Classrooms, avatar_of
from server.roster import RosterHub, flat_ink, tile_of
from server.teachers import TeacherTokens

log = logging.getLogger(__name__)

WS_1008_POLICY_VIOLATION = 1008
WATCH_TIMEOUT_S = 10.0


class TeacherWatch:
    """One teacher page watching one class."""

    def __init__(self, websocket: WebSocket, app_state: Any) -> None:
        self.ws = websocket
        self.state = app_state
        self.tokens: TeacherTokens = app_state.teacher_tokens
        self.rooms: Classrooms = app_state.classrooms
        self.hub: RosterHub = app_state.roster_hub
        self.seats: dict[str, int] = {}
        self.code = ""

    async def run(self) -> None:
        access = self.state.access
        if not origin_allowed(self.ws.headers.get("origin"), self.ws.headers.get("host"),
                              access.allowed_origins):
            await self.ws.close(code=WS_1008_POLICY_VIOLATION)
            return
        await self.ws.accept()
        try:
            room = await self._authorise()
            if room is None:
                return
            self.code = room.code
            async with self.hub.subscribe(room.code) as messages:
                # subscribed first: a change during the snapshot is not missed (at worst it
                # arrives twice, which redraws the same ink)
                await self._send({"type": "roster", "class": _class_public(room),
                                  "tiles": await self._snapshot(room),
                                  "round": await self._round(room)})
                await self._stream(messages)
        except WebSocketDisconnect:
            pass

    async def _authorise(self) -> Classroom | None:
        try:
            raw = await asyncio.wait_for(self.ws.receive_text(), WATCH_TIMEOUT_S)
            message = orjson.loads(raw)
            if not isinstance(message, dict) or message.get("type") != "watch":
                raise ValueError
            token, code = str(message.get("token") or ""), str(message.get("code") or "")
        except (TimeoutError, ValueError, orjson.JSONDecodeError, KeyError):
            await self._refuse("watch_required",
                               'send {"type": "watch", "token": ..., "code": ...} first')
            return None
        teacher = await self.tokens.verify(token)
        if teacher is None:
            await self._refuse("unauthorized", "missing or wrong teacher token")
            return None
        room = await self.rooms.owned(normalise_code(code[:16]), teacher.teacher_id)
        if room is None:
            await self._refuse("unknown_class", f"you have no open class {code[:16]!r}")
            return None
        return room

    async def _refuse(self, code: str, text: str) -> None:
        await self._send({"type": "error", "code": code, "message": text})
        await self.ws.close(code=WS_1008_POLICY_VIOLATION, reason=code)

    async def _snapshot(self, room: Classroom) -> list[dict[str, Any]]:
        """Every tablet of the class that plays or played, with its current drawing."""
        store = self.state.services.games.store
        self.seats = await self.rooms.seats(room.code)
        tiles = []
        for player_id, game_id in (await self.rooms.games(room.code)).items():
            state = await store.load(game_id)
            if state is None:
                continue
            tile = tile_of(state)
            tile["reset"] = True
            tile["ink"] = []
            if state.phase in (Phase.DRAWING, Phase.INTERMISSION):  # the drawing just ended shows
                strokes = await store.strokes(game_id, state.stage)
                tile["ink"] = [[i, flat_ink(s)] for i, s in enumerate(strokes)]
            public = await self._public(tile)
            if public is not None:
                tiles.append(public)
        # seats that joined but have not started a game yet show too
        shown = {t["seat"] for t in tiles}
        for number in sorted(set(self.seats.values()) - shown):
            emoji, animal = avatar_of(number)
            tiles.append({"seat": number, "avatar": emoji, "animal": animal, "phase": "joined",
                          "connected": False, "ink": [], "reset": True})
        return sorted(tiles, key=lambda t: t["seat"])

    async def _round(self, room: Classroom) -> dict[str, Any] | None:
        """The class's newest round (a page that reloads mid-round shows it running)."""
        rounds = getattr(self.state, "rounds", None)
        item = await rounds.current(room.code) if rounds is not None else None
        return item.public(rounds.games.clock_ms()) if item is not None else None

    async def _public(self, tile: dict[str, Any]) -> dict[str, Any] | None:
        """The tile as the page sees it: the seat instead of the player and game ids."""
        player_id = tile.pop("player_id")
        tile.pop("game_id", None)
        number = self.seats.get(player_id)
        if number is None:  # joined after our last look at the seats
            self.seats = await self.rooms.seats(self.code)
            number = self.seats.get(player_id)
            if number is None:
                return None
        emoji, animal = avatar_of(number)
        tile.update(seat=number, avatar=emoji, animal=animal)
        return tile

    async def _stream(self, messages: Any) -> None:
        """Forward the class's roster messages until the page or the class goes away."""
        forward = asyncio.create_task(self._forward(messages))
        receiver = asyncio.create_task(self._drain_incoming())
        try:
            await asyncio.wait({forward, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (forward, receiver):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await task

    async def _forward(self, messages: Any) -> None:
        async for message in messages:
            if message.get("type") == "class_closed":
                await self._send({"type": "class_closed"})
                await self.ws.close(code=1000, reason="class closed")
                return
            if message.get("type") in ("round", "round_ended"):
                # no tiles, no ids: the round's topic and deadline as every teacher page shows
                await self._send({"type": message["type"], "round": message["round"]})
                continue
            tiles = [t for t in [await self._public(dict(t)) for t in message["tiles"]]
                     if t is not None]
            if tiles:
                await self._send({"type": "tiles", "tiles": tiles})

    async def _drain_incoming(self) -> None:
        """The page says nothing after watch; reading notices when it goes away."""
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send_text(orjson.dumps(message).decode())


def _class_public(room: Classroom) -> dict[str, Any]:
    return {"code": room.code, "name": room.name, "category": room.category,
            "age_band": room.age_band, "expires_at_s": room.expires_at_s}


async def watch(websocket: WebSocket, app_state: Any) -> None:
    """Serve one teacher page until it goes away."""
    try:
        await TeacherWatch(websocket, app_state).run()
    except Exception:
        log.exception("teacher connection failed")
        with contextlib.suppress(Exception):
            await websocket.close(code=1011)
