"""Who may play: classes with short join codes, and signed session tokens for tablets.

A teacher opens a class (admin API) and gets a short join code; a tablet joins with the code and
receives a session token (HMAC-signed, with the player id, the class and an expiry) that the
WebSocket hello must carry. On embedded defaults a single local class is open, so a tablet gets a
token without a code.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

# No 0/O, 1/I/L: a child's teacher reads the code aloud or writes it on the board.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
LOCAL_CLASS = "LOCAL"


class AccessDenied(Exception):
    """A token or join code that does not grant access; the message says why."""


@dataclass(frozen=True)
class SessionClaims:
    player_id: str
    class_code: str
    expires_at_s: int


class SessionTokens:
    """Issues and verifies session tokens: `v1.<payload>.<signature>` (URL-safe base64)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret

    def issue(self, *, player_id: str, class_code: str, ttl_s: int, now_s: float | None = None) -> str:
        now_s = time.time() if now_s is None else now_s
        claims = SessionClaims(player_id, class_code, int(now_s + ttl_s))
        payload = _b64(json.dumps(asdict(claims), separators=(",", ":")).encode())
        return f"v1.{payload}.{self._sign(payload)}"

    def verify(self, token: str, *, now_s: float | None = None) -> SessionClaims:
        """The token's claims. Raises `AccessDenied` if it is forged, malformed or expired."""
        now_s = time.time() if now_s is None else now_s
        try:
            version, payload, signature = token.split(".")
        except ValueError:
            raise AccessDenied("the session token is malformed") from None
        if version != "v1" or not hmac.compare_digest(signature, self._sign(payload)):
            raise AccessDenied("the session token is not valid")
        try:
            claims = SessionClaims(**json.loads(_unb64(payload)))
        except (ValueError, TypeError):
            raise AccessDenied("the session token is malformed") from None
        if claims.expires_at_s < now_s:
            raise AccessDenied("the session token has expired: join the class again")
        return claims

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def new_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


@dataclass(frozen=True)
class ClassInfo:
    code: str
    name: str
    opened_at_s: int
    expires_at_s: int


class ClassRegistry:
    """Open classes by join code, in Redis (shared by every process) or in memory."""

    def __init__(self, redis: Any | None = None, *, prefix: str = "dq:class:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, ClassInfo] = {}

    async def open(self, *, name: str, ttl_s: int, now_s: float | None = None) -> ClassInfo:
        now_s = time.time() if now_s is None else now_s
        for _ in range(20):
            info = ClassInfo(new_join_code(), name, int(now_s), int(now_s + ttl_s))
            if self._redis is not None:
                stored = await self._redis.set(
                    self._prefix + info.code, json.dumps(asdict(info)), ex=ttl_s, nx=True
                )
                if stored:
                    return info
            elif info.code not in self._memory:
                self._memory[info.code] = info
                return info
        raise RuntimeError("could not find a free join code")

    async def get(self, code: str, *, now_s: float | None = None) -> ClassInfo | None:
        now_s = time.time() if now_s is None else now_s
        code = normalise_code(code)
        if self._redis is not None:
            raw = await self._redis.get(self._prefix + code)
            info = ClassInfo(**json.loads(raw)) if raw is not None else None
        else:
            info = self._memory.get(code)
        return info if info is not None and info.expires_at_s >= now_s else None

    async def close(self, code: str) -> bool:
        code = normalise_code(code)
        if self._redis is not None:
            return bool(await self._redis.delete(self._prefix + code))
        return self._memory.pop(code, None) is not None


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """A browser's WebSocket must come from our own page (or an allowed origin).

    Clients that send no Origin (not browsers: scripts, the load generator) are let through;
    they still need a session token when classes are closed.
    """
    if origin is None:
        return True
    if origin in allowed or "*" in allowed:
        return True
    origin_host = origin.split("://", 1)[-1].rstrip("/")
    return host is not None and origin_host == host


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Access:
    """Everything the server checks before a tablet plays."""

    tokens: SessionTokens
    classes: ClassRegistry
    classes_open: bool
    allowed_origins: list[str]


SECRET_KEY = "dq:session-secret"


async def session_secret(configured: str | None, redis: Any | None) -> bytes:
    """The key that signs session tokens: configured, else shared through Redis, else random.

    Every process must sign with the same key, or a tablet that reconnects to another process
    would be refused: with Redis, the first process stores a random key (SET NX) for the others.
    """
    if configured:
        return configured.encode()
    if redis is not None:
        await redis.set(SECRET_KEY, secrets.token_urlsafe(32), nx=True)
        return bytes(await redis.get(SECRET_KEY))
    return secrets.token_bytes(32)
