"""Shared fixtures: the machine's real Redis (a database of our own) and the game store."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

# The machine's shared Redis; game-store tests use a database number no one else uses.
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))
GAME_STORE_REDIS_DB = 9
GAME_STORE_REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{GAME_STORE_REDIS_DB}"


@pytest.fixture
async def clean_redis_db() -> AsyncIterator[str]:
    """The URL of an emptied Redis database for one test."""
    client = aioredis.Redis.from_url(GAME_STORE_REDIS_URL)
    await client.flushdb()
    await client.aclose()
    yield GAME_STORE_REDIS_URL


@pytest.fixture
async def redis_client(clean_redis_db: str) -> AsyncIterator[aioredis.Redis]:
    """A client of that emptied database, closed after the test."""
    client = aioredis.Redis.from_url(clean_redis_db)
    yield client
    await client.aclose()
