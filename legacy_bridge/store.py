"""Where the last good set of topics is kept between restarts: Redis when a client is given,
else a small JSON file under the data dir (written atomically: temp file, fsync, rename).

The snapshot holds what the Spring service said (active categories and topics), not yet
filtered by the model registry: filtering happens when serving, so a newly deployed model
makes its topics playable without waiting for the service.
"""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from game.topics import Category, Topic


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Active categories as fetched, and when (Unix seconds)."""

    categories: tuple[Category, ...]
    fetched_at_s: float


def snapshot_to_json(snapshot: Snapshot) -> str:
    data = {
        "version": 1,
        "fetched_at_s": snapshot.fetched_at_s,
        "categories": [
            {"code": c.code, "name_ko": c.name_ko, "name_en": c.name_en,
             "stage_count": c.stage_count, "age_min": c.age_min, "age_max": c.age_max,
             "sort_order": c.sort_order, "extra": dict(c.extra),
             "topics": [{"label": t.label, "name_ko": t.name_ko, "name_en": t.name_en,
                         "time_limit_s": t.time_limit_s} for t in c.topics]}
            for c in snapshot.categories
        ],
    }
    return json.dumps(data, ensure_ascii=False)  # Korean stays readable in the file


def snapshot_from_json(text: str | bytes) -> Snapshot:
    data: dict[str, Any] = json.loads(text)
    cats = tuple(
        Category(code=c["code"], name_ko=c["name_ko"], name_en=c["name_en"],
                 topics=tuple(Topic(**t) for t in c["topics"]), stage_count=c["stage_count"],
                 age_min=c["age_min"], age_max=c["age_max"], sort_order=c["sort_order"],
                 extra=dict(c.get("extra") or {}))
        for c in data["categories"]
    )
    return Snapshot(categories=cats, fetched_at_s=float(data["fetched_at_s"]))


class SnapshotStore(Protocol):
    async def load(self) -> Snapshot | None: ...
    async def save(self, snapshot: Snapshot) -> None: ...


class FileSnapshotStore:
    """A JSON file; the embedded default."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def load(self) -> Snapshot | None:
        return await asyncio.to_thread(self._load)

    def _load(self) -> Snapshot | None:
        try:
            return snapshot_from_json(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    async def save(self, snapshot: Snapshot) -> None:
        await asyncio.to_thread(self._save, snapshot_to_json(snapshot))

    def _save(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".topics-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class RedisSnapshotStore:
    """One Redis string key holding the JSON snapshot (shared by every server process)."""

    def __init__(self, redis: Any, key: str = "doodle:bridge:topics:last_good") -> None:
        self.redis = redis
        self.key = key

    async def load(self) -> Snapshot | None:
        raw = await self.redis.get(self.key)
        return None if raw is None else snapshot_from_json(raw)

    async def save(self, snapshot: Snapshot) -> None:
        await self.redis.set(self.key, snapshot_to_json(snapshot).encode("utf-8"))
