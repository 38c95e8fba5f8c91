"""Opening and closing everything the server holds: store, recogniser, topics, results, loops."""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from game.bundled_topics import BundledTopics
from game.commands import GameFinished
from game.recorder import Recorder
from game.records import ResultSink
from game.rules import BandRules, GameRules, RecognitionRule, default_band_rules
from game.service import GameService
from game.store import GameStore, open_store
from game.timers import TimerLoop
from game.topics import TopicSource
from inference.api import Recognizer
from inference.gc_policy import settle_after_startup
from server.classroom import Classrooms
from server.gallery import ClassGallery, KeepForGallery
from server.roster import RosterFeed, RosterHub
from server.rounds import ClassRounds, RoundBook
from server.teachers import TeacherTokens
from server.access import Access, ClassRegistry, SessionTokens, session_secret
from server.metrics import METRICS, POOL_COLLECTOR
from server.settings import Settings
from server.ws import Services

log = logging.getLogger(__name__)


@dataclass
class Components:
    """Parts a test (or another deployment) may inject instead of the configured ones."""

    store: GameStore | None = None
    recognizer: Recognizer | None = None
    topics: TopicSource | None = None
    results: ResultSink | None = None


def rules_from(settings: Settings) -> GameRules:
    """The game rules the settings describe."""
    return GameRules(
        default_stage_count=settings.default_stage_count,
        default_time_limit_s=settings.default_time_limit_s,
        intermission_ms=settings.intermission_ms,
        resume_grace_ms=round(settings.resume_grace_s * 1000),
        late_stroke_window_ms=round(settings.late_stroke_window_s * 1000),
        recognition=RecognitionRule(
            top_k=settings.recognition_top_k,
            min_probability=settings.recognition_min_probability,
        ),
        max_points_per_stroke=settings.max_points_per_stroke,
        max_strokes_per_stage=settings.max_strokes_per_stage,
        max_points_per_stage=settings.max_points_per_stage,
        bands=band_rules_from(settings),
    )


def band_rules_from(settings: Settings) -> dict[str, BandRules]:
    """The measured per-band defaults with the settings' overrides applied field by field."""
    bands = default_band_rules()
    for band, o in settings.band_rules.items():
        d = bands[band]
        rule = RecognitionRule(top_k=o.top_k if o.top_k is not None else d.recognition.top_k,
                               min_probability=o.min_probability if o.min_probability is not None
                               else d.recognition.min_probability)
        bands[band] = BandRules(rule, time_scale=o.time_scale if o.time_scale is not None else d.time_scale,
                                max_stages=o.max_stages if o.max_stages is not None else d.max_stages)
    return bands


