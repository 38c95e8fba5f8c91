"""The results tables (SQLAlchemy 2 Core). The schema itself is created by the Alembic migrations
in `migrations/`; keep both in step. Documented for the school's reporting in docs/database.md.

Times are UTC, stored as DATETIME(3) (milliseconds). Text is utf8mb4 (Korean names).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# DATETIME with milliseconds on MariaDB; SQLite keeps the full value anyway.
Millis = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

metadata = sa.MetaData()
TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci",
              "mysql_engine": "InnoDB"}

players = sa.Table(
    "players", metadata,
    sa.Column("player_id", sa.String(64), primary_key=True),
    sa.Column("age_band", sa.String(8), nullable=True),
    sa.Column("first_seen_at", Millis, nullable=False),
    sa.Column("last_seen_at", Millis, nullable=False),
    **TABLE_ARGS,
)

games = sa.Table(
    "games", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("game_id", sa.String(64), nullable=False, unique=True),
    sa.Column("player_id", sa.String(64),
              sa.ForeignKey("players.player_id", ondelete="CASCADE"), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("class_code", sa.String(64), nullable=True),
    sa.Column("age_band", sa.String(8), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("started_at", Millis, nullable=False),
    sa.Column("ended_at", Millis, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("stage_count", sa.Integer, nullable=False),
    sa.Column("recognized_count", sa.Integer, nullable=False),
    sa.Column("extra", sa.JSON, nullable=True),
    sa.Column("recorded_at", Millis, nullable=False),
    sa.Index("ix_games_category_started", "category", "started_at"),
    sa.Index("ix_games_player", "player_id"),
    **TABLE_ARGS,
)

stages = sa.Table(
    "stages", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("game_id", sa.String(64),
              sa.ForeignKey("games.game_id", ondelete="CASCADE"), nullable=False),
    sa.Column("stage_index", sa.Integer, nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("name_ko", sa.String(128), nullable=False),
    sa.Column("name_en", sa.String(128), nullable=False),
    sa.Column("time_limit_s", sa.Float, nullable=False),
    sa.Column("started_at", Millis, nullable=False),
    sa.Column("ended_at", Millis, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("recognized", sa.Boolean, nullable=False),
    sa.Column("time_to_recognize_ms", sa.Integer, nullable=True),
    sa.Column("final_guesses", sa.JSON, nullable=True),
    sa.UniqueConstraint("game_id", "stage_index", name="uq_stages_game_stage"),
    sa.Index("ix_stages_label", "label"),
    **TABLE_ARGS,
)

stage_guesses = sa.Table(
    "stage_guesses", metadata,
    sa.Column("stage_id", BigId, sa.ForeignKey("stages.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("snapshot_index", sa.Integer, primary_key=True),
    sa.Column("guess_rank", sa.SmallInteger, primary_key=True),
    sa.Column("t_ms", sa.Integer, nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    **TABLE_ARGS,
)

drawings = sa.Table(
    "drawings", metadata,
    sa.Column("stage_id", BigId, sa.ForeignKey("stages.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("canvas_width", sa.Integer, nullable=True),
    sa.Column("canvas_height", sa.Integer, nullable=True),
    sa.Column("stroke_count", sa.Integer, nullable=False),
    sa.Column("point_count", sa.Integer, nullable=False),
    sa.Column("first_t_ms", sa.Integer, nullable=True),
    sa.Column("last_t_ms", sa.Integer, nullable=True),
    **TABLE_ARGS,
)

drawing_strokes = sa.Table(
    "drawing_strokes", metadata,
    sa.Column("stage_id", BigId, sa.ForeignKey("drawings.stage_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("stroke_index", sa.Integer, primary_key=True),
    sa.Column("t_start_ms", sa.Integer, nullable=False),
    sa.Column("t_end_ms", sa.Integer, nullable=False),
    sa.Column("point_count", sa.Integer, nullable=False),
    # [[x, y, t_ms], ...] in canvas pixels, t since the stage started
    sa.Column("points", sa.JSON, nullable=False),
    **TABLE_ARGS,
)
