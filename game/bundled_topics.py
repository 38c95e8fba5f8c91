"""The bundled topics of the embedded default: `models/categories.json`, shipped with the models."""
from __future__ import annotations

import json
from pathlib import Path

from game.topics import Category, Topic


class BundledTopics:
    """A `TopicSource` reading the categories file that ships beside the models."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._categories: list[Category] | None = None

    async def categories(self) -> list[Category]:
        if self._categories is None:
            self._categories = load_categories(self._path)
        return self._categories


def load_categories(path: Path) -> list[Category]:
    """Parse a categories file (see models/categories.json) into categories."""
    data = json.loads(path.read_text(encoding="utf-8"))
    categories = []
    for c in data["categories"]:
        topics = tuple(
            Topic(
                label=t["label"],
                name_ko=t["name_ko"],
                name_en=t["name_en"],
                time_limit_s=t.get("time_limit_s"),
            )
            for t in c["topics"]
        )
        categories.append(
            Category(
                code=c["code"],
                name_ko=c["name_ko"],
                name_en=c["name_en"],
                topics=topics,
                stage_count=c.get("stage_count"),
                age_min=c.get("age_min"),
                age_max=c.get("age_max"),
                sort_order=c.get("sort_order", 0),
            )
        )
    return sorted(categories, key=lambda c: (c.sort_order, c.code))
