"""A tablet that never comes back, and one that stops reading."""
from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from game.store.memory import MemoryStore

from game.records import GameOutcome, StageOutcome
from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from server.ws import TabletConnection
from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer
from tests.server.test_ws_protocol import HELLO, receive_until, stroke


def test_a_tablet_that_never_returns_is_recorded_as_abandoned_after_the_grace(tmp_path):
    sink = ListSink()
    settings = Settings(_env_file=None, data_dir=tmp_path, resume_grace_s=0.2)
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=sink))
    with TestClient(app) as client:
        with client.websocket_connect("/ws/play") as ws:
            ws.send_json(HELLO)
            game_id = receive_until(ws, "welcome")["game_id"]
            receive_until(ws, "stage_start")
            ws.send_json(stroke())
            receive_until(ws, "ack")
        games = app.state.services.games

        async def abandoned() -> None:
            # the server's own timer loop fires the grace deadline: await its game_over
            async with games.store.subscribe(game_id) as events:
                if (await games.store.load(game_id)).outcome is None:
                    async for event in events:
                        if event.type == "game_over":
                            break
            state = await games.store.load(game_id)
            assert state.outcome == GameOutcome.ABANDONED
            await app.state.recorder.run_once()

        client.portal.call(lambda: asyncio.wait_for(abandoned(), 10))
    [game] = sink.games
    assert game.outcome == GameOutcome.ABANDONED
    assert game.stages[-1].outcome == StageOutcome.ABANDONED
    assert game.stages[-1].strokes == (((10, 10, 0), (20, 20, 16)),), "the drawing is kept"


class _StuckSocket:
    """A socket whose tablet never reads: every send blocks."""

    def __init__(self) -> None:
        self.closed_with: int | None = None
        self.application_state = None

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = code


async def test_a_tablet_that_stops_reading_is_closed_not_buffered_without_bound(tmp_path):
    from starlette.websockets import WebSocketState

    settings = Settings(_env_file=None, data_dir=tmp_path, outbound_queue_max=8)
    services = type("S", (), {"settings": settings, "access": None, "games": None,
                              "recognizer": None, "on_local_transition": None})()
    socket = _StuckSocket()
    socket.application_state = WebSocketState.CONNECTED
    connection = TabletConnection(socket, services)  # type: ignore[arg-type]
    writer = asyncio.create_task(connection._write_loop())
    for n in range(100):
        connection.send({"type": "pong", "id": n})
    await asyncio.sleep(0)  # let the close task run
    await asyncio.wait_for(_until(lambda: socket.closed_with is not None), 5)
    assert socket.closed_with == 1013
    assert connection.outbox.qsize() <= 8
    writer.cancel()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0)


class _StoreThatCannotCreate(MemoryStore):
    """Redis went away just as a game was being created."""

    async def create(self, state, transition, *, resume_token: str) -> None:
        raise ConnectionError("Connection refused")


def test_no_welcome_names_a_game_the_store_does_not_hold(tmp_path):
    # A welcome carries the resume token; if the game behind it was never stored, a tablet that
    # loses this process could not resume. So the game is stored first, and when that fails the
    # tablet is told to come back (1013) instead of being welcomed.
    settings = Settings(_env_file=None, data_dir=tmp_path)
    app = create_app(settings, Components(store=_StoreThatCannotCreate(), recognizer=ScriptedRecognizer(),
                                          topics=FixedTopics(), results=ListSink()))
    with TestClient(app) as client:
        with client.websocket_connect("/ws/play") as ws:
            ws.send_json(HELLO)
            first = ws.receive_json()
            assert first["type"] == "error" and first["code"] == "unavailable", first
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1013




class _RecognizerThatDiesOnItsFirstRequest(ScriptedRecognizer):
    """The first request never comes back (its process died); later ones are answered."""

    async def recognize(self, request):
        if not self.requests:
            self.requests.append(request)
            await asyncio.Event().wait()
        return await super().recognize(request)


def test_a_resumed_drawing_is_judged_even_if_its_last_guess_died_with_the_old_connection(tmp_path):
    # The process that took the child's last stroke died before guessing it; the child has
    # nothing more to draw. The resumed connection must judge the drawing it holds, or the
    # stage would run out its time with a finished, recognisable drawing on the screen.
    recognizer = _RecognizerThatDiesOnItsFirstRequest(points_to_recognize=2)
    settings = Settings(_env_file=None, data_dir=tmp_path, default_time_limit_s=5)
    app = create_app(settings, Components(recognizer=recognizer, topics=FixedTopics(),
                                          results=ListSink()))
    with TestClient(app) as client:
        with client.websocket_connect("/ws/play") as ws:
            ws.send_json(HELLO)
            welcome = receive_until(ws, "welcome")
            start = receive_until(ws, "stage_start")
            recognizer.target_by_key[f"{welcome['game_id']}:0"] = start["topic"]["label"]
            ws.send_json(stroke())
            receive_until(ws, "ack")
        with client.websocket_connect("/ws/play") as ws:
            ws.send_json({**HELLO, "resume_token": welcome["resume_token"]})
            assert receive_until(ws, "welcome")["resumed"]
            result = receive_until(ws, "stage_result")
            assert result["outcome"] == "recognized", "judged at once, not timed out"
