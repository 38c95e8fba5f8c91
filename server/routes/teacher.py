"""The teacher's HTTP API: an admin issues teacher tokens; a teacher opens, lists, shows and
closes only the classes they opened.

A class of another teacher answers 404 exactly like one that does not exist: a teacher token
reveals nothing of classes it did not open.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from game.errors import UnknownCategory
from server.access import normalise_code
from server.auth import require_admin_token
from server.classroom import Classroom, Classrooms
from server.gallery import gallery_view
from server.gallery_sheet import render_sheet
from server.qr import qr_svg
from server.rounds import MAX_ROUND_S, MIN_ROUND_S, ClassRounds, RoundError
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


# What a teacher may set as the class's pace: a few seconds is no drawing, an hour no game.
MIN_PACE_S, MAX_PACE_S = 10.0, 300.0
MAX_PACE_STAGES = 10


class ClassroomPace(BaseModel):
    """The teacher's time per drawing and drawings per game for the class (null: defaults)."""

    model_config = ConfigDict(extra="forbid")
    time_limit_s: float | None = Field(None, ge=MIN_PACE_S, le=MAX_PACE_S,
                                       description="seconds per drawing, instead of the age band's")
    stages: int | None = Field(None, ge=1, le=MAX_PACE_STAGES,
                               description="drawings per game, instead of the age band's")


class ClassroomCreate(BaseModel):
    name: str = Field(..., min_length=1, max_length=64)
    category: str = Field(..., min_length=1, max_length=64)
    age_band: Literal["3-4", "5-6", "7-8"] | None = None
    time_limit_s: float | None = Field(None, ge=MIN_PACE_S, le=MAX_PACE_S)
    stages: int | None = Field(None, ge=1, le=MAX_PACE_STAGES)


class ClassroomPublic(BaseModel):
    code: str
    name: str
    category: str
    age_band: str | None
    opened_at_s: int
    expires_at_s: int
    max_tablets: int
    join_path: str  # the tablet page preset with the code (the QR code opens it)
    time_limit_s: float | None = None  # the teacher's pace (null: the age band's)
    stages: int | None = None


class RoundStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: str | None = Field(None, min_length=1, max_length=64,
                              description="A topic label of the class's category; none: random.")
    time_limit_s: float | None = Field(
        None, ge=MIN_ROUND_S, le=MAX_ROUND_S,
        description="How long the round lasts; none: the topic's own, scaled for the age band.")


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
        time_limit_s=room.time_limit_s, stages=room.stage_count,
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
                     opened_at_s=info.opened_at_s, expires_at_s=info.expires_at_s,
                     time_limit_s=body.time_limit_s, stage_count=body.stages)
    await rooms.add(room)
    return _public(room, request)


@router.patch("/teacher/classes/{code}")
async def pace_classroom(code: str, body: ClassroomPace, request: Request,
                         teacher: Teacher = Depends(require_teacher),
                         rooms: Classrooms = Depends(classrooms)) -> ClassroomPublic:
    """Change the class's time per drawing and drawings per game; games started from now on
    play by it (a game in progress keeps its own). A field left out is kept; null resets it."""
    room = await owned_class(code, teacher, rooms)
    given = body.model_fields_set
    room = replace(room,
                   time_limit_s=body.time_limit_s if "time_limit_s" in given else room.time_limit_s,
                   stage_count=body.stages if "stages" in given else room.stage_count)
    await rooms.update(room)
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
    # Its games end before the class is forgotten (the game list goes with it): every tablet
    # hears its drawing praised and the game over, then its session no longer plays.
    await request.app.state.rounds.end_games(room)
    await rooms.remove(room)
    await request.app.state.gallery.forget_class(room.code)  # its drawings go with it
    await request.app.state.rounds.book.forget(room.code)
    roster = getattr(request.app.state, "roster", None)
    if roster is not None:
        await roster.class_closed(room.code)


def class_rounds(request: Request) -> ClassRounds:
    return request.app.state.rounds


