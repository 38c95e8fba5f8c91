"""The teacher's HTTP API: an admin issues teacher tokens; a teacher opens, lists, shows and
closes only the classes they opened.

A class of another teacher answers 404 exactly like one that does not exist: a teacher token
reveals nothing of classes it did not open.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from game.errors import UnknownCategory
from server.access import normalise_code
from server.auth import require_admin_token
from server.classroom import Classroom, Classrooms
from server.qr import qr_svg
from server.teachers import Teacher, TeacherTokens

router = APIRouter(prefix="/api/v1", tags=["teacher"])
page_router = APIRouter(tags=["teacher"])
TEACHER_PAGE = Path(__file__).resolve().parent.parent / "static" / "teacher.html"


@page_router.get("/teacher", include_in_schema=False)
async def teacher_page() -> FileResponse:
    """The teacher's page (its script and style are served beside the tablet page's)."""
    return FileResponse(TEACHER_PAGE, media_type="text/html")


class TeacherCreate(BaseModel):
    label: str = Field("teacher", min_length=1, max_length=64,
                       description="What the admin calls this token (a room, not a person).")


class TeacherIssued(BaseModel):
    teacher_id: str
    label: str
    token: str


class ClassroomCreate(BaseModel):
    name: str = Field(..., min_length=1, max_length=64)
    category: str = Field(..., min_length=1, max_length=64)
    age_band: Literal["3-4", "5-6", "7-8"] | None = None


class ClassroomPublic(BaseModel):
    code: str
    name: str
    category: str
    age_band: str | None
    opened_at_s: int
    expires_at_s: int
    max_tablets: int
    join_path: str  # the tablet page preset with the code (the QR code opens it)


def teacher_tokens(request: Request) -> TeacherTokens:
    return request.app.state.teacher_tokens


def classrooms(request: Request) -> Classrooms:
    return request.app.state.classrooms


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


async def require_teacher(
    authorization: str | None = Header(default=None),
    tokens: TeacherTokens = Depends(teacher_tokens),
) -> Teacher:
    """Dependency: `Authorization: Bearer <teacher token>` (issued by an admin)."""
    teacher = await tokens.verify(_bearer(authorization))
    if teacher is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong teacher token",
                            headers={"WWW-Authenticate": "Bearer"})
    return teacher


def join_path(code: str) -> str:
    """The tablet page with the class code preset (`server/static/app.js` reads `?class=`)."""
    return f"/?class={code}"


def _public(room: Classroom, request: Request) -> ClassroomPublic:
    return ClassroomPublic(
        code=room.code, name=room.name, category=room.category, age_band=room.age_band,
        opened_at_s=room.opened_at_s, expires_at_s=room.expires_at_s,
        max_tablets=request.app.state.settings.class_max_tablets, join_path=join_path(room.code),
    )


async def owned_class(code: str, teacher: Teacher, rooms: Classrooms) -> Classroom:
    """The teacher's class `code`, or 404 (unknown, expired, closed or another teacher's)."""
    room = await rooms.owned(normalise_code(code), teacher.teacher_id)
    if room is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"you have no open class {code!r}")
    return room


@router.post("/admin/teachers", dependencies=[Depends(require_admin_token)], status_code=201)
async def issue_teacher(body: TeacherCreate,
                        tokens: TeacherTokens = Depends(teacher_tokens)) -> TeacherIssued:
    """Issue a teacher token (shown once: only its hash is kept)."""
    teacher, token = await tokens.issue(label=body.label)
    return TeacherIssued(teacher_id=teacher.teacher_id, label=teacher.label, token=token)


@router.get("/teacher/me")
async def me(teacher: Teacher = Depends(require_teacher)) -> dict[str, str]:
    """Who the token belongs to (the page checks a token with it at sign-in)."""
    return {"teacher_id": teacher.teacher_id, "label": teacher.label}


@router.post("/teacher/classes", status_code=201)
async def open_classroom(body: ClassroomCreate, request: Request,
                         teacher: Teacher = Depends(require_teacher),
                         rooms: Classrooms = Depends(classrooms)) -> ClassroomPublic:
    """Open a class for the teacher's tablets: a join code plus category and age band."""
    try:
        await request.app.state.services.games.category(body.category)
    except UnknownCategory as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    settings = request.app.state.settings
    info = await request.app.state.access.classes.open(name=body.name, ttl_s=settings.class_ttl_s)
    room = Classroom(code=info.code, teacher_id=teacher.teacher_id, name=body.name,
                     category=body.category, age_band=body.age_band,
                     opened_at_s=info.opened_at_s, expires_at_s=info.expires_at_s)
    await rooms.add(room)
    return _public(room, request)


@router.get("/teacher/classes")
async def list_classrooms(request: Request, teacher: Teacher = Depends(require_teacher),
                          rooms: Classrooms = Depends(classrooms)) -> list[ClassroomPublic]:
    """The teacher's own open classes, newest first."""
    return [_public(r, request) for r in await rooms.of_teacher(teacher.teacher_id)]


@router.get("/teacher/classes/{code}")
async def show_classroom(code: str, request: Request, teacher: Teacher = Depends(require_teacher),
                         rooms: Classrooms = Depends(classrooms)) -> ClassroomPublic:
    """One of the teacher's classes."""
    return _public(await owned_class(code, teacher, rooms), request)


@router.get("/teacher/classes/{code}/qr.svg")
async def classroom_qr(code: str, request: Request, teacher: Teacher = Depends(require_teacher),
                       rooms: Classrooms = Depends(classrooms)) -> Response:
    """A QR code of the tablet page's URL with the class code preset."""
    room = await owned_class(code, teacher, rooms)
    url = str(request.base_url).rstrip("/") + join_path(room.code)
    return Response(qr_svg(url), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})


@router.delete("/teacher/classes/{code}", status_code=204)
async def close_classroom(code: str, request: Request, teacher: Teacher = Depends(require_teacher),
                          rooms: Classrooms = Depends(classrooms)) -> None:
    """Close the class: its join code stops working and its tablets' sessions end."""
    room = await owned_class(code, teacher, rooms)
    await request.app.state.access.classes.close(room.code)
    await rooms.remove(room)
    roster = getattr(request.app.state, "roster", None)
    if roster is not None:
        await roster.class_closed(room.code)
