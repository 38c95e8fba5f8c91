"""A cap on every HTTP request body, enforced before the body is read.

Without it an unauthenticated `POST /api/v1/join` with a 200 MB body was read into memory whole
(RSS 117 -> 477 MiB) before the validation error came back. A declared `Content-Length` over the
cap is refused at once; a body without one (chunked) is counted as it arrives and refused the
moment it passes the cap, so no more of it is read.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most `max_bytes` (413 past that)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _answer(send, 400, "Content-Length is not a number")
            return
        if declared is not None and declared > self.max_bytes:
            await _answer(send, 413, self._too_large())
            return
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the app's read of the body: FastAPI answers it (413).
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> str:
        return f"a request body may be at most {self.max_bytes} bytes"


def _content_length(scope: Scope) -> int | None:
    """The declared length, None if none is declared, -1 if it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
