"""Command line: `python -m legacy_bridge sync` (fetch topics now, store them as the last good
set, and say per category which topics can be played and why not the others) and
`python -m legacy_bridge migrate` (bring the results database to the newest schema).

Settings come from the environment (or options): LEGACY_API_URL, LEGACY_API_KEY, DATA_DIR
(default `var`), REDIS_URL (optional: store in Redis), MODELS_DIR (the shipped models the topics
are checked against; default the repository's `models/`), DATABASE_URL (migrate).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class _EveryLabel:
    """Accept every label: the stored set is never filtered; the server filters when serving."""

    def __contains__(self, label: object) -> bool:
        return True


def _load_known_labels(spec: str | None, models_dir: str) -> Any:
    """What topics are checked against: a `module:callable`, else the shipped models' registry
    (the same check the server makes), else (no models readable) nothing is checked."""
    if spec:
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)
    from inference.errors import ModelLoadError
    from inference.registry import ModelRegistry

    try:
        return ModelRegistry.load(Path(models_dir))
    except ModelLoadError as e:
        print(f"sync: topics are not checked against the drawing models ({e})", file=sys.stderr)
        return _EveryLabel()


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
                               known_labels=_load_known_labels(args.known_labels,
                                                               args.models_dir),
                               data_dir=args.data_dir, redis=redis, schedule=False) as source:
            result = await source.refresh()
            if args.json:
                print(json.dumps({"result": result.as_dict(), "status": source.status()},
                                 ensure_ascii=False, indent=2))
            else:
                print(_summary(result, source.status()))
            return 0 if result.ok else 1
    finally:
        if redis is not None:
            await redis.aclose()


def _summary(result: Any, status: dict[str, Any]) -> str:
    """What a teacher reads after a sync: did it work, and per category what can be played."""
    from .playable import as_text

    if not result.ok:
        served = (f"still serving the last good set ({status['categories']} categories, "
                  f"{status['topics']} topics)" if status["state"] != "empty"
                  else "nothing stored to serve")
        return f"sync failed: {result.error}\n{served}"
    lines = [f"sync ok: {result.categories} categories and {result.topics} topics can be played"
             + ("" if result.changed else " (unchanged)")]
    if result.skipped or result.dropped:
        topics, cats = len(result.skipped), len(result.dropped)
        lines.append(f"{topics} topic{'s' * (topics != 1)} cannot be played; "
                     f"{cats} categor{'ies' if cats != 1 else 'y'} not played (see below)")
    report = as_text(result.report)
    return "\n".join(lines + ([report] if report else []))


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
    sync.add_argument("--models-dir", default=os.environ.get("MODELS_DIR", str(DEFAULT_MODELS_DIR)),
                      help="the shipped models topics are checked against (report only: the "
                      "stored set is never filtered)")
    sync.add_argument("--known-labels", default=None,
                      help="module:callable giving known labels per category, instead of "
                      "--models-dir (report only)")
    sync.add_argument("--json", action="store_true", help="print the result and status as JSON")
    mig = sub.add_parser("migrate", help="migrate the results database (Alembic upgrade head)")
    mig.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    if args.command == "sync":
        return asyncio.run(_sync(args))
    return _migrate(args)


if __name__ == "__main__":
    sys.exit(main())
