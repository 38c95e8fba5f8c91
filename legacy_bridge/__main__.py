"""Command line: `python -m legacy_bridge sync` (fetch topics now and store them as the last good
set) and `python -m legacy_bridge migrate` (bring the results database to the newest schema).

Settings come from the environment (or options): LEGACY_API_URL, LEGACY_API_KEY, DATA_DIR
(default `var`), REDIS_URL (optional: store in Redis), DATABASE_URL (migrate).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from typing import Any


class _EveryLabel:
    """Accept every label: the stored set is never filtered; the server filters when serving."""

    def __contains__(self, label: object) -> bool:
        return True


def _load_known_labels(spec: str | None) -> Any:
    if not spec:
        return _EveryLabel()
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


async def _sync(args: argparse.Namespace) -> int:
    from .bridge import open_bridge

    if not args.url:
        print("sync: no Spring URL: set LEGACY_API_URL or pass --url", file=sys.stderr)
        return 2
    redis = None
    if args.redis_url:
        import redis.asyncio as aioredis
        redis = aioredis.Redis.from_url(args.redis_url)
    try:
        async with open_bridge(args.url, args.api_key or "",
                               known_labels=_load_known_labels(args.known_labels),
                               data_dir=args.data_dir, redis=redis, schedule=False) as source:
            result = await source.refresh()
            print(json.dumps({"result": result.as_dict(), "status": source.status()},
                             ensure_ascii=False, indent=2))
            return 0 if result.ok else 1
    finally:
        if redis is not None:
            await redis.aclose()


def _migrate(args: argparse.Namespace) -> int:
    from .bridge import default_database_url
    from .results.migrate import upgrade

    url = args.database_url or default_database_url(args.data_dir)
    upgrade(url)
    print(f"migrate: {url.split('@')[-1]} is at the newest schema")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m legacy_bridge")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "var"))
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="fetch topics from the Spring service now")
    sync.add_argument("--url", default=os.environ.get("LEGACY_API_URL"))
    sync.add_argument("--api-key", default=os.environ.get("LEGACY_API_KEY"))
    sync.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    sync.add_argument("--known-labels", default=None,
                      help="module:callable giving known labels per category (report only)")
    mig = sub.add_parser("migrate", help="migrate the results database (Alembic upgrade head)")
    mig.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    if args.command == "sync":
        return asyncio.run(_sync(args))
    return _migrate(args)


if __name__ == "__main__":
    sys.exit(main())
