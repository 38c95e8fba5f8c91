"""Automatic pipelining: the script calls many tasks make at once go to Redis as one pipeline.

A server process has hundreds of tablets drawing at once, and each stroke chunk and each guess
is one compare-and-set script call. Sent one by one, every call takes a pooled connection, its
own write and read system calls and redis-py's per-command machinery: about 110 us of this
process's CPU a call with 200 games drawing (`bench.message_costs`), against about 15 us when
the same calls share a pipeline. So calls are queued, and one flusher task sends everything
queued in one pipeline, then whatever queued meanwhile in the next: a call waits at most for
the round trip before its own, and under load a round trip carries hundreds of calls.

Calls keep their order (one flusher, one pipeline at a time), and each call's result or error
is its own: a refused compare-and-set in a batch does not affect the others.
"""
from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

MAX_BATCH = 512  # calls a pipeline: bounds one round trip's size (and a reply's memory)

_Call = tuple[AsyncScript, list[Any], list[Any], "asyncio.Future[Any]"]


class AutoPipeline:
    """Runs registered Lua scripts through shared pipelines on `client`."""

    def __init__(self, client: aioredis.Redis, *, max_batch: int = MAX_BATCH) -> None:
        self._client = client
        self._max_batch = max_batch
        self._pending: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        self._in_flight: list[_Call] = []
        self._closed = False

    async def run(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
        """The script's reply, as `await script(keys=keys, args=args)` would give it.

        Raises what that call would raise (a lost connection, a script error), and
        `ConnectionError` once the pipeline is closed."""
        if self._closed:
            raise RedisConnectionError("the Redis store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, keys, args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="redis-autopipeline")
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self._in_flight = batch
            try:
                replies = await self._send(batch)
            except asyncio.CancelledError:  # the store is closing
                for *_, future in batch + self._pending:
                    future.cancel()
                raise
            except Exception as exc:  # the batch as a whole failed: each call fails as it would alone
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                self._in_flight = []
            for (*_, future), reply in zip(batch, replies):
                if future.done():  # the caller was cancelled meanwhile
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _send(self, batch: list[_Call], *, reload: bool = True) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for script, keys, args, _ in batch:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        # Redis forgets scripts when it restarts: load them again and resend only those calls
        # (a NOSCRIPT reply means the call did not run).
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing and reload:
            for script in {id(batch[i][0]): batch[i][0] for i in missing}.values():
                await self._client.script_load(script.script)
            again = await self._send([batch[i] for i in missing], reload=False)
            for i, reply in zip(missing, again):
                replies[i] = reply
        return replies

    async def aclose(self, *, timeout_s: float = 5.0) -> None:
        """Wait for calls already queued (their callers are waiting for them), at most
        `timeout_s`: a Redis that stopped answering must not hold up a shutdown. Calls still
        unanswered then are cancelled."""
        self._closed = True
        flusher = self._flusher
        if flusher is None or flusher.done():
            return
        done, _ = await asyncio.wait({flusher}, timeout=timeout_s)
        if done:
            return
        # Not awaited: redis-py turns a cancellation inside a read into a timeout and retries
        # it, so the flusher may linger; its callers are answered here instead.
        flusher.cancel()
        for *_, future in self._in_flight + self._pending:
            if not future.done():
                future.set_exception(TimeoutError(f"Redis did not answer within {timeout_s} s"))
        self._in_flight, self._pending = [], []
