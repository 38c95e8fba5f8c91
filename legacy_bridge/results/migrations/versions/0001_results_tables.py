"""Results tables: players, games, stages, stage_guesses, drawings, drawing_strokes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Self-contained on purpose: a migration must not change when tables.py changes later.
Millis = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci",
        "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "players",
        sa.Column("player_id", sa.String(64), primary_key=True),
        sa.Column("age_band", sa.String(8), nullable=True),
        sa.Column("first_seen_at", Millis, nullable=False),
        sa.Column("last_seen_at", Millis, nullable=False),
        **ARGS,
    )
    op.create_table(
        "games",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("game_id", sa.String(64), nullable=False),
        sa.Column("player_id", sa.String(64), nullable=False),
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
        sa.UniqueConstraint("game_id", name="uq_games_game_id"),
        sa.ForeignKeyConstraint(["player_id"], ["players.player_id"], ondelete="CASCADE",
                                name="fk_games_player"),
        **ARGS,
    )
    op.create_index("ix_games_category_started", "games", ["category", "started_at"])
    op.create_index("ix_games_player", "games", ["player_id"])
    op.create_table(
        "stages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("game_id", sa.String(64), nullable=False),
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
        sa.ForeignKeyConstraint(["game_id"], ["games.game_id"], ondelete="CASCADE",
                                name="fk_stages_game"),
        **ARGS,
    )
    op.create_index("ix_stages_label", "stages", ["label"])
    op.create_table(
        "stage_guesses",
        sa.Column("stage_id", BigId, primary_key=True),
        sa.Column("snapshot_index", sa.Integer, primary_key=True),
        sa.Column("guess_rank", sa.SmallInteger, primary_key=True),
        sa.Column("t_ms", sa.Integer, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], ondelete="CASCADE",
                                name="fk_stage_guesses_stage"),
        **ARGS,
    )
    op.create_table(
        "drawings",
        sa.Column("stage_id", BigId, primary_key=True),
        sa.Column("canvas_width", sa.Integer, nullable=True),
        sa.Column("canvas_height", sa.Integer, nullable=True),
        sa.Column("stroke_count", sa.Integer, nullable=False),
        sa.Column("point_count", sa.Integer, nullable=False),
        sa.Column("first_t_ms", sa.Integer, nullable=True),
        sa.Column("last_t_ms", sa.Integer, nullable=True),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], ondelete="CASCADE",
                                name="fk_drawings_stage"),
        **ARGS,
    )
    op.create_table(
        "drawing_strokes",
        sa.Column("stage_id", BigId, primary_key=True),
        sa.Column("stroke_index", sa.Integer, primary_key=True),
        sa.Column("t_start_ms", sa.Integer, nullable=False),
        sa.Column("t_end_ms", sa.Integer, nullable=False),
        sa.Column("point_count", sa.Integer, nullable=False),
        sa.Column("points", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["stage_id"], ["drawings.stage_id"], ondelete="CASCADE",
                                name="fk_drawing_strokes_drawing"),
        **ARGS,
    )


def downgrade() -> None:
    for table in ("drawing_strokes", "drawings", "stage_guesses", "stages", "games", "players"):
        op.drop_table(table)
