"""Reading consented drawings from the results database in label- and id-ordered batches.

Only drawings whose game is covered by an active research consent *at export time* are read
(`legacy_bridge.results.privacy.covered_by`, the purge's rule, joined here to get the policy
version).
Memory stays flat: one batch of drawings at a time, keyset-paginated on (label, stage id).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import json

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from legacy_bridge.results.privacy import covered_by
from legacy_bridge.results.privacy_tables import research_consents
from legacy_bridge.results.tables import drawing_strokes, drawings, games, stage_guesses, stages

from .filters import ExportFilters


@dataclass(slots=True)
class DrawingRow:
    """One consented drawing with what the export writes about it (internal ids stay here)."""

    stage_id: int
    player_id: str
    label: str
    category: str
    age_band: str | None
    started_at: datetime
    recognized: bool
    outcome: str
    time_limit_s: float
    time_to_recognize_ms: int | None
    stage_index: int
    final_guesses: Any
    canvas_width: int | None
    canvas_height: int | None
    policy_version: str
    strokes: list[np.ndarray]  # (n, 3) float64 [x, y, t_ms] per stroke, t since stage start
    guesses: list[dict[str, Any]]  # [{"t_ms": int, "guesses": [[label, p], ...]}, ...]


def _consent_join() -> tuple[Any, Any]:
    rc = research_consents
    return rc, covered_by(rc, games.c.started_at)  # the purge's rule, the same function


def _where(filters: ExportFilters) -> list[Any]:
    cond: list[Any] = [drawings.c.point_count > 0]
    if filters.categories:
        cond.append(games.c.category.in_(filters.categories))
    if filters.labels:
        cond.append(stages.c.label.in_(filters.labels))
    if filters.since is not None:
        cond.append(stages.c.started_at >= filters.since)
    if filters.until is not None:
        cond.append(stages.c.started_at < filters.until)
    if filters.age_bands:
        cond.append(games.c.age_band.in_(filters.age_bands))
    if filters.recognized is not None:
        cond.append(stages.c.recognized.is_(filters.recognized))
    return cond


def _from() -> Any:
    rc, on = _consent_join()
    return (stages.join(games, games.c.game_id == stages.c.game_id)
            .join(drawings, drawings.c.stage_id == stages.c.id)
            .join(rc, on))


def parse_points(text: str | bytes) -> np.ndarray:
    """A stored stroke (JSON `[[x, y, t], ...]`) as an (n, 3) float64 array, parsed without
    making a Python object per number (a batch of real drawings is ~100k points)."""
    if isinstance(text, bytes):
        text = text.decode()
    flat = np.fromstring(text.replace("[", " ").replace("]", " "), sep=",")  # noqa: NPY201
    if flat.size % 3 == 0 and (flat.size or text.strip() == "[]"):
        return flat.reshape(-1, 3)
    return np.asarray(json.loads(text), dtype=np.float64).reshape(-1, 3)  # unusual spacing


async def count_by_label(*, engine: AsyncEngine, filters: ExportFilters) -> dict[str, int]:
    """How many drawings each label will have (for progress bars; the writer counts again)."""
    stmt = (sa.select(stages.c.label, sa.func.count()).select_from(_from())
            .where(*_where(filters)).group_by(stages.c.label))
    async with engine.connect() as conn:
        return {label: int(n) for label, n in (await conn.execute(stmt)).all()}


async def iter_batches(*, engine: AsyncEngine, filters: ExportFilters,
                       batch_size: int = 500) -> AsyncIterator[list[DrawingRow]]:
    """Consented drawings matching `filters`, ordered by (label, stage id), `batch_size` at once.

    Each batch is read on a fresh connection (no long-lived transaction or server cursor), so a
    consent withdrawn during a long export stops the player's later batches from being read.
    """
    rc = research_consents
    cols = (stages.c.id, games.c.player_id, stages.c.label, games.c.category, games.c.age_band,
            stages.c.started_at, stages.c.recognized, stages.c.outcome, stages.c.time_limit_s,
            stages.c.time_to_recognize_ms, stages.c.stage_index, stages.c.final_guesses,
            drawings.c.canvas_width, drawings.c.canvas_height, rc.c.policy_version)
    last: tuple[str, int] | None = None
    while True:
        cond = _where(filters)
        if last is not None:
            cond.append(sa.or_(stages.c.label > last[0],
                               sa.and_(stages.c.label == last[0], stages.c.id > last[1])))
        stmt = (sa.select(*cols).select_from(_from()).where(*cond)
                .order_by(stages.c.label, stages.c.id).limit(batch_size))
        async with engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return
            ids = [r[0] for r in rows]
            strokes: dict[int, list[Any]] = {i: [] for i in ids}
            for sid, points in (await conn.execute(
                    sa.select(drawing_strokes.c.stage_id,
                              sa.type_coerce(drawing_strokes.c.points, sa.Text))
                    .where(drawing_strokes.c.stage_id.in_(ids))
                    .order_by(drawing_strokes.c.stage_id, drawing_strokes.c.stroke_index))).all():
                strokes[sid].append(parse_points(points))
            guesses: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
            for sid, snap, t_ms, label, p in (await conn.execute(
                    sa.select(stage_guesses.c.stage_id, stage_guesses.c.snapshot_index,
                              stage_guesses.c.t_ms, stage_guesses.c.label,
                              stage_guesses.c.probability)
                    .where(stage_guesses.c.stage_id.in_(ids))
                    .order_by(stage_guesses.c.stage_id, stage_guesses.c.snapshot_index,
                              stage_guesses.c.guess_rank))).all():
                g = guesses[sid]
                if len(g) <= snap:
                    g.append({"t_ms": int(t_ms), "guesses": []})
                g[-1]["guesses"].append([label, round(float(p), 6)])
        yield [DrawingRow(
            stage_id=r[0], player_id=r[1], label=r[2], category=r[3], age_band=r[4],
            started_at=r[5], recognized=bool(r[6]), outcome=r[7], time_limit_s=float(r[8]),
            time_to_recognize_ms=r[9], stage_index=int(r[10]), final_guesses=r[11],
            canvas_width=r[12], canvas_height=r[13], policy_version=r[14],
            strokes=strokes[r[0]], guesses=guesses[r[0]]) for r in rows]
        last = (rows[-1][2], rows[-1][0])
        if len(rows) < batch_size:
            return
