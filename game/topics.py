"""Categories and topics: what a child may be asked to draw.

They come from the bundled topic file on embedded defaults and from the school's Spring service
through `legacy_bridge` otherwise; both produce these types.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Topic:
    """One thing to draw. `label` is the Quick, Draw! class name (lower case, spaces allowed)."""

    label: str
    name_ko: str
    name_en: str
    time_limit_s: float | None = None  # None: the game's default applies


@dataclass(frozen=True, slots=True)
class Category:
    """A group of about 20 topics played together and recognised by one model (or label set)."""

    code: str
    name_ko: str
    name_en: str
    topics: tuple[Topic, ...]
    stage_count: int | None = None  # None: the game's default applies
    age_min: int | None = None
    age_max: int | None = None
    sort_order: int = 0
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels of the category's topics, in order."""
        return tuple(t.label for t in self.topics)


class TopicSource(Protocol):
    """Where categories come from (bundled file, or the Spring service through the bridge)."""

    async def categories(self) -> list[Category]:
        """Every active category with its active, recognisable topics."""
        ...