@router.get("/teacher/classes/{code}/topics")
async def classroom_topics(code: str, request: Request,
                           teacher: Teacher = Depends(require_teacher),
                           rooms: Classrooms = Depends(classrooms)) -> list[dict[str, Any]]:
    """The topics of the class's category (what a round may be about)."""
    room = await owned_class(code, teacher, rooms)
    try:
        category = await request.app.state.services.games.category(room.category)
    except UnknownCategory:
        return []  # the school withdrew the category since: nothing to pick
    return [{"label": t.label, "name_ko": t.name_ko, "name_en": t.name_en} for t in category.topics]


@router.post("/teacher/classes/{code}/round", status_code=201)
async def start_round(code: str, body: RoundStart, request: Request,
                      teacher: Teacher = Depends(require_teacher),
                      rooms: Classrooms = Depends(classrooms),
                      rounds: ClassRounds = Depends(class_rounds)) -> dict[str, Any]:
    """Everyone draws the same topic now: every tablet of the class gets the round's stage at
    once, with the same deadline (a running round is replaced)."""
    room = await owned_class(code, teacher, rooms)
    try:
        item, tablets = await rounds.start(room, label=body.topic, time_limit_s=body.time_limit_s)
    except RoundError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return {"round": item.public(rounds.games.clock_ms()), "tablets": tablets,
            "started": sum(1 for t in tablets if t["changed"])}


@router.get("/teacher/classes/{code}/round")
async def show_round(code: str, teacher: Teacher = Depends(require_teacher),
                     rooms: Classrooms = Depends(classrooms),
                     rounds: ClassRounds = Depends(class_rounds)) -> dict[str, Any]:
    """The class's newest round (`running` says whether it is still drawn), or null."""
    room = await owned_class(code, teacher, rooms)
    item = await rounds.current(room.code)
    return {"round": item.public(rounds.games.clock_ms()) if item is not None else None}


@router.delete("/teacher/classes/{code}/round")
async def end_round(code: str, teacher: Teacher = Depends(require_teacher),
                    rooms: Classrooms = Depends(classrooms),
                    rounds: ClassRounds = Depends(class_rounds)) -> dict[str, Any]:
    """End the running round early on every tablet (its stage ends as a time-out would)."""
    room = await owned_class(code, teacher, rooms)
    try:
        item, tablets = await rounds.end(room)
    except RoundError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return {"round": item.public(rounds.games.clock_ms()), "tablets": tablets,
            "ended": sum(1 for t in tablets if t["changed"])}


RoundQuery = Query(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                   description="`last` (the newest round), a round id, or none: the whole session.")


async def _gallery(code: str, round_ref: str | None, request: Request, teacher: Teacher,
                   rooms: Classrooms) -> dict[str, Any]:
    room = await owned_class(code, teacher, rooms)
    round_id = round_ref
    if round_ref == "last":
        item = await request.app.state.rounds.current(room.code)
        round_id = item.round_id if item is not None else "none"  # no round yet: nothing
    games = request.app.state.services.games
    try:
        category = await games.category(room.category)
        names = {t.label: (t.name_ko, t.name_en) for t in category.topics}
    except UnknownCategory:
        names = {}
    return await gallery_view(room, rooms=rooms, gallery=request.app.state.gallery,
                              store=games.store, names=names, round_id=round_id)


@router.get("/teacher/classes/{code}/gallery")
async def classroom_gallery(code: str, request: Request, round: str | None = RoundQuery,  # noqa: A002
                            teacher: Teacher = Depends(require_teacher),
                            rooms: Classrooms = Depends(classrooms)) -> dict[str, Any]:
    """Every drawing of the session (or of a round), grouped by topic, each with the
    computer's guess; seats and animals only, never a name or id."""
    return await _gallery(code, round, request, teacher, rooms)


@router.get("/teacher/classes/{code}/gallery.png")
async def classroom_gallery_png(code: str, request: Request,
                                round: str | None = RoundQuery,  # noqa: A002
                                teacher: Teacher = Depends(require_teacher),
                                rooms: Classrooms = Depends(classrooms)) -> Response:
    """The gallery as one PNG sheet, drawn by the server from the strokes."""
    view = await _gallery(code, round, request, teacher, rooms)
    png = await asyncio.to_thread(render_sheet, view)  # a big sheet must not stall the tablets
    name = f"gallery-{view['class']['code']}{'-' + round if round else ''}.png"
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "no-store",
                             "Content-Disposition": f'attachment; filename="{name}"'})