def lifespan_for(
    settings: Settings, injected: Components | None
) -> Callable[[FastAPI], Any]:
    """The app's lifespan: everything is opened here, nothing at import time."""
    injected = injected or Components()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            store = injected.store or open_store(
                settings.redis_url, redis_max_connections=settings.redis_max_connections
            )
            if injected.store is None:
                stack.push_async_callback(store.aclose)
            recognizer = injected.recognizer or await stack.enter_async_context(
                _open_recognizer(settings)
            )
            redis_client = getattr(store, "client", None)  # shared with the bridge when on Redis
            bundled = BundledTopics(settings.models_dir / "categories.json")
            topics = injected.topics
            if topics is None and settings.legacy_api_url:
                topics = await stack.enter_async_context(
                    _open_topics(settings, recognizer, bundled, redis_client)
                )
            topics = topics or bundled
            results = injected.results or await stack.enter_async_context(
                _open_results(settings, redis_client)
            )
            games = GameService(store, topics, rules_from(settings))
            if settings.session_secret is None and redis_client is not None:
                log.warning("SESSION_SECRET is unset: using a random key kept in Redis")
            access = Access(
                tokens=SessionTokens(await session_secret(settings.session_secret, redis_client)),
                classes=ClassRegistry(redis_client),
                classes_open=settings.classes_open,
                allowed_origins=settings.allowed_origins,
            )
            classrooms = Classrooms(redis_client)
            gallery = ClassGallery(redis_client)
            # A teacher's class keeps its finished games' drawings for its gallery: copied just
            # before they are recorded (then the game store lets their strokes go).
            recorder = Recorder(games, KeepForGallery(results, gallery, classrooms, store))

            def on_fired(game_id: str, state: Any, transition: Any, lateness_ms: int) -> None:
                METRICS.timer_lateness.observe(max(lateness_ms, 0) / 1000)
                on_local_transition(state, transition)

            def on_store_failure(failed: bool) -> None:
                if failed:
                    METRICS.store_failures.labels("timers").inc()
                    if not timers_in_outage[0]:
                        METRICS.store_outages.labels("timers").inc()
                timers_in_outage[0] = failed

            timers_in_outage = [False]
            timers = TimerLoop(games, poll_ms=settings.timer_poll_ms, on_fired=on_fired,
                               on_store_failure=on_store_failure)

            def on_local_transition(state: Any, transition: Any) -> None:
                timers.wake_for(state.next_deadline_ms())
                if transition is not None and any(
                    isinstance(e, GameFinished) for e in transition.effects
                ):
                    recorder.wake()

            app.state.services = Services(
                games=games,
                recognizer=recognizer,
                settings=settings,
                access=access,
                on_local_transition=on_local_transition,
            )
            app.state.recorder = recorder
            app.state.topics = topics
            app.state.results = results
            app.state.recognizer = recognizer
            POOL_COLLECTOR.pool = recognizer
            app.state.settings = settings
            app.state.access = access
            app.state.teacher_tokens = TeacherTokens(redis_client)
            app.state.classrooms = classrooms
            app.state.gallery = gallery
            app.state.roster_hub = RosterHub(redis_client)
            app.state.rounds = ClassRounds(games, classrooms, RoundBook(redis_client),
                                           app.state.roster_hub,
                                           on_local_transition=on_local_transition)
            app.state.services.rounds = app.state.rounds  # a new game joins a running round
            app.state.roster = RosterFeed(app.state.roster_hub, app.state.classrooms,
                                          interval_ms=settings.roster_interval_ms)
            games.observer = app.state.roster.observe
            app.state.timers = timers
            tasks = [
                asyncio.create_task(timers.run(), name="timers"),
                asyncio.create_task(recorder.run(), name="recorder"),
                asyncio.create_task(app.state.roster.run(), name="roster"),
            ]
            engine = getattr(results, "engine", None)
            if engine is not None:  # drawings without research consent past retention go
                from legacy_bridge.results.privacy import purge_loop

                async def purge_when_schema_ready() -> None:
                    # the drainer migrates the database when it first answers; purge after that
                    schema_ready = getattr(results, "schema_ready", None)
                    if schema_ready is not None:
                        await schema_ready()
                    await purge_loop(engine=engine, retention_days=settings.retention_days,
                                     interval_s=settings.purge_interval_s)

                tasks.append(asyncio.create_task(purge_when_schema_ready(), name="privacy-purge"))
            settle_after_startup()  # what start-up made lives as long as the process
            try:
                yield
            finally:
                await stop_tasks(tasks, timeout_s=TASK_STOP_TIMEOUT_S)
                # Record what finished while shutting down rather than leave it for later.
                with contextlib.suppress(Exception):
                    await recorder.run_once()

    return lifespan


# A background loop gets this long to unwind once cancelled; shutdown never waits forever on one.
TASK_STOP_TIMEOUT_S = 10.0


async def stop_tasks(tasks: list[asyncio.Task[Any]], *, timeout_s: float) -> None:
    """Cancel the background loops and wait for them, at most `timeout_s` in all.

    A loop that does not unwind in time (a Redis call stuck on a dead connection, say) is
    logged with its stack and left behind, so that the process still stops and what follows
    (recording the games that finished while stopping) still runs.
    """
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())
    for task in pending:
        where = io.StringIO()
        task.print_stack(file=where)
        log.error("background task %s did not stop within %.0f s; left behind at:\n%s",
                  task.get_name(), timeout_s, where.getvalue())


@asynccontextmanager
async def _open_recognizer(settings: Settings) -> AsyncIterator[Recognizer]:
    from inference.service import open_recognizer

    async with open_recognizer(
        settings.models_dir,
        workers=settings.inference_workers,
        max_batch_size=settings.inference_max_batch_size,
        max_wait_ms=settings.inference_max_wait_ms,
        max_queue=settings.inference_max_queue,
        worker_nice=settings.inference_worker_nice,
    ) as recognizer:
        yield recognizer


@asynccontextmanager
async def _open_results(settings: Settings, redis_client: Any) -> AsyncIterator[ResultSink]:
    from legacy_bridge import open_results

    async with open_results(
        settings.database_url, data_dir=settings.data_dir, redis=redis_client
    ) as sink:
        yield sink


@asynccontextmanager
async def _open_topics(
    settings: Settings, recognizer: Recognizer, fallback: TopicSource, redis_client: Any
) -> AsyncIterator[TopicSource]:
    from legacy_bridge import open_bridge

    assert settings.legacy_api_url is not None
    from legacy_bridge.playable import is_catalogue

    # The worker pool is a label catalogue: it says which of the school's topics it can
    # recognise and its label masks follow every sync. A recogniser that only knows fixed
    # categories (a test's stand-in) is asked per category code instead.
    known = recognizer if is_catalogue(recognizer) else recognizer.known_labels
    async with open_bridge(
        settings.legacy_api_url,
        settings.legacy_api_key,
        known_labels=known,
        data_dir=settings.data_dir,
        redis=redis_client,
        refresh_interval_s=settings.legacy_refresh_s,
        fallback=fallback,
    ) as source:
        yield source
