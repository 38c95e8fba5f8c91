"""The game protocol, version 1 (docs/protocol.md): validation of what tablets send, and the
JSON of what the server sends. Nothing here touches a socket."""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from game.commands import Event
from game.ids import PLAYER_ID_PATTERN

PROTOCOL_VERSION = 1

PlayerId = Annotated[str, Field(pattern=PLAYER_ID_PATTERN)]


class ClientMessageError(ValueError):
    """A message from a tablet that cannot be used; `code` goes out in the `error` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Message(BaseModel):
    # Strict: `"stage": "0"` or `"end": "yes"` is a wrong type, as the protocol says, not
    # something to guess at (lax mode turned them into 0 and True).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Canvas(_Message):
    width: int = Field(ge=1, le=4096)
    height: int = Field(ge=1, le=4096)


class Hello(_Message):
    type: Literal["hello"]
    v: Literal[1] = 1
    player_id: PlayerId
    category: str = Field(min_length=1, max_length=64)
    resume_token: str | None = Field(None, max_length=128)
    canvas: Canvas
    age_band: Literal["3-4", "5-6", "7-8"] | None = None
    class_code: str | None = Field(None, max_length=32)  # ignored when a session token is given
    session_token: str | None = Field(None, max_length=512)

    @field_validator("v", mode="before")
    @classmethod
    def _version_is_a_number(cls, v: object) -> object:
        if isinstance(v, bool):  # True == 1 would pass the literal
            raise ValueError("the protocol version is the number 1")
        return v


class Stroke(_Message):
    type: Literal["stroke"]
    stage: int = Field(ge=0, le=1000)
    stroke: int = Field(ge=0, le=100_000)
    start: int = Field(0, ge=0, le=1_000_000)
    # A point is a JSON array (a list: strict mode alone would demand a Python tuple); its three
    # numbers stay strict (no strings, no booleans).
    points: list[Annotated[tuple[float, float, float], Strict(False)]]
    end: bool = False

    @field_validator("points")
    @classmethod
    def _finite(cls, points: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
        for x, y, t in points:
            if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(t)):
                raise ValueError("every coordinate and time must be a finite number")
        return points


class Skip(_Message):
    type: Literal["skip"]
    stage: int = Field(ge=0, le=1000)


class Ping(_Message):
    type: Literal["ping"]
    id: int | str | None = None


ClientMessage = Hello | Stroke | Skip | Ping
_MODELS: dict[str, type[_Message]] = {"hello": Hello, "stroke": Stroke, "skip": Skip, "ping": Ping}


def parse_client_message(
    raw: str | bytes, *, max_bytes: int, max_points: int
) -> ClientMessage:
    """Decode and validate one message from a tablet.

    Raises:
        ClientMessageError: with a code from docs/protocol.md and a message naming the problem.
    """
    if len(raw) > max_bytes:
        raise ClientMessageError(
            "message_too_large", f"a message may be at most {max_bytes} bytes, this one is {len(raw)}"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        data = _loads_lenient(raw)  # NaN / Infinity: report them by name, not as broken JSON
        if data is None:
            raise ClientMessageError("bad_json", f"the message is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ClientMessageError("invalid_message", "a message must be a JSON object")
    kind = data.get("type")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(sorted(_MODELS))
        raise ClientMessageError("unknown_type", f"unknown message type {kind!r}; known: {known}")
    if model is Stroke and isinstance(data.get("points"), list):
        if len(data["points"]) > max_points:
            raise ClientMessageError(
                "too_many_points",
                f"a stroke message may carry at most {max_points} points, this one has "
                f"{len(data['points'])}: send the stroke in smaller chunks",
            )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        code = "out_of_range" if _is_range_error(first) else "invalid_message"
        raise ClientMessageError(code, f"{kind}: {where}: {first['msg']}") from None


def _loads_lenient(raw: str | bytes) -> Any:
    """Parse JSON that is valid but for NaN/Infinity literals (which orjson refuses).

    None (`bad_json`) for anything else orjson refused, such as nesting deeper than orjson's
    limit (which made the recursive `json` module raise RecursionError: a crashed connection).

    Raises:
        ClientMessageError: `invalid_message` for JSON no answer could echo: a string with a lone
            surrogate such as `"\\ud800"` (Python's `json` takes it, UTF-8 cannot encode it).
    """
    import json

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    try:
        orjson.dumps(data)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer past 64 bits
        raise ClientMessageError(
            "invalid_message", "the message holds a string that is not valid Unicode (a lone "
            "surrogate) or an integer too large to answer with") from None
    return data


def _is_range_error(error: Any) -> bool:
    return error["type"] in {"greater_than_equal", "less_than_equal", "finite_number"} or (
        error["type"] == "value_error" and "finite" in str(error.get("msg", ""))
    )


def encode(message: dict[str, Any]) -> str:
    """JSON text of a server message."""
    return orjson.dumps(message).decode()


def event_message(event: Event, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The protocol message for an engine event; guesses get their display names."""
    data = dict(event.data)
    if "guesses" in data:
        data["guesses"] = [_named_guess(g, names) for g in data["guesses"]]
    if event.type == "game_over":
        data["stages"] = [
            {**s, "guesses": [_named_guess(g, names) for g in s["guesses"]]} for s in data["stages"]
        ]
    return {"type": event.type, **data}


def _named_guess(guess: Any, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    if isinstance(guess, dict):
        return guess
    label, probability = guess
    name_ko, name_en = names.get(label, (label, label))
    return {"label": label, "name_ko": name_ko, "name_en": name_en, "p": round(float(probability), 4)}


def error_message(code: str, message: str, *, ref: str | None = None) -> dict[str, Any]:
    """An `error` message; the connection and the game go on."""
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        out["ref"] = ref
    return out
