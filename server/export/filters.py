"""What a researcher asks for: filters over the consented drawings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AGE_BANDS = ("3-4", "5-6", "7-8")


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """Filters of an export; empty tuples / None mean "any".

    categories: game categories (e.g. "animals"); labels: topic words (e.g. "cat");
    since / until: when the drawing's stage started (UTC, `since` inclusive, `until` exclusive);
    age_bands: "3-4", "5-6", "7-8"; recognized: True / False / None (both).
    """

    categories: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    age_bands: tuple[str, ...] = ()
    recognized: bool | None = None

    def __post_init__(self) -> None:
        bad = set(self.age_bands) - set(AGE_BANDS)
        if bad:
            raise ValueError(f"unknown age band(s) {sorted(bad)}: use {', '.join(AGE_BANDS)}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is not None:
                object.__setattr__(self, name, value.astimezone(UTC).replace(tzinfo=None))
        if self.since and self.until and self.since >= self.until:
            raise ValueError("`since` must be before `until`")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the manifest."""
        return {"categories": list(self.categories), "labels": list(self.labels),
                "since": _iso(self.since), "until": _iso(self.until),
                "age_bands": list(self.age_bands), "recognized": self.recognized}


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.replace(tzinfo=UTC).isoformat()


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or date-time; naive means UTC. Raises ValueError with a clear message."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or date-time: {text!r}") from None
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt
