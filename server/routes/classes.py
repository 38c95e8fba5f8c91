"""Classes and joining: a teacher opens a class, a tablet joins it and gets a session token."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from server.auth import require_admin_token
from server.protocol import PlayerId

router = APIRouter(prefix="/api/v1", tags=["classes"])


class ClassCreate(BaseModel):
    name: str = Field("class", min_length=1, max_length=64)
    ttl_s: int | None = Field(None, gt=0, le=7 * 24 * 3600)


class ClassPublic(BaseModel):
    code: str
    name: str
    expires_at_s: int


class JoinRequest(BaseModel):
    player_id: PlayerId
    code: str | None = Field(None, max_length=16)


class JoinPublic(BaseModel):
    session_token: str
    class_code: str
    expires_at_s: int
    seat: int | None = None  # the tablet's number in its class (the teacher's tile shows it)
    avatar: str | None = None  # the seat's animal (emoji), shown beside the number


@router.post("/classes", dependencies=[Depends(require_admin_token)], status_code=201)
async def open_class(body: ClassCreate, request: Request) -> ClassPublic:
    """Open a class; its short join code is read out to the children's tablets."""
    access = request.app.state.access
    ttl_s = body.ttl_s or request.app.state.settings.class_ttl_s
    info = await access.classes.open(name=body.name, ttl_s=ttl_s)
    return ClassPublic(code=info.code, name=info.name, expires_at_s=info.expires_at_s)


@router.delete("/classes/{code}", dependencies=[Depends(require_admin_token)], status_code=204)
async def close_class(code: str, request: Request) -> None:
    """Close a class: no new tablet can join it (sessions already issued run out)."""
    if not await request.app.state.access.classes.close(code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open class {code!r}")


@router.post("/join")
async def join(body: JoinRequest, request: Request) -> JoinPublic:
    """A tablet joins a class with its code (or the open local class) and gets a session token."""
    from server.access import LOCAL_CLASS

    access = request.app.state.access
    settings = request.app.state.settings
    seat: dict[str, Any] = {}
    if body.code:
        info = await access.classes.get(body.code)
        if info is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "that join code is unknown or expired")
        class_code = info.code
        seat = await _seat(request, class_code, body.player_id, info.expires_at_s)
    elif settings.classes_open:
        class_code = LOCAL_CLASS
    else:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a join code from the teacher is needed")
    token = access.tokens.issue(
        player_id=body.player_id, class_code=class_code, ttl_s=settings.session_ttl_s
    )
    claims: Any = access.tokens.verify(token)
    return JoinPublic(session_token=token, class_code=class_code, expires_at_s=claims.expires_at_s,
                      **seat)


async def _seat(request: Request, code: str, player_id: str, expires_at_s: int) -> dict[str, Any]:
    """The tablet's seat in a class with a code, or 403 when the class is full."""
    import time

    from server.classroom import ClassFull, avatar_of

    rooms = getattr(request.app.state, "classrooms", None)
    if rooms is None:
        return {}
    try:
        number = await rooms.seat(code, player_id,
                                  max_tablets=request.app.state.settings.class_max_tablets,
                                  ttl_s=max(1, expires_at_s - int(time.time())))
    except ClassFull as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    return {"seat": number, "avatar": avatar_of(number)[0]}
