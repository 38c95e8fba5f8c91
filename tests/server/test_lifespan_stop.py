"""Shutdown never waits forever on a background loop (server.lifespan.stop_tasks)."""
from __future__ import annotations

import asyncio
import logging

from server.lifespan import stop_tasks


async def _obeys() -> None:
    await asyncio.Event().wait()


async def _ignores_cancellation(release: asyncio.Event) -> None:
    # Stands in for a loop stuck in a call that swallows the cancellation (it happens with
    # client libraries that retry): it only ends when released.
    while not release.is_set():
        try:
            await release.wait()
        except asyncio.CancelledError:
            continue


async def _fails() -> None:
    raise RuntimeError("broken loop")


async def test_a_loop_that_will_not_stop_is_logged_with_its_stack_and_left_behind(caplog):
    release = asyncio.Event()
    stuck = asyncio.create_task(_ignores_cancellation(release), name="stuck-loop")
    fine = asyncio.create_task(_obeys(), name="fine-loop")
    await asyncio.sleep(0)  # both running
    with caplog.at_level(logging.ERROR, logger="server.lifespan"):
        await stop_tasks([stuck, fine], timeout_s=0.2)
    assert fine.cancelled()
    assert not stuck.done()
    text = caplog.text
    assert "stuck-loop did not stop" in text and "_ignores_cancellation" in text
    assert "fine-loop" not in text
    release.set()
    await stuck


async def test_a_loop_that_failed_is_reported_and_the_others_are_stopped(caplog):
    failed = asyncio.create_task(_fails(), name="failed-loop")
    fine = asyncio.create_task(_obeys(), name="fine-loop")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="server.lifespan"):
        await stop_tasks([failed, fine], timeout_s=5)
    assert fine.cancelled()
    assert "failed-loop failed" in caplog.text and "broken loop" in caplog.text


async def test_no_loops_is_fine():
    await stop_tasks([], timeout_s=1)
