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
- `queue_hop_us`: an `asyncio.Queue` put + get with a task switch, on uvloop;
- `loopback_send_recv_us`: one `send` and one `recv` syscall on a loopback TCP socket.

Writes `bench/results/message-costs-<UTC>.json` (and `latest-message-costs.json`) and prints them.
"""
from __future__ import annotations

import argparse
import asyncio
import platform
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import uvloop
from websockets.protocol import Protocol, Side, State

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


async def store_apply(n: int) -> float:
    class Topics:
        async def categories(self) -> list[Category]:
            return [CATEGORY]

    store = open_store(None)
    service = GameService(store, Topics(), GameRules(intermission_ms=0, default_stage_count=1))
    game_id, token = service.new_ids()
    await service.start(game_id=game_id, resume_token=token, player_id="bench-0001",
                        category=CATEGORY, canvas_width=1024, canvas_height=700)
    # Strokes of 40 chunks each (a long stroke is the common case mid-drawing); a new stroke
    # when one is full, a new game when the stage's stroke limit nears.
    done, stroke, start = 0, 0, 0
    started = time.perf_counter()
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
            game_id, token = service.new_ids()
            await service.start(game_id=game_id, resume_token=token, player_id="bench-0001",
                                category=CATEGORY, canvas_width=1024, canvas_height=700)
            stroke = 0
    elapsed = time.perf_counter() - started
    await store.aclose()
    return elapsed / n * 1e6


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
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-latest", action="store_true")
    args = parser.parse_args(argv)

    costs: dict[str, Any] = framing(args.n)
    costs["validate_us"] = validation(args.n)
    costs["store_apply_us"] = uvloop.run(store_apply(args.n))
    costs["queue_hop_us"] = uvloop.run(queue_hop(args.n))
    costs["loopback_send_recv_us"] = loopback(args.n, b"x" * costs["frame_bytes"])
    costs = {k: round(v, 2) if isinstance(v, float) else v for k, v in costs.items()}
    stamp = datetime.now(timezone.utc)
    report = {"date": stamp.isoformat(timespec="seconds"), "machine": platform.machine(),
              "python": platform.python_version(), "n": args.n,
              "command": command_line("bench.message_costs", argv), "costs": costs}
    out = write_report("message-costs", report, stamp, out=args.out, latest=not args.no_latest)
    for name, value in costs.items():
        print(f"{name:24s} {value}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
