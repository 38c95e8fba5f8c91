"""Class rounds: the teacher's "everyone draws the same topic now", on every tablet of the class.

The process that receives the teacher's request applies `StartClassRound` (or `EndClassRound`)
to each game of the class through `GameService.command`: the game store's compare-and-set makes
it atomic with whatever the tablet is doing, and the store publishes the resulting `stage_start`
on the game's own channel, so the tablet's socket hears it on whichever process it is (the way
every game event travels). No class-wide channel is needed for the tablets: only the teacher
pages of the class are told, on the roster channel (`round`, `round_ended`).

Every game gets the same absolute `deadline_ms`, fixed once here; each game's own timers (on any
process, deadlines live in the store) end the round's stage at that moment.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from game.commands import Command, EndClassRound, EndGame, StartClassRound, Transition
from game.errors import GameError
from game.rules import GameRules
from game.service import GameService
from game.state import GameState, Phase, TopicPlan
from game.topics import Category
from server.classroom import GAMES_KEEP_S, Classroom, Classrooms, avatar_of
from server.roster import RosterHub

log = logging.getLogger(__name__)

MIN_ROUND_S = 5.0
MAX_ROUND_S = 600.0
FAN_OUT_PARALLEL = 16  # games changed at once (a class is at most a few dozen tablets)


class RoundError(Exception):
    """A round that cannot start or end; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ClassRound:
    """One round of a class: its topic and the one deadline every tablet shares."""

    round_id: str
    code: str
    label: str
    name_ko: str
    name_en: str
    time_limit_s: float
    started_at_ms: int
    deadline_ms: int
    ended_at_ms: int | None = None  # set when the teacher ended it early

    def running(self, now_ms: int) -> bool:
        """Still being drawn (not ended by the teacher, deadline not reached)."""
        return self.ended_at_ms is None and now_ms < self.deadline_ms

    def command(self) -> StartClassRound:
        """The engine's command that puts a game on this round."""
        topic = TopicPlan(self.label, self.name_ko, self.name_en, self.time_limit_s)
        return StartClassRound(self.round_id, topic, self.deadline_ms)

    def public(self, now_ms: int) -> dict[str, Any]:
        """What the teacher's page sees of the round (the same shape on HTTP and the socket)."""
        return {"round_id": self.round_id,
                "topic": {"label": self.label, "name_ko": self.name_ko, "name_en": self.name_en},
                "time_limit_s": self.time_limit_s, "started_at_ms": self.started_at_ms,
                "deadline_ms": self.deadline_ms, "ended_at_ms": self.ended_at_ms,
                "running": self.running(now_ms)}


