"""Teacher tokens: issued by an admin, scoped to opening and watching the teacher's own classes.

A token is a random secret shown once; only its SHA-256 is kept (in Redis, so every server
process accepts it, or in the process on embedded defaults), mapped to a teacher id. The id is
pseudonymous too (`t-` and random hex): a teacher's name is never needed here.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

TOKEN_PREFIX = "dqt_"  # tells a teacher token from an admin or session token at a glance


@dataclass(frozen=True)
class Teacher:
    teacher_id: str
    label: str  # what the admin called it ("room 3"), never shown to children
    issued_at_s: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TeacherTokens:
    """Issues, verifies and revokes teacher tokens."""

    def __init__(self, redis: Any | None = None, *, prefix: str = "dq:teacher-token:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, Teacher] = {}

    async def issue(self, *, label: str, now_s: float | None = None) -> tuple[Teacher, str]:
        """A new teacher and its token (the token is returned once and never stored)."""
        now_s = time.time() if now_s is None else now_s
        teacher = Teacher("t-" + secrets.token_hex(8), label, int(now_s))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        if self._redis is not None:
            await self._redis.set(self._prefix + _digest(token), json.dumps(asdict(teacher)))
        else:
            self._memory[_digest(token)] = teacher
        return teacher, token

    async def verify(self, token: str | None) -> Teacher | None:
        """The teacher a token belongs to, or None (unknown, revoked or not a teacher token)."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        if self._redis is not None:
            raw = await self._redis.get(self._prefix + _digest(token))
            return Teacher(**json.loads(raw)) if raw is not None else None
        return self._memory.get(_digest(token))

    async def revoke(self, token: str) -> bool:
        """Withdraw a token; True if it existed."""
        if self._redis is not None:
            return bool(await self._redis.delete(self._prefix + _digest(token)))
        return self._memory.pop(_digest(token), None) is not None
