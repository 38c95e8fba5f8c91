"""The Redis game store: games shared by any number of server processes, surviving restarts.

Each transition is a compare-and-set on the game's key, one Lua script call: the state, the
appended points and guesses, the deadline index and the PUBLISH of its events are written by the
same script, so subscribers see events in commit order whichever process committed them. Calls
made at the same moment by many games share one pipeline (`_pipeline.AutoPipeline`).
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from game import keys
from game.commands import AppendGuess, AppendPoints, Event, GameFinished, Transition
from game.errors import GameNotFound
from game.records import GuessSnapshot
from game.state import GameState
from game.store import _codec
from game.store._pipeline import AutoPipeline
from game.store._queue import iterate
from game.store.base import RESYNC, Mutation, Point

log = logging.getLogger(__name__)

STATE_CACHE_MAX = 20_000  # states (~1-2 KB each) kept to save a GET per command
# Compare-and-set of a game's state plus its effects, atomically: ARGV[1] the state the caller
# saw, ARGV[2] the new state, then runs of `argc, command, args...`. Returns {1} when written,
# else {0, the current state (nil if the game is gone)}.
_APPLY_LUA = """
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  return {0, current}
end
redis.call('SET', KEYS[1], ARGV[2])
local i = 3
local n = #ARGV
while i <= n do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
end
return {1}
"""
RESUME_TOKEN_TTL_S = 6 * 3600  # far longer than any game; the game's own keys expire on record
STAGE_KEYS_MAX = 64  # upper bound on stages when expiring a game's keys


class RedisStore:
    """`GameStore` on Redis. Pass an existing client, or use `RedisStore.from_url`."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._subs = _Subscriptions(client)
        self._apply_script = client.register_script(_APPLY_LUA)
        # game id -> the state last seen, as stored and decoded
        self._states: OrderedDict[str, tuple[bytes, GameState]] = OrderedDict()
        self._pipeline = AutoPipeline(client)

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 2000,
                 pool_timeout_s: float = 5.0) -> RedisStore:
        """A store on a blocking connection pool: under a burst (hundreds of tablets
        reconnecting at once) a command waits up to `pool_timeout_s` for a free connection
        instead of failing, as redis-py's default pool does past 100 connections."""
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=pool_timeout_s
        )
        return cls(aioredis.Redis.from_pool(pool))

    @property
    def client(self) -> aioredis.Redis:
        return self._redis

    async def create(self, state: GameState, transition: Transition, *, resume_token: str) -> None:
        raw = _codec.dump_state(state)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.game(state.game_id), raw)
            pipe.set(keys.resume(resume_token), state.game_id, ex=RESUME_TOKEN_TTL_S)
            pipe.set(keys.resume_of(state.game_id), resume_token, ex=RESUME_TOKEN_TTL_S)
            pipe.sadd(keys.player_games(state.player_id), state.game_id)
            self._queue_effects(pipe, state, transition)
            await pipe.execute()
        self._remember(state.game_id, raw, state)

    async def load(self, game_id: str) -> GameState | None:
        raw = await self._redis.get(keys.game(game_id))
        return _codec.load_state(raw) if raw is not None else None

    async def game_for_token(self, resume_token: str) -> str | None:
        raw = await self._redis.get(keys.resume(resume_token))
        return raw.decode() if raw is not None else None

    async def apply(self, game_id: str, mutate: Mutation) -> tuple[GameState, Transition]:
        """Compare-and-set in one round trip: a Lua script writes the new state and its effects
        only if the stored state is still the one `mutate` saw, else hands back the newer one.

        The state this process last wrote or read is cached, bytes and decoded, so a command
        usually costs one script call (shared with other games' calls in one pipeline,
        `_pipeline.AutoPipeline`) and a clone instead of WATCH, GET and MULTI/EXEC and a decode.
        A cached state is never trusted for a refusal or a no-op: those are checked against
        Redis first.
        """
        key = keys.game(game_id)
        entry = self._states.get(game_id)
        cached = entry is not None
        raw, base = entry if entry is not None else (await self._redis.get(key), None)
        while True:
            if raw is None:
                self._states.pop(game_id, None)
                raise GameNotFound(f"no game {game_id}")
            # A clone, as the in-process store does: a refused mutation leaves the cache as it was.
            state = base.clone() if base is not None else _codec.load_state(raw)
            try:
                transition, refused = mutate(state), None
            except Exception as exc:
                transition, refused = None, exc
            if refused is not None or not transition.changed:
                if cached:  # a refusal or a no-op is never trusted to a cached state
                    cached, fresh = False, await self._redis.get(key)
                    if fresh != raw:
                        raw, base = fresh, None
                        continue
                if refused is not None:
                    raise refused
                return state, transition
            new_raw = _codec.dump_state(state)
            done, current = await self._cas(keys=[key], args=[
                raw, new_raw, *self._effect_ops(state, transition)])
            if done:
                self._remember(game_id, new_raw, state)
                return state, transition
            raw, base, cached = current, None, False  # another process was first: apply to the newer state

    def _remember(self, game_id: str, raw: bytes, state: GameState) -> None:
        """Cache the state as committed; `state` is shared with the caller, who only reads it
        (the next command mutates a clone)."""
        states = self._states
        states[game_id] = (_codec.kept(raw), state)
        states.move_to_end(game_id)
        if len(states) > STATE_CACHE_MAX:
            states.popitem(last=False)

    @staticmethod
    def _effect_ops(state: GameState, t: Transition) -> list:
        """The transition's writes as `argc, command, args...` runs for the apply script (the
        same writes `_queue_effects` queues in a MULTI)."""
        ops: list = []

        def op(*args: object) -> None:
            ops.append(len(args))
            ops.extend(args)

        for effect in t.effects:
            if isinstance(effect, AppendPoints):
                op("RPUSH", keys.strokes(state.game_id, effect.stage), _codec.dump_points(effect))
            elif isinstance(effect, AppendGuess):
                op("RPUSH", keys.guesses(state.game_id, effect.stage), _codec.dump_guess(effect))
            elif isinstance(effect, GameFinished):
                op("SADD", keys.TO_RECORD, state.game_id)
        deadline = state.next_deadline_ms()
        if deadline is None:
            op("ZREM", keys.DEADLINES, state.game_id)
        else:
            op("ZADD", keys.DEADLINES, deadline, state.game_id)
        if t.events:
            op("PUBLISH", keys.events(state.game_id), _codec.dump_events(state.version, t.events))
        return ops

    async def _cas(self, *, keys: list[str], args: list) -> tuple[bool, bytes | None]:
        result = await self._pipeline.run(self._apply_script, keys, args)
        return result[0] == 1, (result[1] if len(result) > 1 else None)

    @staticmethod
    def _queue_effects(pipe: aioredis.client.Pipeline, state: GameState, t: Transition) -> None:
        for effect in t.effects:
            if isinstance(effect, AppendPoints):
                pipe.rpush(keys.strokes(state.game_id, effect.stage), _codec.dump_points(effect))
            elif isinstance(effect, AppendGuess):
                pipe.rpush(keys.guesses(state.game_id, effect.stage), _codec.dump_guess(effect))
            elif isinstance(effect, GameFinished):
                pipe.sadd(keys.TO_RECORD, state.game_id)
        deadline = state.next_deadline_ms()
        if deadline is None:
            pipe.zrem(keys.DEADLINES, state.game_id)
        else:
            pipe.zadd(keys.DEADLINES, {state.game_id: deadline})
        if t.events:
            pipe.publish(keys.events(state.game_id), _codec.dump_events(state.version, t.events))

    async def strokes(self, game_id: str, stage: int) -> list[list[Point]]:
        from orjson import loads

        chunks = await self._redis.lrange(keys.strokes(game_id, stage), 0, -1)
        return _codec.join_chunks([loads(c) for c in chunks])

    async def guesses(self, game_id: str, stage: int) -> list[GuessSnapshot]:
        raws = await self._redis.lrange(keys.guesses(game_id, stage), 0, -1)
        return [_codec.load_guess(r) for r in raws]

    async def due_games(self, now_ms: int, *, limit: int = 500) -> list[str]:
        ids = await self._redis.zrangebyscore(keys.DEADLINES, "-inf", now_ms, start=0, num=limit)
        return [i.decode() for i in ids]

    async def next_deadline_ms(self) -> int | None:
        first = await self._redis.zrange(keys.DEADLINES, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    async def games_to_record(self, *, limit: int = 100) -> list[str]:
        ids = await self._redis.srandmember(keys.TO_RECORD, limit)
        return [i.decode() for i in ids or []]

    async def mark_recorded(self, game_id: str, *, keep_s: int) -> None:
        self._states.pop(game_id, None)
        state = await self.load(game_id)
        stages = state.stage_count if state else STAGE_KEYS_MAX
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(keys.TO_RECORD, game_id)
            pipe.expire(keys.game(game_id), keep_s)
            pipe.expire(keys.resume_of(game_id), keep_s)
            pipe.delete(*(k for stage in range(stages)
                          for k in (keys.strokes(game_id, stage), keys.guesses(game_id, stage))))
            await pipe.execute()

    async def games_of_player(self, player_id: str) -> list[str]:
        ids = await self._redis.smembers(keys.player_games(player_id))
        present = []
        for game_id in sorted(i.decode() for i in ids):
            if await self._redis.exists(keys.game(game_id)):
                present.append(game_id)
            else:  # expired since: keep the index tidy
                await self._redis.srem(keys.player_games(player_id), game_id)
        return present

    async def delete_game(self, game_id: str) -> None:
        self._states.pop(game_id, None)
        state = await self.load(game_id)
        stages = state.stage_count if state else STAGE_KEYS_MAX
        token = await self._redis.get(keys.resume_of(game_id))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.game(game_id), keys.resume_of(game_id))
            if token is not None:
                pipe.delete(keys.resume(token.decode()))
            for stage in range(stages):
                pipe.delete(keys.strokes(game_id, stage), keys.guesses(game_id, stage))
            pipe.zrem(keys.DEADLINES, game_id)
            pipe.srem(keys.TO_RECORD, game_id)
            if state is not None:
                pipe.srem(keys.player_games(state.player_id), game_id)
            await pipe.execute()

    @asynccontextmanager
    async def subscribe(self, game_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        channel = keys.events(game_id).encode()
        await self._subs.add(channel, queue)

        try:
            yield iterate(queue)
        finally:
            await self._subs.remove(channel, queue)

    async def drop_idle_connections(self) -> None:
        await self._redis.connection_pool.disconnect(inuse_connections=False)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def aclose(self) -> None:
        await self._pipeline.aclose()
        await self._subs.aclose()
        await self._redis.aclose()


class _Subscriptions:
    """One pub/sub connection per process, routing each game's channel to local queues."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._pubsub = client.pubsub()
        self._queues: dict[bytes, set[asyncio.Queue[Event]]] = {}
        self._confirmed: dict[bytes, asyncio.Event] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def add(self, channel: bytes, queue: asyncio.Queue[Event]) -> None:
        async with self._lock:
            queues = self._queues.setdefault(channel, set())
            queues.add(queue)
            if len(queues) > 1:
                return
            confirmed = self._confirmed[channel] = asyncio.Event()
            await self._pubsub.subscribe(channel)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="redis-pubsub-reader")
        # Only once Redis confirms the subscription is no later event missed.
        await asyncio.wait_for(confirmed.wait(), timeout=10)

    async def remove(self, channel: bytes, queue: asyncio.Queue[Event]) -> None:
        async with self._lock:
            queues = self._queues.get(channel)
            if queues is None:
                return
            queues.discard(queue)
            if not queues:
                del self._queues[channel]
                self._confirmed.pop(channel, None)
                try:
                    await self._pubsub.unsubscribe(channel)
                except RedisConnectionError:
                    log.warning("could not unsubscribe from %s: Redis is away", channel)

    async def _read(self) -> None:
        backoff_s = 0.05
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)  # blocking: no timer per message
                backoff_s = 0.05
            except RedisConnectionError:
                log.warning("pub/sub connection lost; retrying in %.2f s", backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 2.0)
                continue
            if message is None:
                continue
            channel = message["channel"]
            if message["type"] == "subscribe":
                confirmed = self._confirmed.get(channel)
                if confirmed is not None and confirmed.is_set():
                    # Subscribed again after a lost connection (redis-py resubscribes every
                    # channel when it reconnects): what was published in between is lost.
                    for queue in self._queues.get(channel, ()):
                        queue.put_nowait(RESYNC)
                elif confirmed is not None:
                    confirmed.set()
            elif message["type"] == "message":
                events = _codec.load_events(message["data"])
                for queue in self._queues.get(channel, ()):
                    for event in events:
                        queue.put_nowait(event)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        await self._pubsub.aclose()
