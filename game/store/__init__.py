"""Game stores, chosen by URL: `memory://` (embedded default) or `redis://host:port/db`."""
from __future__ import annotations

from game.store.base import GameStore


def open_store(url: str | None, *, redis_max_connections: int = 2000) -> GameStore:
    """Create the store for `url` (None or `memory://`: in-process). Redis is imported lazily."""
    if url is None or url.startswith("memory://"):
        from game.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from game.store.redis import RedisStore

        return RedisStore.from_url(url, max_connections=redis_max_connections)
    raise ValueError(f"no game store for URL scheme of {url!r} (use memory:// or redis://)")


__all__ = ["GameStore", "open_store"]
