"""The stand-in's ASGI app (FastAPI) and its steerable state."""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"
PROXY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One bad answer.

    kind: "status" (Spring's error body with `status`), "html" (a proxy's HTML page with
    `status`, 502 by default; 200 makes it an HTML page that claims success), "delay" (answer
    normally after `delay_s`), "garbage" (200 with a JSON content type and a broken body).
    """

    kind: str
    status: int = 503
    delay_s: float = 0.0


@dataclass
class StandinState:
    """What the stand-in serves and how it misbehaves. Safe to change from another thread."""

    api_key: str = "test-key"
    categories: list[dict[str, Any]] = field(default_factory=list)
    topics: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)  # consumed one per request
    mode: Fault | None = None  # applied to every request while set
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail_next(self, n: int, fault: Fault) -> None:
        """The next `n` requests get `fault`."""
        with self._lock:
            self.faults.extend([fault] * n)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self.faults:
                return self.faults.popleft()
            return self.mode

    def count(self, path_prefix: str = "/api/") -> int:
        return sum(1 for r in self.requests if r["path"].startswith(path_prefix))


def spring_error(status: int, path: str) -> Response:
    """Spring Boot's default error body."""
    now = datetime.now(UTC)
    body = {
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+00:00",
        "status": status,
        "error": HTTPStatus(status).phrase,
        "path": path,
    }
    return Response(json.dumps(body), status_code=status, media_type=JSON_TYPE)


def _etag(body: bytes) -> str:
    # Spring's ShallowEtagHeaderFilter: a quoted "0" + MD5 hex of the body.
    return '"0' + hashlib.md5(body).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags


def _int_param(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default  # Spring ignores a malformed page parameter


def _page(request: Request, items: list[dict[str, Any]], default_size: int) -> dict[str, Any]:
    """Spring Data's `Page` as Jackson writes it."""
    page = max(0, _int_param(request, "page", 0))
    size = _int_param(request, "size", default_size)
    size = default_size if size < 1 else min(size, 2000)
    total = len(items)
    content = items[page * size:(page + 1) * size]
    total_pages = (total + size - 1) // size
    sort = {"sorted": False, "unsorted": True, "empty": True}
    return {
        "content": content,
        "pageable": {"pageNumber": page, "pageSize": size, "offset": page * size, "paged": True,
                     "unpaged": False, "sort": sort},
        "totalElements": total,
        "totalPages": total_pages,
        "number": page,
        "size": size,
        "numberOfElements": len(content),
        "first": page == 0,
        "last": page >= total_pages - 1,
        "empty": not content,
        "sort": sort,
    }


def create_app(state: StandinState) -> FastAPI:
    """The stand-in app serving `state`."""
    app = FastAPI(title="Spring service stand-in", openapi_url=None, docs_url=None,
                  redoc_url=None)

    async def answer(request: Request, body: dict[str, Any]) -> Response:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        etag = _etag(data)
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"ETag": etag})
        return Response(data, media_type=JSON_TYPE, headers={"ETag": etag})

    async def misbehave(request: Request) -> Response | None:
        state.requests.append({"path": request.url.path, "query": dict(request.query_params),
                               "headers": dict(request.headers)})
        fault = state._next_fault()
        if fault is None:
            return None
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.kind == "status":
            return spring_error(fault.status, request.url.path)
        if fault.kind == "html":
            status = fault.status or 502
            return Response(PROXY_HTML, status_code=status, media_type="text/html")
        if fault.kind == "garbage":
            return Response(b'{"content": [', media_type=JSON_TYPE)
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def authorised(request: Request) -> bool:
        return request.headers.get("x-api-key") == state.api_key

    @app.get("/api/v1/categories")
    async def categories(request: Request) -> Response:
        if (bad := await misbehave(request)) is not None:
            return bad
        if not authorised(request):
            return spring_error(401, request.url.path)
        items = sorted(state.categories, key=lambda c: c.get("categoryId", 0))
        return await answer(request, _page(request, items, 20))

    @app.get("/api/v1/categories/{category_id}/topics")
    async def topics(category_id: str, request: Request) -> Response:
        if (bad := await misbehave(request)) is not None:
            return bad
        if not authorised(request):
            return spring_error(401, request.url.path)
        try:
            cid = int(category_id)
        except ValueError:
            return spring_error(400, request.url.path)
        if not any(c.get("categoryId") == cid for c in state.categories):
            return spring_error(404, request.url.path)
        items = sorted(state.topics.get(cid, []), key=lambda t: t.get("topicId", 0))
        return await answer(request, _page(request, items, 50))

    @app.post("/__standin/fault")
    async def set_fault(kind: str, status: int = 503, delay_s: float = 0.0,
                        count: int = 1) -> dict[str, Any]:
        """For manual development: the next `count` requests get a fault (count=0: clear)."""
        if count == 0:
            state.faults.clear()
            state.mode = None
        else:
            state.fail_next(count, Fault(kind, status, delay_s))
        return {"queued": len(state.faults)}

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return spring_error(404, request.url.path)

    return app