class RoundBook:
    """A class's newest round, in Redis (every process sees it) or in memory; it expires with
    the class's game list (the gallery of "the last round" reads it)."""

    def __init__(self, redis: Any | None = None, *, prefix: str = "dq:classroom:round:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, ClassRound] = {}

    async def save(self, item: ClassRound) -> None:
        if self._redis is not None:
            await self._redis.set(self._prefix + item.code, json.dumps(asdict(item)),
                                  ex=GAMES_KEEP_S)
        else:
            self._memory[item.code] = item

    async def last(self, code: str) -> ClassRound | None:
        """The class's newest round (running or not), or None."""
        if self._redis is not None:
            raw = await self._redis.get(self._prefix + code)
            return ClassRound(**json.loads(raw)) if raw is not None else None
        return self._memory.get(code)

    async def forget(self, code: str) -> None:
        if self._redis is not None:
            await self._redis.delete(self._prefix + code)
        else:
            self._memory.pop(code, None)


def round_topic(category: Category, label: str | None, *, rules: GameRules,
                age_band: str | None, time_limit_s: float | None,
                rng: random.Random | None = None) -> TopicPlan:
    """The round's topic from the class's category (`label` None: one at random) and its time
    limit: as given, else the topic's own scaled for the class's age band, as a game's stage is
    (kept within `MIN_ROUND_S`..`MAX_ROUND_S`).

    Raises:
        RoundError: 422, no such topic in the category or a time limit out of range.
    """
    topics = list(category.topics)
    if label is None:
        topic = (rng or random).choice(topics)
    else:
        found = [t for t in topics if t.label == label]
        if not found:
            known = ", ".join(t.label for t in topics)
            raise RoundError(422, f"{label!r} is not a topic of {category.code!r} (one of: {known})")
        topic = found[0]
    if time_limit_s is None:
        band = rules.for_band(age_band)
        time_limit_s = round(float(topic.time_limit_s or rules.default_time_limit_s)
                             * band.time_scale, 1)
        # the school's own limit may be long: a round still ends within the allowed range
        time_limit_s = min(max(time_limit_s, MIN_ROUND_S), MAX_ROUND_S)
    if not MIN_ROUND_S <= time_limit_s <= MAX_ROUND_S:
        raise RoundError(422, f"a round lasts {MIN_ROUND_S:g} to {MAX_ROUND_S:g} s, "
                         f"not {time_limit_s:g}")
    return TopicPlan(topic.label, topic.name_ko, topic.name_en, float(time_limit_s))


class ClassRounds:
    """Starts and ends rounds on every game of a class, from the process the teacher called."""

    def __init__(self, games: GameService, rooms: Classrooms, book: RoundBook, hub: RosterHub,
                 *, on_local_transition: Any = None) -> None:
        self.games = games
        self.rooms = rooms
        self.book = book
        self.hub = hub
        self.on_local_transition = on_local_transition  # wakes this process's timers

    async def start(self, room: Classroom, *, label: str | None,
                    time_limit_s: float | None) -> tuple[ClassRound, list[dict[str, Any]]]:
        """Start a round on every unfinished game of the class (a running round is replaced:
        its stage ends as a time-out). Returns the round and, per seat, whether it got it.

        Raises:
            RoundError: 422, a topic the class's category lacks, or a bad time limit.
        """
        try:
            category = await self.games.category(room.category)
        except GameError as exc:
            raise RoundError(422, str(exc)) from None
        topic = round_topic(category, label, rules=self.games.rules, age_band=room.age_band,
                            time_limit_s=time_limit_s)
        now_ms = self.games.clock_ms()
        item = ClassRound(round_id="r-" + secrets.token_hex(6), code=room.code,
                          label=topic.label, name_ko=topic.name_ko, name_en=topic.name_en,
                          time_limit_s=topic.time_limit_s, started_at_ms=now_ms,
                          deadline_ms=now_ms + round(topic.time_limit_s * 1000))
        # Saved first: a teacher page that reloads during the fan-out already sees the round.
        await self.book.save(item)
        outcomes = await self._fan_out(room, item.command())
        await self.hub.publish(room.code, {"type": "round", "round": item.public(now_ms)})
        return item, outcomes

    async def end(self, room: Classroom) -> tuple[ClassRound, list[dict[str, Any]]]:
        """End the class's running round on every game still drawing it.

        Raises:
            RoundError: 409, no round is running.
        """
        item = await self.book.last(room.code)
        now_ms = self.games.clock_ms()
        if item is None or not item.running(now_ms):
            raise RoundError(409, "no round is running in this class")
        ended = ClassRound(**{**asdict(item), "ended_at_ms": now_ms})
        await self.book.save(ended)
        outcomes = await self._fan_out(room, EndClassRound(item.round_id))
        await self.hub.publish(room.code, {"type": "round_ended", "round": ended.public(now_ms)})
        return ended, outcomes

    async def current(self, code: str) -> ClassRound | None:
        """The class's newest round (running or not), or None."""
        return await self.book.last(code)

    async def running(self, code: str) -> StartClassRound | None:
        """The command of the class's running round, for a game starting now (or None)."""
        item = await self.book.last(code)
        return item.command() if item is not None and item.running(self.games.clock_ms()) else None

    async def joined(self, code: str, player_id: str, game_id: str, *,
                     started_with: str | None) -> None:
        """A tablet's new game in the class: in the class's game list at once (so a round
        started from now on reaches it, not only after the roster's next flush), then a round
        started meanwhile, between its look at the rounds and now, is applied to it.

        The round is saved before its fan-out reads the game list, and the game is listed
        before it looks again here: either the fan-out sees the game or this look sees the
        round (both is fine: a round applied twice is applied once).
        """
        await self.rooms.note_game(code, player_id, game_id)
        item = await self.book.last(code)
        if item is None or not item.running(self.games.clock_ms()) or item.round_id == started_with:
            return
        try:
            state, transition = await self.games.command(game_id, item.command())
        except GameError:
            return  # it cannot take the round: it plays its own stages
        if self.on_local_transition is not None and transition.changed:
            self.on_local_transition(state, transition)

    async def end_games(self, room: Classroom) -> int:
        """End every unfinished game of the class now (the teacher closes it): each tablet gets
        its stage's result and `game_over`, on whichever process it is. Returns how many ended."""
        games = await self.rooms.games(room.code)
        limit = asyncio.Semaphore(FAN_OUT_PARALLEL)

        async def one(game_id: str) -> bool:
            async with limit:
                applied = await self._apply(game_id, EndGame(), f"closing class {room.code}")
            return not isinstance(applied, str) and applied[1].changed

        return sum(await asyncio.gather(*(one(g) for g in games.values())))

    async def _apply(self, game_id: str, command: Command,
                     doing: str) -> tuple[GameState, Transition] | str:
        """Apply `command` to one game of the class: its new state and transition, or why not
        (a game error's code, or "unavailable" when the store failed: logged, so that one game
        does not stop the rest)."""
        try:
            state, transition = await self.games.command(game_id, command)
        except GameError as exc:  # finished, another category, gone: it sits this out
            return getattr(exc, "code", "game_gone")
        except Exception as exc:
            log.warning("%s: game %s failed: %r", doing, game_id, exc)
            return "unavailable"
        if self.on_local_transition is not None and transition.changed:
            self.on_local_transition(state, transition)
        return state, transition

    async def _fan_out(self, room: Classroom, command: StartClassRound | EndClassRound,
                       ) -> list[dict[str, Any]]:
        """Apply `command` to the newest game of every tablet of the class, a few at a time."""
        seats = await self.rooms.seats(room.code)
        games = await self.rooms.games(room.code)
        limit = asyncio.Semaphore(FAN_OUT_PARALLEL)

        async def one(player_id: str, game_id: str) -> dict[str, Any] | None:
            number = seats.get(player_id)
            if number is None:
                return None
            emoji, animal = avatar_of(number)
            outcome: dict[str, Any] = {"seat": number, "avatar": emoji, "animal": animal}
            async with limit:
                applied = await self._apply(game_id, command, f"round {command.round_id}")
            if isinstance(applied, str):
                return {**outcome, "changed": False, "reason": applied}
            state, transition = applied
            drawing = state.phase == Phase.DRAWING and state.round_id == command.round_id
            return {**outcome, "changed": transition.changed,
                    "reason": None if transition.changed else
                    ("already" if drawing else "not_drawing_it")}

        results = await asyncio.gather(*(one(p, g) for p, g in games.items()))
        return sorted((r for r in results if r is not None), key=lambda r: r["seat"])
