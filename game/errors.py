"""Errors of the game engine.

GameError
├── UnknownCategory      the category does not exist or has no playable topics
├── GameNotFound         no game with that id (or resume token)
└── ProtocolViolation    a command that is well formed but not allowed now (carries a code)
"""
from __future__ import annotations


class GameError(RuntimeError):
    """Root of every error the game engine raises."""


class UnknownCategory(GameError):
    """The category does not exist or has no topic that can be played."""


class GameNotFound(GameError):
    """No game with that id or resume token."""


class ProtocolViolation(GameError):
    """A command not allowed in the game's current state.

    Attributes:
        code: a short machine-readable code sent to the tablet (e.g. ``wrong_stage``).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
