"""How states, points, guesses and events are written as bytes (shared by the stores)."""
from __future__ import annotations

from typing import Any

import orjson

from game.commands import AppendGuess, AppendPoints, Event
from game.records import GuessSnapshot
from game.state import GameState


def kept(raw: bytes) -> bytes:
    """A copy of `raw` of its own size, for bytes that stay in memory.

    orjson's output keeps its whole initial buffer (~4 KiB, however short the JSON): the
    in-process store kept every stroke chunk that way, ~4 KiB a chunk, most of a drawing
    tablet's memory on the server (found with tracemalloc under bench.load).
    """
    return bytes(memoryview(raw))


def dump_state(state: GameState) -> bytes:
    return orjson.dumps(state.to_dict())


def load_state(raw: bytes | str) -> GameState:
    return GameState.from_dict(orjson.loads(raw))


def dump_points(effect: AppendPoints) -> bytes:
    return orjson.dumps([effect.stroke, effect.points])


def dump_guess(effect: AppendGuess) -> bytes:
    return orjson.dumps([effect.t_ms, effect.guesses])


def load_guess(raw: bytes | str) -> GuessSnapshot:
    t_ms, guesses = orjson.loads(raw)
    return GuessSnapshot(t_ms=t_ms, guesses=tuple((g[0], float(g[1])) for g in guesses))


def join_chunks(chunks: list[Any]) -> list[list[tuple[float, float, float]]]:
    """Turn appended `[stroke, points]` chunks (in order) into whole strokes."""
    strokes: list[list[tuple[float, float, float]]] = []
    for stroke, points in chunks:
        while len(strokes) <= stroke:
            strokes.append([])
        strokes[stroke].extend(tuple(p) for p in points)
    return strokes


def dump_events(version: int, events: list[Event]) -> bytes:
    return orjson.dumps({"v": version, "events": [[e.type, e.data] for e in events]})


def load_events(raw: bytes | str) -> list[Event]:
    return [Event(t, d) for t, d in orjson.loads(raw)["events"]]
