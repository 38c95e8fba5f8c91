"""Admin endpoint: refresh topics from the Spring service now ("sync now").

Include with `app.include_router(admin_topics.router)`. It uses the topic source found at
`app.state.topic_source` or `app.state.topics` (the `SpringTopicSource` from
`legacy_bridge.open_bridge`; bundled topics get 409: nothing to sync), or override
the `get_topic_source` dependency. The caller must send the admin token, taken from the
`ADMIN_TOKEN` environment variable, as `X-Admin-Token: <token>` or `Authorization: Bearer <token>`.
"""
from __future__ import annotations

import os
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse

router = APIRouter(prefix="/admin/topics", tags=["admin"])


def expected_admin_token() -> str | None:
    """The token admins must present (env `ADMIN_TOKEN`); None disables the admin endpoints."""
    return os.environ.get("ADMIN_TOKEN") or None


def require_admin_token(
    x_admin_token: str | None = Header(default=None),
    authorization: str | None = Header(default=None),
    expected: str | None = Depends(expected_admin_token),
) -> None:
    """Dependency: 503 when no admin token is configured, 401 when the given one is wrong."""
    if expected is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "admin endpoints are disabled: ADMIN_TOKEN is not set")
    given = x_admin_token
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if not given or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong admin token",
                            headers={"WWW-Authenticate": "Bearer"})


def get_topic_source(request: Request) -> Any:
    """Dependency: the running `SpringTopicSource` (`app.state.topic_source`, else
    `app.state.topics` as the server's lifespan sets it)."""
    source = getattr(request.app.state, "topic_source", None) or getattr(
        request.app.state, "topics", None)
    if source is None or not hasattr(source, "refresh"):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "topics do not come from the Spring service here (LEGACY_API_URL "
                            "is not set): nothing to sync")
    return source


@router.post("/sync", dependencies=[Depends(require_admin_token)])
async def sync_topics(source: Any = Depends(get_topic_source)) -> JSONResponse:
    """Fetch every category and topic now. 200 when it worked; 502 with the reason when the
    service failed (the last good set is still being served)."""
    result = await source.refresh()
    return JSONResponse({"result": result.as_dict(), "status": source.status()},
                        status_code=200 if result.ok else 502)


@router.get("/status", dependencies=[Depends(require_admin_token)])
async def topics_status(source: Any = Depends(get_topic_source)) -> dict[str, Any]:
    """Freshness of the served topics, last error and the breaker's state."""
    return source.status()
