"""A teacher's classes: who opened each, what it plays, and its tablets' seats.

Beside the join code (`server.access.ClassRegistry`) a class opened from the teacher page keeps
its owner (a teacher id), category and age band, and a seat per tablet: the number the tablet
and the teacher's tile both show, with an animal avatar. Seats are numbered in joining order and
capped (`CLASS_MAX_TABLETS`); a tablet that joins again keeps its seat. Nothing here names a
child: a seat maps a pseudonymous player id to a number.

Kept in Redis when the server runs on it (every process sees the same classes), else in memory.
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

# Big, friendly, readable without reading: the avatar is an emoji plus its English word for
# the teacher's screen. Seat n gets ANIMALS[(n - 1) % len(ANIMALS)].
ANIMALS: tuple[tuple[str, str], ...] = (
    ("🐶", "dog"), ("🐱", "cat"), ("🐰", "rabbit"), ("🦊", "fox"), ("🐻", "bear"),
    ("🐼", "panda"), ("🐨", "koala"), ("🐯", "tiger"), ("🦁", "lion"), ("🐮", "cow"),
    ("🐷", "pig"), ("🐸", "frog"), ("🐵", "monkey"), ("🐔", "chicken"), ("🐧", "penguin"),
    ("🐦", "bird"), ("🦆", "duck"), ("🦉", "owl"), ("🐴", "horse"), ("🦄", "unicorn"),
    ("🐝", "bee"), ("🐢", "turtle"), ("🐙", "octopus"), ("🐳", "whale"), ("🐬", "dolphin"),
    ("🦀", "crab"), ("🐘", "elephant"), ("🦒", "giraffe"), ("🦓", "zebra"), ("🦔", "hedgehog"),
)


GAMES_KEEP_S = 24 * 3600  # a class's game list outlives its school day, not longer


def avatar_of(number: int) -> tuple[str, str]:
    """The animal (emoji, word) of seat `number` (1-based)."""
    return ANIMALS[(number - 1) % len(ANIMALS)]


class ClassFull(Exception):
    """The class has its most tablets already."""


@dataclass(frozen=True)
class Classroom:
    code: str
    teacher_id: str
    name: str
    category: str
    age_band: str | None
    opened_at_s: int
    expires_at_s: int
    # The teacher's pace for the class's games (None: the age band's and category's numbers).
    time_limit_s: float | None = None
    stage_count: int | None = None


# Atomic seat: an existing seat is kept; a new one is the next number unless the class is full.
_SEAT_LUA = """
local n = redis.call('HGET', KEYS[1], ARGV[1])
if n then return tonumber(n) end
local count = redis.call('HLEN', KEYS[1])
if count >= tonumber(ARGV[2]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], count + 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return count + 1
"""


class Classrooms:
    """Teacher-owned classes and their seats, in Redis or in memory."""

    def __init__(self, redis: Any | None = None, *, prefix: str = "dq:classroom:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._classes: dict[str, Classroom] = {}
        self._of_teacher: dict[str, set[str]] = {}
        self._seats: dict[str, dict[str, int]] = {}
        self._games: dict[str, dict[str, str]] = {}
        self._seat_script = redis.register_script(_SEAT_LUA) if redis is not None else None

    def _key(self, kind: str, code: str) -> str:
        return f"{self._prefix}{kind}:{code}"

    @property
    def redis(self) -> Any | None:
        """The Redis client (None on embedded defaults): the roster's pub/sub rides on it."""
        return self._redis

    async def add(self, room: Classroom) -> None:
        """Remember a class just opened (its join code already exists)."""
        ttl_s = max(1, room.expires_at_s - int(time.time()))
        if self._redis is not None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("meta", room.code), json.dumps(asdict(room)), ex=ttl_s)
                pipe.sadd(self._key("teacher", room.teacher_id), room.code)
                await pipe.execute()
            return
        self._classes[room.code] = room
        self._of_teacher.setdefault(room.teacher_id, set()).add(room.code)

    async def update(self, room: Classroom) -> None:
        """Store a changed class (its owner and code unchanged), keeping its expiry."""
        if self._redis is not None:
            await self._redis.set(self._key("meta", room.code), json.dumps(asdict(room)),
                                  keepttl=True, xx=True)
            return
        if room.code in self._classes:
            self._classes[room.code] = room

    async def get(self, code: str, *, now_s: float | None = None) -> Classroom | None:
        """The class (if a teacher opened it and it has not expired)."""
        now_s = time.time() if now_s is None else now_s
        if self._redis is not None:
            raw = await self._redis.get(self._key("meta", code))
            room = Classroom(**json.loads(raw)) if raw is not None else None
        else:
            room = self._classes.get(code)
        return room if room is not None and room.expires_at_s >= now_s else None

    async def of_teacher(self, teacher_id: str) -> list[Classroom]:
        """The teacher's open classes, newest first."""
        if self._redis is not None:
            codes = sorted(c.decode() for c in await self._redis.smembers(
                self._key("teacher", teacher_id)))
        else:
            codes = sorted(self._of_teacher.get(teacher_id, ()))
        rooms = [r for r in [await self.get(c) for c in codes] if r is not None]
        return sorted(rooms, key=lambda r: r.opened_at_s, reverse=True)

    async def owned(self, code: str, teacher_id: str) -> Classroom | None:
        """The class if it is this teacher's (else None: another's class is not revealed)."""
        room = await self.get(code)
        return room if room is not None and room.teacher_id == teacher_id else None

    async def remove(self, room: Classroom) -> None:
        """Forget a closed class with its seats and games."""
        if self._redis is not None:
            await self._redis.delete(self._key("meta", room.code), self._key("seats", room.code),
                                     self._key("games", room.code))
            await self._redis.srem(self._key("teacher", room.teacher_id), room.code)
            return
        self._classes.pop(room.code, None)
        self._of_teacher.get(room.teacher_id, set()).discard(room.code)
        self._seats.pop(room.code, None)
        self._games.pop(room.code, None)

    async def seat(self, code: str, player_id: str, *, max_tablets: int, ttl_s: int) -> int:
        """The tablet's seat number in the class (a new one if it has none).

        Raises:
            ClassFull: the class already has `max_tablets` tablets.
        """
        if self._seat_script is not None:
            number = int(await self._seat_script(keys=[self._key("seats", code)],
                                                 args=[player_id, max_tablets, ttl_s]))
        else:
            seats = self._seats.setdefault(code, {})
            number = seats.get(player_id) or (len(seats) + 1 if len(seats) < max_tablets else -1)
            if number > 0:
                seats[player_id] = number
        if number < 0:
            raise ClassFull(f"this class already has {max_tablets} tablets, the most it may have")
        return number

    async def seats(self, code: str) -> dict[str, int]:
        """Player id -> seat number, for every tablet that joined the class."""
        if self._redis is not None:
            raw = await self._redis.hgetall(self._key("seats", code))
            return {k.decode(): int(v) for k, v in raw.items()}
        return dict(self._seats.get(code, {}))

    async def note_game(self, code: str, player_id: str, game_id: str) -> None:
        """The tablet's newest game in the class (the roster and gallery read it)."""
        if self._redis is not None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(self._key("games", code), player_id, game_id)
                pipe.expire(self._key("games", code), GAMES_KEEP_S)
                await pipe.execute()
            return
        if code in self._classes:
            self._games.setdefault(code, {})[player_id] = game_id

    #: What an erasure reports this holder's removals as (legacy_bridge.results.privacy).
    erasure_name = "class_seats"

    async def forget_player(self, player_id: str) -> int:
        """Erase the player's pseudonymous id from every class's seats and game lists
        (privacy); returns in how many classes it sat.

        The seat itself stays taken under a meaningless name: seats are numbered by how many
        were given, so freeing one would hand its number to the next tablet twice over.
        """
        tombstone = f"erased-{secrets.token_hex(8)}"
        if self._redis is not None:
            found = 0
            async for key in self._redis.scan_iter(match=self._key("seats", "*"), count=500):
                number = await self._redis.hget(key, player_id)
                if number is None:
                    continue
                code = key.decode()[len(self._key("seats", "")):]
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.hdel(key, player_id)
                    pipe.hset(key, tombstone, number)
                    pipe.hdel(self._key("games", code), player_id)
                    await pipe.execute()
                found += 1
            return found
        found = 0
        for code, seats in self._seats.items():
            if player_id in seats:
                seats[tombstone] = seats.pop(player_id)
                self._games.get(code, {}).pop(player_id, None)
                found += 1
        return found

    async def games(self, code: str) -> dict[str, str]:
        """Player id -> newest game id, for the class's tablets that played."""
        if self._redis is not None:
            raw = await self._redis.hgetall(self._key("games", code))
            return {k.decode(): v.decode() for k, v in raw.items()}
        return dict(self._games.get(code, {}))
