"""Script calls made at once share one pipeline, and each keeps its own reply or error."""
from __future__ import annotations

import asyncio
import signal

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from game.store._pipeline import AutoPipeline

pytestmark = pytest.mark.redis

# Appends ARGV[1] to KEYS[1] and returns the list's length; fails on "boom".
SCRIPT = """
if ARGV[1] == 'boom' then return redis.error_reply('boom asked for') end
return redis.call('RPUSH', KEYS[1], ARGV[1])
"""


class CountingPipeline(AutoPipeline):
    def __init__(self, redis_client: aioredis.Redis) -> None:
        super().__init__(redis_client, max_batch=64)
        self.round_trips = 0

    async def _send(self, batch, *, reload=True):
        self.round_trips += 1
        return await super()._send(batch, reload=reload)


async def test_calls_made_together_go_in_few_round_trips_and_keep_their_order(redis_client):
    pipe = CountingPipeline(redis_client)
    script = redis_client.register_script(SCRIPT)
    await script(keys=["warm"], args=["x"])  # loaded once, as the store's first call does
    replies = await asyncio.gather(*(pipe.run(script, ["list"], [str(i)]) for i in range(200)))
    assert replies == list(range(1, 201))  # each call its own reply, in the order made
    assert await redis_client.lrange("list", 0, -1) == [str(i).encode() for i in range(200)]
    assert pipe.round_trips == 4  # 200 calls in batches of at most 64, not 200 round trips


async def test_an_error_in_one_call_fails_only_that_call(redis_client):
    pipe = AutoPipeline(redis_client)
    script = redis_client.register_script(SCRIPT)
    results = await asyncio.gather(pipe.run(script, ["l"], ["a"]), pipe.run(script, ["l"], ["boom"]),
                                   pipe.run(script, ["l"], ["b"]), return_exceptions=True)
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], ResponseError) and "boom asked for" in str(results[1])


async def test_scripts_forgotten_by_redis_are_loaded_again(redis_client):
    pipe = AutoPipeline(redis_client)
    script = redis_client.register_script(SCRIPT)
    assert await pipe.run(script, ["l"], ["a"]) == 1
    await redis_client.script_flush()  # as after a Redis restart
    assert await asyncio.gather(pipe.run(script, ["l"], ["b"]), pipe.run(script, ["l"], ["c"])) == [2, 3]
    assert await redis_client.lrange("l", 0, -1) == [b"a", b"b", b"c"]  # each ran exactly once


async def test_a_lost_connection_fails_every_call_of_the_batch_with_it(tmp_path):
    from tests.utils.throwaway_redis import ThrowawayRedis

    server = ThrowawayRedis(tmp_path).start()
    c = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.5)
    try:
        pipe = AutoPipeline(c)
        script = c.register_script(SCRIPT)
        assert await pipe.run(script, ["l"], ["a"]) == 1
        server.kill()
        results = await asyncio.gather(*(pipe.run(script, ["l"], [str(i)]) for i in range(3)),
                                       return_exceptions=True)
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        # and a later call still gets an answer (an error now, not a hang)
        with pytest.raises(RedisConnectionError):
            await pipe.run(script, ["l"], ["z"])
    finally:
        await c.aclose()
        server.stop()


async def test_closing_does_not_wait_for_a_redis_that_stopped_answering(tmp_path):
    from tests.utils.throwaway_redis import ThrowawayRedis

    server = ThrowawayRedis(tmp_path).start()
    c = aioredis.Redis.from_url(server.url)
    try:
        pipe = AutoPipeline(c)
        script = c.register_script(SCRIPT)
        assert await pipe.run(script, ["l"], ["a"]) == 1
        server.proc.send_signal(signal.SIGSTOP)  # alive, but answers nothing
        call = asyncio.ensure_future(pipe.run(script, ["l"], ["b"]))
        await asyncio.sleep(0)  # one turn of the loop: the task starts and queues its call
        await pipe.aclose(timeout_s=0.2)
        done, _ = await asyncio.wait({call}, timeout=5)
        assert done, "the caller was left waiting"  # answered, with an error
        with pytest.raises(TimeoutError):
            await call
        with pytest.raises(RedisConnectionError):  # closed: nothing more is queued
            await pipe.run(script, ["l"], ["c"])
    finally:
        server.proc.send_signal(signal.SIGCONT)
        await c.aclose()
        server.stop()
