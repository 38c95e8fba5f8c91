"""Structured logs: JSON lines with the bound game id, secrets masked."""
from __future__ import annotations

import json
import logging

import structlog

from server.logs import bind_game, configure


def test_log_lines_are_json_with_the_game_id_and_no_secrets(capsys):
    configure("INFO", json=True)
    try:
        bind_game("game-42")
        logging.getLogger("doodle.test").info("stage ended")
        structlog.get_logger("doodle.test").info("joined", session_token="v1.secret.sig")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert lines[0]["event"] == "stage ended" and lines[0]["game_id"] == "game-42"
        assert lines[0]["level"] == "info" and lines[0]["logger"] == "doodle.test"
        assert lines[1]["session_token"] == "***"
    finally:
        structlog.contextvars.clear_contextvars()
        logging.getLogger().handlers.clear()
