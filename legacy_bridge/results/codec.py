"""`FinishedGame` <-> JSON, for the outbox. Lossless for every field of the record."""
from __future__ import annotations

import json
from typing import Any

from game.records import FinishedGame, GameOutcome, GuessSnapshot, StageOutcome, StageRecord

from ..errors import UndecodableRecord

VERSION = 1


def encode_game(game: FinishedGame) -> str:
    """JSON text for one finished game (UTF-8 names kept as they are)."""
    data: dict[str, Any] = {
        "v": VERSION, "game_id": game.game_id, "player_id": game.player_id,
        "category": game.category, "started_at_ms": game.started_at_ms,
        "ended_at_ms": game.ended_at_ms, "outcome": str(game.outcome),
        "age_band": game.age_band, "class_code": game.class_code, "extra": dict(game.extra),
        "stages": [
            {"index": s.index, "label": s.label, "name_ko": s.name_ko, "name_en": s.name_en,
             "time_limit_s": s.time_limit_s, "started_at_ms": s.started_at_ms,
             "ended_at_ms": s.ended_at_ms, "outcome": str(s.outcome),
             "time_to_recognize_ms": s.time_to_recognize_ms,
             "strokes": [[list(p) for p in stroke] for stroke in s.strokes],
             "guesses": [{"t_ms": g.t_ms, "guesses": [list(x) for x in g.guesses]}
                         for g in s.guesses],
             "final_guesses": [list(x) for x in s.final_guesses],
             "canvas_width": s.canvas_width, "canvas_height": s.canvas_height}
            for s in game.stages
        ],
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def decode_game(payload: str | bytes) -> FinishedGame:
    """The game back from `encode_game`'s text; `UndecodableRecord` when that is impossible."""
    try:
        d = json.loads(payload)
        stages = tuple(
            StageRecord(
                index=int(s["index"]), label=s["label"], name_ko=s["name_ko"],
                name_en=s["name_en"], time_limit_s=float(s["time_limit_s"]),
                started_at_ms=int(s["started_at_ms"]), ended_at_ms=int(s["ended_at_ms"]),
                outcome=StageOutcome(s["outcome"]),
                time_to_recognize_ms=s["time_to_recognize_ms"],
                strokes=tuple(tuple(tuple(p) for p in st) for st in s["strokes"]),
                guesses=tuple(GuessSnapshot(t_ms=int(g["t_ms"]),
                                            guesses=tuple((lb, float(p)) for lb, p in g["guesses"]))
                              for g in s["guesses"]),
                final_guesses=tuple((lb, float(p)) for lb, p in s["final_guesses"]),
                canvas_width=s.get("canvas_width"), canvas_height=s.get("canvas_height"),
            )
            for s in d["stages"]
        )
        return FinishedGame(
            game_id=d["game_id"], player_id=d["player_id"], category=d["category"],
            started_at_ms=int(d["started_at_ms"]), ended_at_ms=int(d["ended_at_ms"]),
            outcome=GameOutcome(d["outcome"]), stages=stages, age_band=d.get("age_band"),
            class_code=d.get("class_code"), extra=dict(d.get("extra") or {}),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise UndecodableRecord(f"cannot decode outbox entry: {type(e).__name__}: {e}") from e
