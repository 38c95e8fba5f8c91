"""Alembic environment for the results database.

The URL comes from `config.attributes["url"]` (set by `legacy_bridge.results.migrate`), or
`-x url=...` on the command line. An async connection can be handed over in
`config.attributes["connection"]` (then the migration runs on it, through `run_sync`).
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from legacy_bridge.results.tables import metadata

config = context.config


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("no database URL: pass -x url=... or use legacy_bridge.results.upgrade")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported")
run_migrations_online()
