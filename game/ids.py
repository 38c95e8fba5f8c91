"""The one definition of a player id (docs/protocol.md, docs/privacy.md): 8 to 64 characters of
`A-Z a-z 0-9 _ -`. Used by the protocol (`server.protocol.PlayerId`), the HTTP routes and the
privacy functions, so an id refused in one place is refused in all of them.

Why so strict: a player id is a pseudonym the device makes up, and it ends up in Redis keys,
SQL rows and URLs. Only these characters cannot be a name in another script, a control or
bidirectional-override character, a path (`..`) or a separator, and 8 characters at least make
accidental collisions between devices unlikely."""
from __future__ import annotations

import re

PLAYER_ID_MIN_LEN = 8
PLAYER_ID_MAX_LEN = 64
# For pydantic's `Field(pattern=...)` (Rust regex: `$` is the end of the text).
PLAYER_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
PLAYER_ID_RULE = "8 to 64 characters, each A-Z, a-z, 0-9, '_' or '-'"
# fullmatch, not match + `$`: in Python's `re`, `$` also matches before a final newline.
_PLAYER_ID = re.compile(r"[A-Za-z0-9_-]{8,64}", re.ASCII)


class InvalidPlayerId(ValueError):
    """A value that is not a player id; the message says the rule, never echoes the value."""


def is_player_id(value: object) -> bool:
    """Whether `value` is a valid player id."""
    return isinstance(value, str) and _PLAYER_ID.fullmatch(value) is not None


def check_player_id(value: object) -> str:
    """`value` if it is a valid player id, else InvalidPlayerId (also usable as an argparse
    `type=`)."""
    if not is_player_id(value):
        raise InvalidPlayerId(f"a player id is {PLAYER_ID_RULE}")
    return value  # type: ignore[return-value]
