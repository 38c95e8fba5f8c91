"""Structured logs: one JSON object a line (or readable console lines), with the game id bound.

Standard-library loggers (`logging.getLogger(__name__)`, used everywhere) go through structlog's
formatter, so every line has the same shape. Secrets are never logged: tokens are not passed to
loggers, and `redact` masks the fields that could carry them should one slip in.
"""
from __future__ import annotations

import logging
from typing import Any

import structlog

SECRET_FIELDS = frozenset({"session_token", "resume_token", "authorization", "token", "api_key"})


def redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Mask values of fields that may carry secrets."""
    for key in SECRET_FIELDS & event.keys():
        event[key] = "***"
    return event


def configure(level: str = "INFO", *, json: bool = True) -> None:
    """Send every log record through structlog's processors to stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def bind_game(game_id: str) -> None:
    """Every log line of this task (a tablet's connection) from now on carries the game id."""
    structlog.contextvars.bind_contextvars(game_id=game_id)
