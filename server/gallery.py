"""The class gallery: every drawing of a class's session, grouped by topic, for the projector.

A running game's drawings are read from the game store. A finished game's strokes leave the
game store once it is recorded (`GameStore.mark_recorded`), so just before that the recorder's
sink (`KeepForGallery`) keeps a copy of each stage of a game of a teacher's class here, with the
class, expiring like the class's game list (`GAMES_KEEP_S`), gone when the class closes, and
erased with the player (`forget_player`, called by the privacy erasure and withdrawal).

What leaves this module for the teacher's browser is pseudonymous: the seat number and its
animal, never a player or game id (`gallery_view`).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from game.records import FinishedGame, ResultSink, StageOutcome
from game.state import GameState
from game.store.base import GameStore
from server.access import LOCAL_CLASS
from server.classroom import GAMES_KEEP_S, Classroom, Classrooms, avatar_of
from server.roster import flat_ink

log = logging.getLogger(__name__)


def entry_key(game_id: str, stage: int) -> str:
    """One drawing: a stage of a game."""
    return f"{game_id}:{stage}"


def drawing_entry(*, game_id: str, player_id: str, stage: int, label: str, name_ko: str,
                  name_en: str, outcome: str, round_id: str | None, ended_at_ms: int,
                  final_guesses: Any, canvas: tuple[int, int], strokes: Any) -> dict[str, Any]:
    """A drawing as the gallery keeps it (ink as whole pixels: a projector needs no more)."""
    return {"game_id": game_id, "player_id": player_id, "stage": stage, "label": label,
            "name_ko": name_ko, "name_en": name_en, "outcome": outcome, "round_id": round_id,
            "ended_at_ms": ended_at_ms,
            "final_guesses": [[str(g[0]), float(g[1])] for g in final_guesses],
            "canvas": [int(canvas[0]), int(canvas[1])],
            "strokes": [flat_ink(s) for s in strokes]}


class ClassGallery:
    """Copies of the drawings of a class's finished games, in Redis or in memory."""

    def __init__(self, redis: Any | None = None, *, prefix: str = "dq:classroom:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, dict[str, dict[str, Any]]] = {}
        self._classes_of: dict[str, set[str]] = {}

    def _key(self, code: str) -> str:
        return f"{self._prefix}gallery:{code}"

    def _player_key(self, player_id: str) -> str:
        return f"{self._prefix}gallery-of:{player_id}"

    async def keep(self, code: str, entries: list[dict[str, Any]]) -> None:
        """Keep drawings of the class (a drawing kept again replaces the older copy)."""
        if not entries:
            return
        players = {e["player_id"] for e in entries}
        if self._redis is not None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(code), mapping={
                    entry_key(e["game_id"], e["stage"]): json.dumps(e) for e in entries})
                pipe.expire(self._key(code), GAMES_KEEP_S)
                for player_id in players:  # so erasing a player finds its drawings here
                    pipe.sadd(self._player_key(player_id), code)
                    pipe.expire(self._player_key(player_id), GAMES_KEEP_S)
                await pipe.execute()
            return
        kept = self._memory.setdefault(code, {})
        for e in entries:
            kept[entry_key(e["game_id"], e["stage"])] = e
        for player_id in players:
            self._classes_of.setdefault(player_id, set()).add(code)

    async def entries(self, code: str) -> dict[str, dict[str, Any]]:
        """Every kept drawing of the class, by `entry_key`."""
        if self._redis is not None:
            raw = await self._redis.hgetall(self._key(code))
            return {k.decode(): json.loads(v) for k, v in raw.items()}
        return dict(self._memory.get(code, {}))

    async def forget_class(self, code: str) -> None:
        """The class has closed: its drawings go with it."""
        if self._redis is not None:
            await self._redis.delete(self._key(code))
            return
        self._memory.pop(code, None)

    async def forget_player(self, player_id: str) -> int:
        """Erase every kept drawing of the player (privacy); returns how many went."""
        if self._redis is not None:
            codes = [c.decode() for c in await self._redis.smembers(self._player_key(player_id))]
            gone = 0
            for code in codes:
                kept = await self.entries(code)
                fields = [k for k, e in kept.items() if e.get("player_id") == player_id]
                if fields:
                    gone += int(await self._redis.hdel(self._key(code), *fields))
            await self._redis.delete(self._player_key(player_id))
            return gone
        gone = 0
        for code in self._classes_of.pop(player_id, set()):
            kept = self._memory.get(code, {})
            for key in [k for k, e in kept.items() if e.get("player_id") == player_id]:
                del kept[key]
                gone += 1
        return gone


