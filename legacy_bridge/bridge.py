"""The server's single entry: `open_bridge(...)` (topics) and `open_results(...)` (results sink),
async context managers taking plain arguments."""
from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from game.topics import TopicSource

from .breaker import CircuitBreaker
from .client import TopicsClient
from .results.migrate import with_utf8mb4
from .results.outbox import Outbox, RedisOutbox, SqliteOutbox
from .results.scrub import secure_delete_on_connect
from .results.sink import ResultsSink
from .retry import RetryPolicy
from .source import KnownLabels, SpringTopicSource
from .store import FileSnapshotStore, RedisSnapshotStore, SnapshotStore

DEFAULT_TOPICS_KEY = "doodle:bridge:topics:last_good"
DEFAULT_OUTBOX_STREAM = "doodle:results:outbox"


def topic_store(*, data_dir: str | os.PathLike[str], redis: Any | None = None,
                redis_key: str = DEFAULT_TOPICS_KEY) -> SnapshotStore:
    """Redis when a client is given, else `<data_dir>/topics-last-good.json`."""
    if redis is not None:
        return RedisSnapshotStore(redis, redis_key)
    return FileSnapshotStore(Path(data_dir) / "topics-last-good.json")


@contextlib.asynccontextmanager
async def open_bridge(
    base_url: str,
    api_key: str,
    *,
    known_labels: KnownLabels,
    data_dir: str | os.PathLike[str] = "var",
    redis: Any | None = None,
    redis_key: str = DEFAULT_TOPICS_KEY,
    refresh_interval_s: float = 300.0,
    retry_after_failure_s: float = 30.0,
    stale_after_s: float | None = None,
    connect_timeout_s: float = 3.0,
    read_timeout_s: float = 10.0,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    fallback: TopicSource | None = None,
    schedule: bool = True,
) -> AsyncIterator[SpringTopicSource]:
    """A running `SpringTopicSource`: the stored last good set loaded, refreshes scheduled.

    `known_labels` is the recogniser as a `LabelCatalogue` (the worker pool: it checks each
    category's topics and its label masks follow the served set), or `known_labels(category_code)
    -> frozenset[str]`, or one set of all labels; `redis` is a `redis.asyncio.Redis` or None (then a JSON file in `data_dir`).
    """
    client = TopicsClient(base_url, api_key, connect_timeout_s=connect_timeout_s,
                          read_timeout_s=read_timeout_s, retry=retry, breaker=breaker)
    source = SpringTopicSource(client, topic_store(data_dir=data_dir, redis=redis,
                                                   redis_key=redis_key),
                               known_labels, refresh_interval_s=refresh_interval_s,
                               retry_after_failure_s=retry_after_failure_s,
                               stale_after_s=stale_after_s, fallback=fallback)
    try:
        if schedule:
            await source.start()
        else:
            await source.load_stored()
        yield source
    finally:
        await source.stop()
        await client.aclose()


def default_database_url(data_dir: str | os.PathLike[str]) -> str:
    return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'results.sqlite3'}"


def create_results_engine(database_url: str) -> AsyncEngine:
    """An async engine for MariaDB (`mysql+aiomysql://`, utf8mb4) or SQLite (`sqlite+aiosqlite`)."""
    url = with_utf8mb4(database_url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        secure_delete_on_connect(engine)  # deleted children's rows leave no bytes behind
        return engine
    # pre_ping: connections from before a MariaDB restart are replaced, not failed on.
    return create_async_engine(url, pool_pre_ping=True, pool_recycle=3600,
                               connect_args={"connect_timeout": 5})


def results_outbox(*, data_dir: str | os.PathLike[str], redis: Any | None = None,
                   stream_key: str = DEFAULT_OUTBOX_STREAM) -> Outbox:
    """A Redis stream when a client is given, else `<data_dir>/results-outbox.sqlite3`."""
    if redis is not None:
        return RedisOutbox(redis, stream_key)
    return SqliteOutbox(Path(data_dir) / "results-outbox.sqlite3")


@contextlib.asynccontextmanager
async def open_results(
    database_url: str | None = None,
    *,
    data_dir: str | os.PathLike[str] = "var",
    redis: Any | None = None,
    stream_key: str = DEFAULT_OUTBOX_STREAM,
    migrate: bool = True,
    retry: RetryPolicy | None = None,
    idle_poll_s: float = 5.0,
) -> AsyncIterator[ResultsSink]:
    """A running `ResultsSink` (its drainer started). `database_url` None: SQLite in data_dir.

    Starting never waits for the database: migrations run in the drainer, retried until the
    database answers, and games recorded meanwhile wait in the outbox.
    """
    engine = create_results_engine(database_url or default_database_url(data_dir))
    outbox = results_outbox(data_dir=data_dir, redis=redis, stream_key=stream_key)
    # With Redis as the outbox, a local SQLite file still catches games while Redis is away.
    fallback = results_outbox(data_dir=data_dir) if redis is not None else None
    sink = ResultsSink(outbox, engine, fallback_outbox=fallback, migrate=migrate, retry=retry,
                       idle_poll_s=idle_poll_s)
    try:
        await sink.start()
        yield sink
    finally:
        await sink.stop()
        await outbox.close()
        if fallback is not None:
            await fallback.close()
        await engine.dispose()
