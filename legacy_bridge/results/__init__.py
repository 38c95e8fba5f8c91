"""Finished games into the results database (MariaDB, or SQLite on embedded defaults).

`ResultsSink.record(game)` keeps the game in a local outbox (a Redis stream, or an SQLite file)
and returns; a drainer task moves games into the database in order, each exactly once
(`games.game_id` is unique), and catches up by itself after a database outage.
"""
from .migrate import upgrade, upgrade_async
from .outbox import Outbox, RedisOutbox, SqliteOutbox
from .sink import ResultsSink

__all__ = ["Outbox", "RedisOutbox", "ResultsSink", "SqliteOutbox", "upgrade", "upgrade_async"]
