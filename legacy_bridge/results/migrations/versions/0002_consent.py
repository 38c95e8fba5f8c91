"""Research consent and the deletion log: research_consents, deletion_log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Self-contained on purpose: a migration must not change when privacy_tables.py changes later.
Millis = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci",
        "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "research_consents",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("player_id", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("granted_at", Millis, nullable=False),
        sa.Column("granted_by_role", sa.String(32), nullable=False),
        sa.Column("granted_by_name", sa.String(128), nullable=True),
        sa.Column("withdrawn_at", Millis, nullable=True),
        sa.Column("withdrawn_by_role", sa.String(32), nullable=True),
        sa.Column("withdrawn_by_name", sa.String(128), nullable=True),
        **ARGS,
    )
    op.create_index("ix_research_consents_player", "research_consents",
                    ["player_id", "withdrawn_at"])
    op.create_table(
        "deletion_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("deleted_at", Millis, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("subject_ref", sa.String(64), nullable=True),
        sa.Column("subject_salt", sa.String(32), nullable=True),
        sa.Column("requested_by_role", sa.String(32), nullable=True),
        sa.Column("counts", sa.JSON, nullable=False),
        **ARGS,
    )
    op.create_index("ix_deletion_log_subject", "deletion_log", ["subject_ref"])


def downgrade() -> None:
    op.drop_table("deletion_log")
    op.drop_table("research_consents")
