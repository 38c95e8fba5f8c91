"""The Spring service's payloads, parsed strictly where the contract is firm and leniently where
it says so: unknown extra fields are ignored, `stageCount`/`timeLimitSec` may be null.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import BadPayload


@dataclass(frozen=True, slots=True)
class Page:
    """A Spring Data page envelope (only the parts a client needs)."""

    content: list[dict[str, Any]]
    number: int
    last: bool
    total_pages: int | None


@dataclass(frozen=True, slots=True)
class CategoryItem:
    category_id: int
    code: str
    name: str
    name_en: str
    active: bool
    sort_order: int
    age_min: int | None
    age_max: int | None
    stage_count: int | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class TopicItem:
    topic_id: int
    category_id: int
    label: str
    display_name: str
    display_name_en: str
    difficulty: int | None
    active: bool
    time_limit_s: float | None


def _req(item: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in item:
        raise BadPayload(f"{where}: missing field {key!r}")
    value = item[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadPayload(f"{where}: field {key!r} has type {type(value).__name__}")
    return value


def _opt_int(item: dict[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadPayload(f"{where}: field {key!r} should be an integer or null")
    return value


def _opt_positive(item: dict[str, Any], key: str, where: str) -> int | None:
    """A setting where null means "the game's default"; 0 or negative is treated the same way."""
    value = _opt_int(item, key, where)
    return value if value is not None and value > 0 else None


def parse_page(body: Any, where: str) -> Page:
    """Parse a Spring Data page envelope."""
    if not isinstance(body, dict):
        raise BadPayload(f"{where}: expected a page object, got {type(body).__name__}")
    content = _req(body, "content", list, where)
    last = _req(body, "last", bool, where)
    number = body.get("number", 0)
    total_pages = body.get("totalPages")
    if not all(isinstance(x, dict) for x in content):
        raise BadPayload(f"{where}: every item of 'content' must be an object")
    return Page(content=content, number=number if isinstance(number, int) else 0, last=last,
                total_pages=total_pages if isinstance(total_pages, int) else None)


def parse_category(item: dict[str, Any]) -> CategoryItem:
    """Parse one category; unknown fields are ignored."""
    where = f"category {item.get('categoryId', '?')}"
    name = _req(item, "name", str, where)
    return CategoryItem(
        category_id=_req(item, "categoryId", int, where),
        code=_req(item, "code", str, where),
        name=name,
        name_en=item.get("nameEn") if isinstance(item.get("nameEn"), str) else name,
        active=bool(item.get("active", True)),
        sort_order=_opt_int(item, "sortOrder", where) or 0,
        age_min=_opt_int(item, "ageMin", where),
        age_max=_opt_int(item, "ageMax", where),
        stage_count=_opt_positive(item, "stageCount", where),
        updated_at=item.get("updatedAt") if isinstance(item.get("updatedAt"), str) else None,
    )


def parse_topic(item: dict[str, Any]) -> TopicItem:
    """Parse one topic; unknown fields are ignored."""
    where = f"topic {item.get('topicId', '?')}"
    label = _req(item, "label", str, where).strip().lower()
    display = _req(item, "displayName", str, where)
    return TopicItem(
        topic_id=_req(item, "topicId", int, where),
        category_id=_req(item, "categoryId", int, where),
        label=label,
        display_name=display,
        display_name_en=item.get("displayNameEn") if isinstance(item.get("displayNameEn"), str)
        else label,
        difficulty=_opt_int(item, "difficulty", where),
        active=bool(item.get("active", True)),
        time_limit_s=float(v) if (v := _opt_positive(item, "timeLimitSec", where)) else None,
    )
