"""Bring a results database to the newest schema (Alembic `upgrade head`)."""
from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    from alembic.config import Config  # imported late: alembic is slow to import

    cfg = Config(str(Path(__file__).with_name("alembic.ini")))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def sync_url(url: str) -> str:
    """The synchronous twin of an async URL (aiomysql -> pymysql, aiosqlite -> sqlite)."""
    u = make_url(url)
    driver = {"mysql+aiomysql": "mysql+pymysql", "mariadb+aiomysql": "mysql+pymysql",
              "sqlite+aiosqlite": "sqlite"}.get(u.drivername, u.drivername)
    return u.set(drivername=driver).render_as_string(hide_password=False)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` (async or sync URL) to `revision`. Blocking."""
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["url"] = with_utf8mb4(sync_url(url))
    command.upgrade(cfg, revision)


async def upgrade_async(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate through an existing async engine (same driver, no second connection pool)."""

    from alembic import command

    def run(connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


def with_utf8mb4(url: str) -> str:
    """MySQL/MariaDB URLs get `charset=utf8mb4` unless they name a charset (Korean names)."""
    u = make_url(url)
    if u.get_backend_name() in ("mysql", "mariadb") and "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    return u.render_as_string(hide_password=False)
