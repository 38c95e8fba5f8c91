"""WebSocket servers that do nothing but the protocol's shape: what the framework costs.

`raw`: a bare ASGI app under uvicorn. `fastapi`: a FastAPI WebSocket route, as `server/` has,
decoding each message with orjson. Both answer every third message with an `ack`-sized reply,
the ratio of messages out to in that `bench.load` measures on the real server.
"""
from __future__ import annotations

import os
from typing import Any

import orjson
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

ACK = orjson.dumps({"type": "ack", "stage": 0, "stroke": 3, "points": 18}).decode()
REPLY_EVERY = 3


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI WebSocket endpoint (no Starlette, no FastAPI)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    count = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        count += 1
        if count % REPLY_EVERY == 0:
            await send({"type": "websocket.send", "text": ACK})


def fastapi_app() -> Any:
    """The same endpoint the way `server/` builds one: a FastAPI route and Starlette's WebSocket.

    (`WebSocket` is imported at module level: FastAPI resolves the route's annotations there.)
    """
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        count = 0
        try:
            while True:
                orjson.loads(await websocket.receive_text())
                count += 1
                if count % REPLY_EVERY == 0:
                    await websocket.send_text(ACK)
        except WebSocketDisconnect:
            return

    return app


app = raw_app if os.environ.get("WS_FLOOR_APP", "raw") == "raw" else fastapi_app()
