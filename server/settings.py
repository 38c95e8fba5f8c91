"""Every setting of the server, read from the environment (see the README's table)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AgeBand = Literal["3-4", "5-6", "7-8"]


class BandRulesSetting(BaseModel):
    """Overrides of one age band's measured defaults (`game.rules.default_band_rules`)."""

    model_config = ConfigDict(extra="forbid")
    top_k: int | None = Field(None, ge=1, le=3)
    min_probability: float | None = Field(None, ge=0, le=1)
    time_scale: float | None = Field(None, gt=0, le=5)
    max_stages: int | None = Field(None, ge=1, le=20)

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Server settings. Unset URLs mean the embedded defaults (in-process, SQLite, bundled)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, description="Port to listen on.")
    redis_url: str | None = Field(
        None, description="Redis for game state, e.g. redis://127.0.0.1:6379/0. Unset: in-process."
    )
    redis_max_connections: int = Field(
        2000, ge=1, description="Most connections to Redis per server process (commands wait "
        "for a free one rather than fail)."
    )
    database_url: str | None = Field(
        None,
        description="Results database, e.g. mysql+aiomysql://root@127.0.0.1:3306/test. "
        "Unset: SQLite under DATA_DIR.",
    )
    legacy_api_url: str | None = Field(
        None, description="The school's Spring service. Unset: bundled topics."
    )
    legacy_api_key: str = Field("", description="X-Api-Key for the Spring service.")
    legacy_refresh_s: float = Field(300.0, description="How often topics are refreshed.")
    data_dir: Path = Field(REPO_ROOT / "var", description="Where embedded stores keep files.")
    models_dir: Path = Field(REPO_ROOT / "models", description="Trained models and categories.")
    admin_token: str | None = Field(
        None, description="Bearer token for admin endpoints. Unset: admin endpoints are closed."
    )

    default_stage_count: int = Field(
        5, ge=1, le=20, description="Stages per game for a category that sets no `stage_count` of "
        "its own. Every bundled category (models/categories.json) and most Spring ones set it, "
        "so there this has no effect."
    )
    default_time_limit_s: float = Field(40.0, gt=0, le=600, description="Time per topic.")
    intermission_ms: int = Field(3000, ge=0, description="Pause between stages.")
    resume_grace_s: float = Field(60.0, ge=0, description="How long a dropped tablet may return.")
    late_stroke_window_s: float = Field(
        15.0, ge=0, description="After a stage's result, how long strokes the child began before "
        "it (and finished within 2 s of it) are still kept; a completed game is recorded when its "
        "tablet leaves or this has passed. 0: none."
    )
    recognition_top_k: int = Field(1, ge=1, le=5, description="The target must be in the top k.")
    recognition_min_probability: float = Field(
        0.5, ge=0, le=1, description="…with at least this probability."
    )
    band_rules: dict[AgeBand, BandRulesSetting] = Field(
        default_factory=dict,
        description='Per age band overrides (JSON), e.g. {"3-4": {"top_k": 3, "min_probability": '
        '0.25, "time_scale": 1.5, "max_stages": 3}}; unset fields keep the measured defaults '
        "(docs/recognition-rule.md).",
    )
    guess_interval_ms: int = Field(
        250, ge=0, description="During a long stroke, a guess at most this often."
    )
    timer_poll_ms: int = Field(10, ge=1, description="How often deadlines are looked for.")

    max_message_bytes: int = Field(65_536, description="Largest WebSocket message accepted.")
    max_request_body_bytes: int = Field(
        65_536, ge=1024, description="Largest HTTP request body accepted (413 past it, before "
        "the body is read)."
    )
    max_points_per_message: int = Field(512, description="Most points in one stroke chunk.")
    max_points_per_stroke: int = Field(4000, description="Most points in one stroke.")
    max_strokes_per_stage: int = Field(200, description="Most strokes in one stage.")
    max_points_per_stage: int = Field(20_000, description="Most points in one stage.")
    hello_timeout_s: float = Field(10.0, description="A tablet must say hello within this.")
    max_messages_per_s: float = Field(60.0, gt=0, description="Messages a tablet may send a second.")
    max_points_per_s: float = Field(3000.0, gt=0, description="Points a tablet may send a second.")
    max_rate_violations: int = Field(
        50, ge=1, description="Refused messages (in 10 s) before a flooding tablet is cut off."
    )
    outbound_queue_max: int = Field(256, description="Messages queued for a slow tablet.")
    outbound_queue_max_bytes: int = Field(
        524_288, ge=65_536, description="Bytes queued for a slow tablet (past either limit the "
        "socket is closed, 1013)."
    )
    ws_per_message_deflate: bool = Field(
        False,
        description="Compress WebSocket messages (permessage-deflate). Off by default: messages "
        "are a few hundred bytes, and compression cost ~45 KiB of zlib state per tablet and CPU "
        "on every message (bench/README.md).",
    )
    asgi_server: Literal["uvicorn", "granian"] = Field(
        "uvicorn",
        description="The ASGI server `python -m server` runs: uvicorn, or granian (Rust; "
        "compared side by side in bench/README.md). granian has no per-message compression and "
        "cuts a connection only at a 16 MiB frame (uvicorn at 4x MAX_MESSAGE_BYTES); below that "
        "our own message limit answers an oversized message with an error.",
    )
    ws_protocol: Literal["auto", "websockets", "websockets-sansio"] = Field(
        "auto",
        description="uvicorn's WebSocket implementation. `auto` is websockets' sans-I/O one; the "
        "older `websockets` one measured slower (p99 176-319 ms against 123-143 ms at 600 "
        "children, bench/README.md).",
    )

    inference_workers: int | None = Field(None, description="Inference workers (unset: fits CPU).")
    inference_max_batch_size: int = Field(64, description="Largest inference batch.")
    inference_max_wait_ms: float = Field(2.0, description="Longest wait to fill a batch.")
    inference_max_queue: int = Field(4096, description="Queued inference requests before refusal.")
    inference_worker_nice: int = Field(
        10, ge=0, le=19,
        description="How much lower than the server the inference workers run (Unix nice; 0: "
        "level). The server's event loop keeps its core when the workers are busy: at 600 "
        "children p99 stroke-to-guess 107-130 ms against 204-338 ms level (bench/README.md).",
    )

    session_secret: str | None = Field(
        None,
        description="Key that signs tablets' session tokens (>= 16 characters). Unset: a random "
        "key shared through Redis, or per process on embedded defaults.",
    )
    open_class: bool | None = Field(
        None,
        description="A single local class anyone may join without a code. Unset: open on "
        "embedded defaults (no REDIS_URL), closed otherwise.",
    )
    class_ttl_s: int = Field(8 * 3600, gt=0, description="How long a class's join code works.")
    session_ttl_s: int = Field(8 * 3600, gt=0, description="How long a tablet's session lasts.")
    class_max_tablets: int = Field(40, ge=1, le=500, description="Most tablets in one class.")
    roster_interval_ms: int = Field(
        1000, ge=100, description="A tablet's tile on the teacher page changes at most this often."
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Extra origins allowed to open the WebSocket (JSON list); the server's own "
        "host is always allowed.",
    )
    research_token: str | None = Field(
        None, description="Bearer token for researchers' export endpoint. Unset: export closed."
    )
    consent_token: str | None = Field(
        None, description="Bearer token for recording and withdrawing consent. Unset: closed."
    )
    consent_policy_version: str = Field(
        "2026-11", description="Version of the consent text guardians agree to."
    )
    retention_days: float = Field(
        30.0, gt=0, description="Drawings without research consent are purged after this."
    )
    purge_interval_s: float = Field(3600.0, gt=0, description="How often the purge job runs.")
    export_countrycode: str = Field("KR", pattern=r"^[A-Z]{2}$",
                                    description="`countrycode` written in exports (2 letters).")

    log_level: str = Field("INFO", description="Logging level.")
    log_json: bool = Field(True, description="Logs as JSON lines (false: readable console lines).")

    @field_validator(
        "redis_url", "database_url", "legacy_api_url", "admin_token", "research_token",
        "consent_token", "inference_workers", "session_secret", "open_class", mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `REDIS_URL=` in an env file means "not configured", not "an empty URL".
        return None if value == "" else value

    @property
    def classes_open(self) -> bool:
        """Whether tablets may play without joining a class with a code."""
        return self.open_class if self.open_class is not None else self.redis_url is None