def entries_of_record(game: FinishedGame, state: GameState | None) -> list[dict[str, Any]]:
    """The gallery's copy of a finished game's drawings (the round of each stage from its
    state, which the store still holds while the game is being recorded)."""
    rounds = [s.round_id for s in state.stages] if state is not None else []
    return [
        drawing_entry(game_id=game.game_id, player_id=game.player_id, stage=s.index,
                      label=s.label, name_ko=s.name_ko, name_en=s.name_en,
                      outcome=str(s.outcome), ended_at_ms=s.ended_at_ms,
                      round_id=rounds[s.index] if s.index < len(rounds) else None,
                      final_guesses=s.final_guesses,
                      canvas=(s.canvas_width or 800, s.canvas_height or 600), strokes=s.strokes)
        for s in game.stages
    ]


class KeepForGallery:
    """A `ResultSink` in front of the real one: a finished game of an open teacher's class is
    copied into the class gallery before it is recorded (after that its strokes leave the game
    store). A copy that fails is logged, never a reason to hold back the school's results."""

    def __init__(self, sink: ResultSink, gallery: ClassGallery, rooms: Classrooms,
                 store: GameStore) -> None:
        self.sink = sink
        self.gallery = gallery
        self.rooms = rooms
        self.store = store

    async def record(self, game: FinishedGame) -> None:
        """Copy the game's drawings for its class's gallery, then record it."""
        code = game.class_code
        if code and code != LOCAL_CLASS:
            try:
                if await self.rooms.get(code) is not None:
                    state = await self.store.load(game.game_id)
                    await self.gallery.keep(code, entries_of_record(game, state))
            except Exception:
                log.warning("could not keep game %s for its class gallery", game.game_id,
                            exc_info=True)
        await self.sink.record(game)


async def gallery_view(room: Classroom, *, rooms: Classrooms, gallery: ClassGallery,
                       store: GameStore, names: dict[str, tuple[str, str]],
                       round_id: str | None = None) -> dict[str, Any]:
    """Every ended drawing of the class (or of one round), grouped by topic, pseudonymous.

    `names` maps a label to its (Korean, English) names, for the computer's guesses.
    """
    kept = await gallery.entries(room.code)
    found: dict[str, dict[str, Any]] = dict(kept)
    # Games still held by the store: their ended stages (a finished game not yet recorded, or
    # recorded but not yet expired, is there too; the kept copy wins, it has the late strokes).
    for game_id in set((await rooms.games(room.code)).values()):
        state = await store.load(game_id)
        if state is None:
            continue
        for index, summary in enumerate(state.stages):
            key = entry_key(game_id, index)
            if key in found:
                continue
            strokes = await store.strokes(game_id, index)
            if not strokes and summary.stroke_count:
                continue  # recorded since we looked: its copy is in the gallery, read below
            topic = state.plan[index]
            found[key] = drawing_entry(
                game_id=game_id, player_id=state.player_id, stage=index, label=topic.label,
                name_ko=topic.name_ko, name_en=topic.name_en, outcome=str(summary.outcome),
                round_id=summary.round_id, ended_at_ms=summary.ended_at_ms,
                final_guesses=summary.final_guesses,
                canvas=(state.canvas_width, state.canvas_height), strokes=strokes)
    if len(found) > len(kept):  # a game recorded while we read: its copy is kept by now
        for key, entry in (await gallery.entries(room.code)).items():
            found.setdefault(key, entry)
    seats = await rooms.seats(room.code)
    groups: dict[str, dict[str, Any]] = {}
    for entry in sorted(found.values(), key=lambda e: e["ended_at_ms"]):
        if round_id is not None and entry.get("round_id") != round_id:
            continue
        number = seats.get(entry["player_id"])
        if number is None:
            continue  # not a seat of this class (never happens; nothing unnamed is shown)
        group = groups.setdefault(entry["label"], {
            "topic": {"label": entry["label"], "name_ko": entry["name_ko"],
                      "name_en": entry["name_en"]}, "drawings": []})
        emoji, animal = avatar_of(number)
        guess = None
        if entry["final_guesses"]:
            label, p = entry["final_guesses"][0]
            ko, en = names.get(label, (label, label))
            guess = {"label": label, "name_ko": ko, "name_en": en, "p": round(float(p), 3)}
        group["drawings"].append({
            "seat": number, "avatar": emoji, "animal": animal, "outcome": entry["outcome"],
            "recognized": entry["outcome"] == StageOutcome.RECOGNIZED.value, "guess": guess,
            "canvas": entry["canvas"], "strokes": entry["strokes"],
            "round": entry.get("round_id") is not None})
    for group in groups.values():
        group["drawings"].sort(key=lambda d: d["seat"])
    return {"class": {"code": room.code, "name": room.name, "category": room.category,
                      "age_band": room.age_band},
            "round_id": round_id, "count": sum(len(g["drawings"]) for g in groups.values()),
            "groups": list(groups.values())}
