"""`python -m server.export --out DIR [filters]`: export consented drawings (docs/privacy.md).

The database is `--database-url`, else `DATABASE_URL`, else the embedded SQLite under DATA_DIR.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tqdm import tqdm

from legacy_bridge.bridge import create_results_engine, default_database_url
from server.settings import Settings

from .filters import AGE_BANDS, ExportFilters, parse_time
from .writer import run_export


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m server.export",
                                description="Export consented drawings in Google's formats.")
    p.add_argument("--out", required=True, type=Path, help="new or empty output directory")
    p.add_argument("--database-url", help="results database (default: DATABASE_URL / SQLite)")
    p.add_argument("--category", action="append", default=[], help="category code (repeatable)")
    p.add_argument("--label", action="append", default=[], help="word, e.g. cat (repeatable)")
    p.add_argument("--since", type=parse_time, help="drawn at or after (ISO date/time, UTC)")
    p.add_argument("--until", type=parse_time, help="drawn before (ISO date/time, UTC)")
    p.add_argument("--age-band", action="append", default=[], choices=AGE_BANDS)
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--recognized", dest="recognized", action="store_const", const=True)
    rec.add_argument("--not-recognized", dest="recognized", action="store_const", const=False)
    p.add_argument("--countrycode", help="countrycode field (default: EXPORT_COUNTRYCODE)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


async def _main(args: argparse.Namespace) -> int:
    settings = Settings()
    url = args.database_url or settings.database_url or default_database_url(settings.data_dir)
    filters = ExportFilters(categories=tuple(args.category), labels=tuple(args.label),
                            since=args.since, until=args.until, age_bands=tuple(args.age_band),
                            recognized=args.recognized)
    engine = create_results_engine(url)
    bar = tqdm(unit="drawing", disable=args.no_progress, file=sys.stderr)

    def on_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        result = await run_export(engine=engine, out_dir=args.out, filters=filters,
                                  countrycode=args.countrycode or settings.export_countrycode,
                                  batch_size=args.batch_size, on_total=on_total,
                                  on_progress=bar.update)
    finally:
        bar.close()
        await engine.dispose()
    print(f"exported {result.drawings} drawings of {len(result.by_label)} words to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_main(args))
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
