"""The subscriber side shared by the stores: a local queue read as an async iterator."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from game.commands import Event


async def iterate(queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    """Yield the queue's events forever (the subscription's context ends it)."""
    while True:
        yield await queue.get()
