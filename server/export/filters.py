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
                object.__setattr__(self, name, _to_naive_utc(value, name))
        if self.since and self.until and self.since >= self.until:
            raise ValueError("`since` must be before `until`")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the manifest."""
        return {"categories": list(self.categories), "labels": list(self.labels),
                "since": _iso(self.since), "until": _iso(self.until),
                "age_bands": list(self.age_bands), "recognized": self.recognized}


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.replace(tzinfo=UTC).isoformat()


def _to_naive_utc(dt: datetime, what: str = "time") -> datetime:
    try:
        return dt.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC: not a 500, a clear refusal
        raise ValueError(f"{what} is outside the years 1 to 9999 once converted to UTC") from None


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or date-time; naive means UTC. Raises ValueError with a clear message
    (which does not repeat the text: it may be anything a client sent)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not an ISO 8601 date or date-time (e.g. 2026-09-21 or "
                         "2026-09-21T14:00:00+09:00)") from None
    return _to_naive_utc(dt) if dt.tzinfo else dt