def category(cid: int, code: str, name: str, name_en: str, *, sort_order: int = 0,
             active: bool = True, age_min: int | None = 3, age_max: int | None = 8,
             stage_count: int | None = 5, **extra: Any) -> dict[str, Any]:
    """A category item as the service writes it."""
    return {"categoryId": cid, "code": code, "name": name, "nameEn": name_en, "active": active,
            "sortOrder": sort_order, "ageMin": age_min, "ageMax": age_max,
            "stageCount": stage_count, "updatedAt": "2026-10-01T09:30:00", **extra}


def topic(tid: int, cid: int, label: str, name: str, name_en: str | None = None, *,
          active: bool = True, time_limit_s: int | None = 40, difficulty: int = 1,
          **extra: Any) -> dict[str, Any]:
    """A topic item as the service writes it."""
    return {"topicId": tid, "categoryId": cid, "label": label, "displayName": name,
            "displayNameEn": name_en or label, "difficulty": difficulty, "active": active,
            "timeLimitSec": time_limit_s, **extra}


SCHOOL_CATEGORIES: list[tuple[int, str, str, str, list[tuple[str, str]]]] = [
    # Codes and groupings the school chose, unlike the bundled `models/categories.json`:
    # `food-and-plants` and `things` are no bundled code, and bird, apple, book... sit in other
    # bundled categories. Every label is a Quick, Draw! class except `unicorn`.
    (3, "animals", "동물", "Animals",
     [("cat", "고양이"), ("dog", "강아지"), ("bird", "새"), ("fish", "물고기"), ("bee", "벌"),
      ("horse", "말"), ("octopus", "문어"), ("unicorn", "유니콘")]),
    (4, "food-and-plants", "음식과 식물", "Food and plants",
     [("apple", "사과"), ("banana", "바나나"), ("flower", "꽃"), ("house plant", "화분"),
      ("tree", "나무")]),
    (5, "things", "물건", "Things",
     [("book", "책"), ("candle", "양초"), ("clock", "시계"), ("diamond", "다이아몬드"),
      ("eye", "눈"), ("guitar", "기타"), ("house", "집"), ("rainbow", "무지개"),
      ("snowman", "눈사람"), ("umbrella", "우산")]),
    (6, "vehicles", "탈것", "Vehicles",
     [("airplane", "비행기"), ("bicycle", "자전거"), ("car", "자동차"), ("train", "기차")]),
]


def school_state(api_key: str = "dev-key") -> StandinState:
    """A school's own categories: four active ones (26 topics, `unicorn` no model knows), an
    inactive topic (`snake` in animals) and an inactive category (`space`). Each category has its
    own settings: stage count, age range and per-topic time limits."""
    state = StandinState(api_key=api_key)
    settings = {3: (5, 3, 7, 40), 4: (4, 4, 8, 45), 5: (6, 5, 8, 60), 6: (3, 3, 6, 30)}
    for cid, code, name, en, items in SCHOOL_CATEGORIES:
        stages, age_min, age_max, limit_s = settings[cid]
        state.categories.append(category(cid, code, name, en, sort_order=cid - 2, age_min=age_min,
                                         age_max=age_max, stage_count=stages))
        state.topics[cid] = [topic(cid * 100 + i, cid, label, ko, time_limit_s=limit_s)
                             for i, (label, ko) in enumerate(items, start=1)]
    state.topics[3].append(topic(399, 3, "snake", "뱀", active=False))
    state.categories.append(category(8, "space", "우주", "Space", sort_order=9, active=False))
    state.topics[8] = [topic(801, 8, "moon", "달"), topic(802, 8, "star", "별")]
    return state


def sample_state(api_key: str = "dev-key") -> StandinState:
    """The data set `python -m legacy_bridge.standin` serves: a school's own categories."""
    return school_state(api_key)
