"""`SpringTopicSource`: a `game.topics.TopicSource` fed by the Spring service.

It refreshes on a schedule and on demand, keeps the last good set (Redis or a file) and serves it
while the service is away, and never offers a child a topic no model can recognise. A category's
labels are its topics, whatever the category is called: the recogniser (a `LabelCatalogue`)
says which it can recognise and is told the served set after every install, so its label masks
follow the school's categories. Which topics are played, and why not the others, is reported per
category (`legacy_bridge.playable`).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from game.topics import Category, Topic, TopicSource

from . import metrics
from .client import TopicsClient
from .errors import BridgeError, CategoryNotFound
from .playable import (CategoryReport, KnownLabels, inactive_category, is_catalogue, judge,
                       verdicts)
from .store import Snapshot, SnapshotStore

log = structlog.get_logger("legacy_bridge.source")

__all__ = ["KnownLabels", "RefreshResult", "SpringTopicSource"]


@dataclass(slots=True)
class RefreshResult:
    """What one refresh did."""

    ok: bool
    changed: bool = False
    categories: int = 0
    topics: int = 0
    skipped: list[str] = field(default_factory=list)  # "category/label" no model recognises
    dropped: list[str] = field(default_factory=list)  # categories with too few playable topics
    report: list[dict[str, Any]] = field(default_factory=list)  # per category, in words
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "changed": self.changed, "categories": self.categories,
                "topics": self.topics, "skipped": self.skipped, "dropped": self.dropped,
                "report": self.report, "error": self.error}


class SpringTopicSource(TopicSource):
    """Categories from the Spring service, checked against the model registry.

    Args:
        client: the HTTP client for the service.
        store: where the last good set survives restarts.
        known_labels: the recogniser as a `inference.api.LabelCatalogue` (it checks each
            category's topics and follows the served set), or `known_labels(category_code) ->
            frozenset[str]`, or one set of every known label.
        refresh_interval_s: time between scheduled refreshes.
        retry_after_failure_s: time before the next scheduled refresh after a failed one.
        stale_after_s: the served set is "stale" once older than this (default 3 intervals).
        fallback: served when the service never answered and nothing was stored (e.g. the
            bundled topics); without it an empty list is served then.
        initial_wait_s: how long a first `categories()` call waits for the very first refresh
            when nothing is stored (then the fallback is served and the refresh goes on).
        wall_clock: Unix time in seconds (ages are measured against it).
    """

    def __init__(
        self,
        client: TopicsClient,
        store: SnapshotStore,
        known_labels: KnownLabels,
        *,
        refresh_interval_s: float = 300.0,
        retry_after_failure_s: float = 30.0,
        stale_after_s: float | None = None,
        fallback: TopicSource | None = None,
        initial_wait_s: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self._known = known_labels
        self.refresh_interval_s = refresh_interval_s
        self.retry_after_failure_s = min(retry_after_failure_s, refresh_interval_s)
        self.stale_after_s = stale_after_s if stale_after_s is not None else 3 * refresh_interval_s
        self.fallback = fallback
        self.initial_wait_s = initial_wait_s
        self._wall = wall_clock
        self._snapshot: Snapshot | None = None
        self._served: list[Category] | None = None
        self._skipped: list[str] = []
        self._dropped: list[str] = []
        self._report: list[CategoryReport] = []
        # What the service switched off, as last fetched (not stored: only reported).
        self._inactive_topics: dict[str, list[Topic]] = {}
        self._inactive_categories: list[CategoryReport] = []
        self._loaded = False
        self._lock = asyncio.Lock()
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_result: RefreshResult | None = None
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[RefreshResult] | None = None
        self._stop = asyncio.Event()
        self._kick = asyncio.Event()
        # NaN until a set exists (an age of 0 would look fresh).
        metrics.TOPICS_AGE.set_function(
            lambda: float("nan") if (age := self.age_s()) is None else age)

    # --- TopicSource

    async def categories(self) -> list[Category]:
        """Every active category with its active, recognisable topics (the last good set)."""
        if self._served is None:
            await self.load_stored()
        if self._served is None and self._last_result is None:
            # Only once, and bounded: later tries are the schedule's job.
            try:
                await asyncio.wait_for(self._initial_refresh(), self.initial_wait_s)
            except TimeoutError:
                log.warning("topics_initial_refresh_slow", waited_s=self.initial_wait_s)
        if self._served is None:
            return await self.fallback.categories() if self.fallback is not None else []
        return list(self._served)

    # --- refreshing

    async def load_stored(self) -> None:
        """Load the last good set kept by an earlier run (once)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            snapshot = await self.store.load()
        except Exception as e:  # a broken store must not stop serving
            log.warning("topics_store_load_failed", error=repr(e))
            return
        if snapshot is not None and self._snapshot is None:
            self._install(snapshot)
            log.info("topics_loaded_from_store", categories=len(snapshot.categories),
                     age_s=round(self.age_s() or 0, 1))

    async def _initial_refresh(self) -> RefreshResult:
        """The first refresh, shared by the schedule and early `categories()` callers."""
        if self._first is None:
            self._first = asyncio.ensure_future(self.refresh())
        return await asyncio.shield(self._first)

    async def refresh(self) -> RefreshResult:
        """Fetch everything from the service now. Never raises: failures keep the old set."""
        async with self._lock:
            try:
                result = await self._refresh()
            except BridgeError as e:
                result = self._failed(e)
            except Exception as e:  # noqa: BLE001 - a bug must not stop the schedule either
                log.exception("topics_refresh_crashed")
                result = self._failed(e)
            self._last_result = result
            metrics.BREAKER_OPEN.set(0 if self.client.breaker_state() == "closed" else 1)
            return result

    def _failed(self, e: BaseException) -> RefreshResult:
        self._last_error = f"{type(e).__name__}: {e}"
        self._last_error_at = self._wall()
        metrics.TOPIC_REFRESHES.labels("failed").inc()
        log.warning("topics_refresh_failed", error=self._last_error,
                    serving=("stored" if self._served is not None else "nothing"),
                    age_s=self.age_s())
        return RefreshResult(ok=False, error=self._last_error)

    async def _refresh(self) -> RefreshResult:
        fetched = await self.client.categories()
        changed = fetched.changed
        cats: list[Category] = []
        inactive_topics: dict[str, list[Topic]] = {}
        inactive_categories: list[CategoryReport] = []
        for item in sorted(fetched.items, key=lambda c: (c.sort_order, c.category_id)):
            if not item.active:
                inactive_categories.append(inactive_category(item.code, item.name, item.name_en))
                continue
            try:
                topics = await self.client.topics(item.category_id)
            except CategoryNotFound:
                log.info("category_vanished", category=item.code, category_id=item.category_id)
                changed = True
                continue
            changed = changed or topics.changed
            seen: set[str] = set()
            kept: list[Topic] = []
            for t in topics.items:
                if not t.active:
                    inactive_topics.setdefault(item.code, []).append(
                        Topic(label=t.label, name_ko=t.display_name, name_en=t.display_name_en))
                    continue
                if t.label in seen:
                    continue
                seen.add(t.label)
                kept.append(Topic(label=t.label, name_ko=t.display_name,
                                  name_en=t.display_name_en, time_limit_s=t.time_limit_s))
            extra = {"category_id": str(item.category_id)}
            if item.updated_at:
                extra["updated_at"] = item.updated_at
            cats.append(Category(code=item.code, name_ko=item.name, name_en=item.name_en,
                                 topics=tuple(kept), stage_count=item.stage_count,
                                 age_min=item.age_min, age_max=item.age_max,
                                 sort_order=item.sort_order, extra=extra))
        snapshot = Snapshot(categories=tuple(cats), fetched_at_s=self._wall())
        try:  # kept before it is served, so "fresh" means "also survives a restart"
            await self.store.save(snapshot)
        except Exception as e:  # noqa: BLE001 - serving goes on from memory
            log.warning("topics_store_save_failed", error=repr(e))
        self._inactive_topics, self._inactive_categories = inactive_topics, inactive_categories
        skipped = self._install(snapshot)
        self._loaded = True
        self._last_error = None
        metrics.TOPIC_REFRESHES.labels("changed" if changed else "unchanged").inc()
        metrics.TOPICS_LAST_SUCCESS.set(snapshot.fetched_at_s)
        served = self._served or []
        log.info("topics_refreshed", changed=changed, categories=len(served),
                 topics=sum(len(c.topics) for c in served), skipped=len(skipped),
                 dropped=len(self._dropped))
        return RefreshResult(ok=True, changed=changed, categories=len(served),
                             topics=sum(len(c.topics) for c in served), skipped=skipped,
                             dropped=list(self._dropped), report=self.report())

    def _verdicts(self, cat: Category) -> dict[str, str | None]:
        try:
            return verdicts(self._known, cat)
        except Exception as e:  # noqa: BLE001 - a broken registry must not take the topics down
            log.exception("known_labels_failed", category=cat.code)
            why = f"the drawing models could not be asked ({type(e).__name__}: {e})"
            return {label: why for label in cat.labels}

    def _follow(self, served: list[Category]) -> None:
        """Tell the recogniser the served categories: its label masks become exactly these."""
        if not is_catalogue(self._known):
            return
        try:
            self._known.assign_categories({c.code: c.labels for c in served})
        except Exception:  # noqa: BLE001 - serving goes on; recognition refuses what it lacks
            log.exception("assign_categories_failed", categories=len(served))

    def _install(self, snapshot: Snapshot) -> list[str]:
        """Serve `snapshot`, leaving out what no model recognises and categories with too few
        playable topics; returns the topics left out ("category/label")."""
        served: list[Category] = []
        skipped: list[str] = []
        dropped: list[str] = []
        reports: list[CategoryReport] = []
        for cat in snapshot.categories:
            found = self._verdicts(cat)
            kept, report = judge(cat, found, self._inactive_topics.get(cat.code, ()))
            reports.append(report)
            for t in cat.topics:
                if found.get(t.label) is not None:
                    skipped.append(f"{cat.code}/{t.label}")
                    metrics.TOPICS_SKIPPED.labels(cat.code, "unknown_label").inc()
                    log.warning("topic_skipped_unknown_label", category=cat.code, label=t.label,
                                name_ko=t.name_ko, reason=found[t.label])
            if kept is None:
                dropped.append(cat.code)
                metrics.TOPICS_SKIPPED.labels(cat.code, "too_few_playable_topics").inc()
                log.warning("category_skipped_too_few_playable_topics", category=cat.code,
                            playable=[t.label for t in report.playable], reason=report.reason)
                continue
            served.append(kept)
        self._follow(served)
        self._snapshot = snapshot
        self._served = served
        self._skipped = skipped
        self._dropped = dropped
        self._report = reports
        metrics.CATEGORIES_SERVED.set(len(served))
        metrics.TOPICS_SERVED.set(sum(len(c.topics) for c in served))
        metrics.TOPICS_UNPLAYABLE.set(len(skipped))
        return skipped

    def report(self) -> list[dict[str, Any]]:
        """Per category of the school (active ones in order, then those switched off): played or
        not and why, its playable topics and the others with the reason, in words."""
        return [r.as_dict() for r in self._report + self._inactive_categories]

    # --- schedule

    async def start(self) -> None:
        """Load the stored set, then refresh in the background every `refresh_interval_s`."""
        await self.load_stored()
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="topics-refresh")

    async def stop(self) -> None:
        self._stop.set()
        if self._first is not None and not self._first.done():
            self._first.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def kick(self) -> None:
        """Ask the background task to refresh now (without waiting for it)."""
        self._kick.set()

    async def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            result = await (self._initial_refresh() if first else self.refresh())
            first = False
            wait_s = self.refresh_interval_s if result.ok else self.retry_after_failure_s
            self._kick.clear()
            stop = asyncio.create_task(self._stop.wait())
            kick = asyncio.create_task(self._kick.wait())
            try:
                await asyncio.wait({stop, kick}, timeout=wait_s,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                kick.cancel()

    # --- health

    def age_s(self) -> float | None:
        """Seconds since the served set was fetched (None when there is none)."""
        if self._snapshot is None:
            return None
        return max(0.0, self._wall() - self._snapshot.fetched_at_s)

    def status(self) -> dict[str, Any]:
        """For /healthz: freshness, age, last error, breaker state, what is served."""
        age = self.age_s()
        state = "empty" if age is None else ("fresh" if age <= self.stale_after_s else "stale")
        snap = self._snapshot
        return {
            "state": state,
            "age_s": None if age is None else round(age, 1),
            "fetched_at": None if snap is None else _iso(snap.fetched_at_s),
            "last_error": self._last_error,
            "last_error_at": None if self._last_error_at is None else _iso(self._last_error_at),
            "breaker": str(self.client.breaker_state()),
            "categories": len(self._served or []),
            "topics": sum(len(c.topics) for c in self._served or []),
            "skipped": list(self._skipped),
            "dropped": list(self._dropped),
            "report": self.report(),
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
