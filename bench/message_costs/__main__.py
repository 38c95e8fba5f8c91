"""`python -m bench.message_costs`: what one WebSocket message costs, piece by piece.

    .venv/bin/python -m bench.message_costs [--n 20000]

`bench.load` gives the server's whole cost per message (CPU over messages in and out). This
times the pieces a stroke chunk goes through on its own, one after the other in one process, so
the difference between the sum and the whole is the rest of the path (ASGI and Starlette
layers, uvloop callbacks and task steps, the guess round trip, recording finished games):

- `frame_parse_us`: websockets' sans-I/O parser on one masked 6-point stroke chunk (as uvicorn's
  default WebSocket implementation runs it);
- `frame_send_us`: framing one `ack`;
- `validate_us`: `server.protocol.parse_client_message` (orjson + pydantic);
- `store_apply_us`: `GameService.command(StrokeChunk)` on the in-process store (engine, state
  clone, kept chunk, published events) for a stroke of many chunks;
- `store_apply_redis_us` / `store_apply_redis_cpu_us`: the same on the Redis store (a throwaway
  `redis-server` of the bench's own, so nobody else's keys or load disturb it): wall time per
  command one after another, and this process's CPU per command;
- `store_apply_redis_concurrent_cpu_us` / `..._per_s`: `--games` games each sending its chunks
  concurrently (as many tablets do), this process's CPU per command and commands a second;
- `redis_event_fanout_cpu_us`: one published event (another process publishes) received on the
  store's one pub/sub connection and put in its game's queue, `--games` games subscribed;
- `redis_decode_state_us` / `redis_encode_state_us`: turning one game state to and from bytes,
  which the Redis path does on every command and the in-process one does not;
- `queue_hop_us`: an `asyncio.Queue` put + get with a task switch, on uvloop;
- `loopback_send_recv_us`: one `send` and one `recv` syscall on a loopback TCP socket.

Writes `bench/results/message-costs-<UTC>.json` (and `latest-message-costs.json`) and prints them.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import uvloop
from websockets.protocol import Protocol, Side, State

from bench.load.servers import other_load, redis_for_bench
from bench.report import command_line, write_report
from game.commands import StrokeChunk
from game.rules import GameRules
from game.service import GameService
from game.store import open_store
from game.topics import Category, Topic
from server.protocol import parse_client_message

CATEGORY = Category("animals", "동물", "Animals",
                    tuple(Topic(x, x, x) for x in ("cat", "dog", "pig", "cow", "owl")))


def chunk(stroke: int, start: int, n: int = 6) -> dict[str, Any]:
    """A stroke chunk as the page sends it every 50-75 ms: a few points with time."""
    return {"type": "stroke", "stage": 0, "stroke": stroke, "start": start, "end": False,
            "points": [[512.5 + i, 300.25 + i, 1234.0 + 16 * (start + i)] for i in range(n)]}


def per_call_us(fn: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def framing(n: int) -> dict[str, float]:
    client = Protocol(Side.CLIENT)
    client.state = State.OPEN
    client.send_text(orjson.dumps(chunk(3, 12)))
    wire = b"".join(client.data_to_send())
    server = Protocol(Side.SERVER, max_size=2**20)

    def receive() -> None:
        server.receive_data(wire)
        (frame,) = server.events_received()
        assert frame.data

    ack = orjson.dumps({"type": "ack", "stage": 0, "stroke": 3, "points": 18})

    def send() -> None:
        server.send_text(ack)
        server.data_to_send()

    return {"frame_bytes": len(wire), "frame_parse_us": per_call_us(receive, n),
            "frame_send_us": per_call_us(send, n)}


def validation(n: int) -> float:
    text = orjson.dumps(chunk(3, 12)).decode()
    return per_call_us(lambda: parse_client_message(text, max_bytes=65536, max_points=512), n)


class _Topics:
    async def categories(self) -> list[Category]:
        return [CATEGORY]


async def _draw(service: GameService, n: int) -> None:
    """`n` stroke chunks into a game of its own: strokes of 40 chunks each (a long stroke is the
    common case mid-drawing); a new stroke when one is full, a new game when the stage's stroke
    limit nears."""

    async def new_game() -> str:
        game_id, token = service.new_ids()
        await service.start(game_id=game_id, resume_token=token, player_id="bench-0001",
                            category=CATEGORY, canvas_width=1024, canvas_height=700)
        return game_id

    game_id = await new_game()
    done, stroke, start = 0, 0, 0
    while done < n:
        points = tuple(tuple(p) for p in chunk(stroke, start)["points"])
        end = start >= 6 * 39
        await service.command(game_id, StrokeChunk(stage=0, stroke=stroke, start=start,
                                                   points=points, end=end))
        done += 1
        start += 6
        if end:
            stroke, start = stroke + 1, 0
        if stroke == 50:
            game_id, stroke = await new_game(), 0


async def store_apply(n: int, url: str | None = None, games: int = 1) -> dict[str, float]:
    """Per command: wall time, this process's CPU, commands a second (`games` drawing at once)."""
    store = open_store(url)
    service = GameService(store, _Topics(), GameRules(intermission_ms=0, default_stage_count=1))
    per_game = max(1, n // games)
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(_draw(service, per_game) for _ in range(games)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await store.aclose()
    total = per_game * games
    return {"us": wall / total * 1e6, "cpu_us": cpu / total * 1e6, "per_s": total / wall}


_PUBLISHER = """
import sys, redis
url, games, per_game, channel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
payload = b'{"v":7,"events":[["guess",{"stage":0,"guesses":[["cat",0.5]]}]]}'
pipe = redis.Redis.from_url(url).pipeline(transaction=False)
for i in range(per_game):
    for g in range(games):
        pipe.publish(channel % g, payload)
    if i % 10 == 9:
        pipe.execute()
pipe.execute()
"""


async def event_fanout(n: int, url: str, games: int) -> float:
    """Events published (by another process) on `games` channels, received through the store's
    one subscription connection into each game's queue: this process's CPU per event."""
    from game import keys
    from game.store.redis import RedisStore

    store = RedisStore.from_url(url)
    per_game = max(1, n // games)
    total, received, done = per_game * games, 0, asyncio.Event()

    async def consume(game: str) -> None:
        nonlocal received, subscribed
        async with store.subscribe(game) as events:
            subscribed += 1
            if subscribed == games:
                all_subscribed.set()
            async for _ in events:
                received += 1
                if received >= total:
                    done.set()

    subscribed, all_subscribed = 0, asyncio.Event()
    tasks = [asyncio.create_task(consume(f"fan{g}")) for g in range(games)]
    await asyncio.wait_for(all_subscribed.wait(), 60)  # every subscription confirmed by Redis
    cpu = time.process_time()
    publisher = await asyncio.create_subprocess_exec(sys.executable, "-c", _PUBLISHER, url, str(games), str(per_game),
                                                     keys.events("fan%d"))
    await asyncio.wait_for(done.wait(), 300)
    cpu = time.process_time() - cpu
    await publisher.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.aclose()
    return cpu / total * 1e6


def state_codec(n: int) -> dict[str, float]:
    """Encoding and decoding a mid-game state (the Redis store does both on every command)."""
    from game import engine
    from game.store import _codec

    state, _ = engine.new_game(game_id="g" * 32, player_id="bench-0001", category=CATEGORY,
                               rules=GameRules(intermission_ms=0), now_ms=1_000, canvas_width=1024,
                               canvas_height=700)
    for stroke in range(12):
        engine.handle(state, StrokeChunk(stage=0, stroke=stroke, start=0, end=True,
                                         points=((1.0, 2.0, 3.0),) * 6), now_ms=2_000 + stroke,
                      rules=GameRules(intermission_ms=0))
    raw = _codec.dump_state(state)
    return {"state_bytes": len(raw),
            "redis_decode_state_us": per_call_us(lambda: _codec.load_state(raw), n),
            "redis_encode_state_us": per_call_us(lambda: _codec.dump_state(state), n)}


async def queue_hop(n: int) -> float:
    there, back = asyncio.Queue(), asyncio.Queue()

    async def echo() -> None:
        while True:
            back.put_nowait(await there.get())

    task = asyncio.create_task(echo())
    started = time.perf_counter()
    for i in range(n):
        there.put_nowait(i)
        await back.get()
    elapsed = time.perf_counter() - started
    task.cancel()
    return elapsed / n / 2 * 1e6  # two hops per round


def loopback(n: int, payload: bytes) -> float:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname()) as a:
            b, _ = listener.accept()
            with b:
                def round_trip() -> None:
                    a.sendall(payload)
                    b.recv(65536)
                return per_call_us(round_trip, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.message_costs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="repetitions of each piece")
    parser.add_argument("--games", type=int, default=200, help="games drawing at once on Redis")
    parser.add_argument("--redis-url", default=None,
                        help="measure on this Redis instead of a throwaway redis-server of its own")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-latest", action="store_true")
    args = parser.parse_args(argv)

    costs: dict[str, Any] = framing(args.n)
    costs["validate_us"] = validation(args.n)
    costs["store_apply_us"] = uvloop.run(store_apply(args.n))["us"]
    costs.update(state_codec(args.n))
    with redis_for_bench(args.redis_url) as url:
        one = uvloop.run(store_apply(args.n, url))
        many = uvloop.run(store_apply(args.n, url, games=args.games))
        costs["redis_event_fanout_cpu_us"] = uvloop.run(event_fanout(args.n, url, args.games))
    costs["store_apply_redis_us"] = one["us"]
    costs["store_apply_redis_cpu_us"] = one["cpu_us"]
    costs["store_apply_redis_concurrent_cpu_us"] = many["cpu_us"]
    costs["store_apply_redis_concurrent_per_s"] = many["per_s"]
    costs["queue_hop_us"] = uvloop.run(queue_hop(args.n))
    costs["loopback_send_recv_us"] = loopback(args.n, b"x" * costs["frame_bytes"])
    costs = {k: round(v, 2) if isinstance(v, float) else v for k, v in costs.items()}
    stamp = datetime.now(timezone.utc)
    report = {"date": stamp.isoformat(timespec="seconds"), "machine": platform.machine(),
              "load_avg": list(os.getloadavg()), "other_load": other_load(), "games": args.games,
              "python": platform.python_version(), "n": args.n,
              "command": command_line("bench.message_costs", argv), "costs": costs}
    out = write_report("message-costs", report, stamp, out=args.out, latest=not args.no_latest)
    for name, value in costs.items():
        print(f"{name:24s} {value}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
