"""The retention purge deletes the drawings no consent covers once past `retention_days`, and
nothing else; the loop runs it on schedule and survives a failing run."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from legacy_bridge.results import privacy, repo
from legacy_bridge.results.tables import drawings, games, stages

from .helpers import T0_MS, make_game

DAY_MS = 86_400_000
NOW = datetime.fromtimestamp(T0_MS / 1000, UTC).replace(tzinfo=None) + timedelta(days=40)


async def drawing_games(engine) -> set[str]:
    """game_ids that still have at least one drawing."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(stages.c.game_id).distinct()
                                  .join(drawings, drawings.c.stage_id == stages.c.id))
        return {r[0] for r in rows}


async def test_purge_deletes_what_is_past_retention_and_nothing_else(results_engine):
    e = results_engine
    old_none = make_game(1, player="kid-none")  # 40 days old, never consented: purged
    new_none = make_game(2, player="kid-none", started_at_ms=T0_MS + 15 * DAY_MS)  # 25 days: kept
    # NOW - 30 days = T0 + 10 days; a two-stage game ends 90 s after it starts.
    cutoff_ms = T0_MS + 10 * DAY_MS
    edge_in = make_game(3, player="kid-edge", started_at_ms=cutoff_ms - 90_000 + 60_000)
    edge_out = make_game(7, player="kid-edge", started_at_ms=cutoff_ms - 90_000 - 60_000)
    old_yes = make_game(4, player="kid-yes1")  # consented before playing: kept
    old_late = make_game(5, player="kid-late")  # consent came after the game: purged
    old_gone = make_game(6, player="kid-gone")  # consented, then withdrawn later: purged
    for g in (old_none, new_none, edge_in, edge_out, old_yes, old_late, old_gone):
        await repo.write_game(engine=e, game=g)
    before = datetime.fromtimestamp(T0_MS / 1000, UTC).replace(tzinfo=None) - timedelta(days=1)
    for kid in ("kid-yes1", "kid-gone"):
        await privacy.record_consent(engine=e, player_id=kid, policy_version="2026-11",
                                     granted_by_role="guardian", now=before)
    await privacy.record_consent(engine=e, player_id="kid-late", policy_version="2026-11",
                                 granted_by_role="guardian", now=before + timedelta(days=2))
    # Withdrawn through the table directly (withdraw_consent would delete at once already).
    from legacy_bridge.results.privacy_tables import research_consents
    async with e.begin() as conn:
        await conn.execute(research_consents.update().where(
            research_consents.c.player_id == "kid-gone").values(withdrawn_at=NOW))
    games_before = (await repo.table_counts(engine=e))["games"]

    report = await privacy.run_purge(e, NOW, retention_days=30)

    assert await drawing_games(e) == {new_none.game_id, edge_in.game_id, old_yes.game_id}
    assert report.counts["drawings"] == 2 * 4  # old_none, edge_out, old_late, old_gone
    assert (await repo.table_counts(engine=e))["games"] == games_before  # results stay
    (log,) = await privacy.deletion_log_rows(engine=e)
    assert log["reason"] == "retention" and log["subject_ref"] is None
    # Running again deletes nothing more and logs nothing.
    again = await privacy.run_purge(e, NOW, retention_days=30)
    assert again.counts.get("drawings", 0) == 0
    assert len(await privacy.deletion_log_rows(engine=e)) == 1


async def test_purge_in_batches(results_engine):
    for i in range(7):
        await repo.write_game(engine=results_engine,
                              game=make_game(i, player=f"kid-{i}", labels=("cat",)))
    report = await privacy.run_purge(results_engine, NOW, retention_days=30, batch_size=3)
    assert report.counts["drawings"] == 7
    assert await drawing_games(results_engine) == set()
    async with results_engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(games))
                ).scalar_one() == 7


async def test_the_loop_runs_on_schedule_and_outlives_a_failure(results_engine, monkeypatch):
    calls: list[datetime] = []
    real = privacy.run_purge

    async def flaky(engine, now, **kw):
        calls.append(now)
        if len(calls) == 1:
            raise ConnectionError("database down")
        return await real(engine, now, **kw)

    monkeypatch.setattr(privacy, "run_purge", flaky)
    await repo.write_game(engine=results_engine, game=make_game(1, player="kid-xxxx"))
    sleeps: list[float] = []
    third = asyncio.Event()

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)
        if len(sleeps) == 2:
            third.set()
            await asyncio.Event().wait()  # park here until cancelled

    task = asyncio.create_task(privacy.purge_loop(engine=results_engine, retention_days=30,
                                                  interval_s=3600, clock=lambda: NOW,
                                                  sleep=fake_sleep))
    await third.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) == 2 and sleeps == [3600, 3600]
    assert await drawing_games(results_engine) == set()  # the second run purged


async def test_a_renewed_consent_keeps_the_earlier_games_covered(results_engine):
    # Consent before the game, renewed (a new policy version) ten days after it: the game is
    # still covered, so the purge keeps its drawings. A consent given again after a withdrawal
    # covers only what comes after it.
    e = results_engine
    t0 = datetime.fromtimestamp(T0_MS / 1000, UTC).replace(tzinfo=None)
    renewed, again = make_game(1, player="kid-renewed"), make_game(2, player="kid-again1")
    for g in (renewed, again):
        await repo.write_game(engine=e, game=g)
    for kid in ("kid-renewed", "kid-again1"):
        await privacy.record_consent(engine=e, player_id=kid, policy_version="2026-09",
                                     granted_by_role="guardian", now=t0 - timedelta(days=1))
    await privacy.withdraw_consent(engine=e, player_id="kid-again1", withdrawn_by_role="guardian",
                                   now=t0 + timedelta(days=5))
    again_later = make_game(3, player="kid-again1", started_at_ms=T0_MS + 6 * DAY_MS)
    await repo.write_game(engine=e, game=again_later)  # played while no consent was active
    for kid in ("kid-renewed", "kid-again1"):
        consent = await privacy.record_consent(
            engine=e, player_id=kid, policy_version="2026-11", granted_by_role="teacher",
            now=t0 + timedelta(days=10))
        expect = t0 - timedelta(days=1) if kid == "kid-renewed" else t0 + timedelta(days=10)
        assert consent.covers_from == expect
    await privacy.run_purge(e, NOW, retention_days=30)
    assert await drawing_games(e) == {renewed.game_id}
