"""Researchers' export endpoint (bearer `RESEARCH_TOKEN`).

Include with `app.include_router(export.router)`.
`GET /research/export?category=&label=&since=&until=&age_band=&recognized=` streams a tar of a
fresh export (docs/privacy.md): Google's raw and simplified ndjson, numpy_bitmap .npy per word,
our extra fields by key_id, and manifest.json (first member). The export is built in a temporary
directory (memory stays flat), streamed, and the directory is removed afterwards.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from server.auth import get_settings, require_research_token
from server.export import ExportFilters, iter_tar, parse_time, run_export
from server.routes.consent import get_results_engine
from server.settings import Settings

router = APIRouter(prefix="/research", tags=["research"],
                   dependencies=[Depends(require_research_token)])


# Every bad query value is a 400 that names the parameter and says why (docs/privacy.md).
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as e:
        raise HTTPException(400, f"{name}: {e}") from None


def _flag(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise HTTPException(400, f"{name}: must be true or false")


@router.get("/export")
async def export_tar(
    category: list[str] = Query(default=[]),
    label: list[str] = Query(default=[]),
    since: str | None = None,
    until: str | None = None,
    age_band: list[str] = Query(default=[]),
    recognized: str | None = Query(None, description="true or false"),
    engine: AsyncEngine = Depends(get_results_engine),
    settings: Settings = Depends(get_settings),
) -> StreamingResponse:
    """A tar of the consented drawings matching the filters (consent checked at export time)."""
    try:
        filters = ExportFilters(categories=tuple(category), labels=tuple(label),
                                since=_time(since, "since"), until=_time(until, "until"),
                                age_bands=tuple(age_band),
                                recognized=_flag(recognized, "recognized"))
    except ValueError as e:
        raise HTTPException(400, str(e)) from None
    tmp = Path(tempfile.mkdtemp(prefix="dq-export-"))
    try:
        await run_export(engine=engine, out_dir=tmp / "export", filters=filters,
                         countrycode=settings.export_countrycode)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    name = f"doodlequest-export-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"

    def body() -> Iterator[bytes]:
        try:
            yield from iter_tar(tmp / "export", prefix=name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return StreamingResponse(body(), media_type="application/x-tar",
                             headers={"Content-Disposition": f'attachment; filename="{name}.tar"'})
