"""Results databases for the privacy and export tests: one uniquely named MariaDB database for
the session on the shared server (dropped at the end, emptied before each test) and a fresh
SQLite file per test. Both migrated with the project's Alembic migrations."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from legacy_bridge.bridge import create_results_engine
from legacy_bridge.results.migrate import upgrade
from legacy_bridge.results.privacy_tables import deletion_log, erasure_markers, research_consents
from legacy_bridge.results.tables import (
    drawing_strokes,
    drawings,
    games,
    players,
    stage_guesses,
    stages,
)
from tests.utils.mariadb import scratch_database

CHILD_FIRST = (drawing_strokes, drawings, stage_guesses, stages, games, players,
               research_consents, deletion_log, erasure_markers)


@pytest.fixture(scope="session")
def mariadb_session_url() -> Iterator[str]:
    with scratch_database("dq_privacy") as url:
        upgrade(url)
        yield url


@pytest.fixture(params=["mariadb", "sqlite"])
async def results_engine(request, tmp_path) -> AsyncIterator[AsyncEngine]:
    if request.param == "mariadb":
        url = request.getfixturevalue("mariadb_session_url")
        engine = create_results_engine(url)
        async with engine.begin() as conn:
            for t in CHILD_FIRST:
                await conn.execute(t.delete())
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'results.sqlite3'}"
        await asyncio.to_thread(upgrade, url)
        engine = create_results_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def rows_mentioning(engine: AsyncEngine, needle: str) -> dict[str, int]:
    """Rows of every table in the database whose any column's text contains `needle`."""
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        for name in names:
            table = await conn.run_sync(lambda c, n=name: sa.Table(n, sa.MetaData(),
                                                                   autoload_with=c))
            cond = sa.or_(*[sa.cast(c, sa.Text).contains(needle) for c in table.columns])
            n = (await conn.execute(sa.select(sa.func.count()).select_from(table)
                                    .where(cond))).scalar_one()
            if n:
                out[name] = int(n)
    return out
