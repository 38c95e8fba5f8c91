"""Every Redis key and channel the game uses (one place, like arq's constants)."""
from __future__ import annotations

PREFIX = "dq"
DEADLINES = f"{PREFIX}:deadlines"  # sorted set: game id -> next deadline (epoch ms)
TO_RECORD = f"{PREFIX}:to-record"  # set of finished games not yet handed to the result sink


def game(game_id: str) -> str:
    return f"{PREFIX}:game:{game_id}"


def strokes(game_id: str, stage: int) -> str:
    return f"{PREFIX}:game:{game_id}:strokes:{stage}"


def guesses(game_id: str, stage: int) -> str:
    return f"{PREFIX}:game:{game_id}:guesses:{stage}"


def resume(token: str) -> str:
    return f"{PREFIX}:resume:{token}"


def resume_of(game_id: str) -> str:
    """The resume token of a game (so erasing a game erases its token too)."""
    return f"{PREFIX}:game:{game_id}:token"


def events(game_id: str) -> str:
    return f"{PREFIX}:events:{game_id}"


def player_games(player_id: str) -> str:
    return f"{PREFIX}:player:{player_id}:games"
