"""Erasure markers: a deletion request stops games recorded before it from being written later.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Self-contained on purpose: a migration must not change when privacy_tables.py changes later.
Millis = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci",
        "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "erasure_markers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("erased_at", Millis, nullable=False),
        **ARGS,
    )
    op.create_index("ix_erasure_markers_subject", "erasure_markers", ["subject_key", "erased_at"])


def downgrade() -> None:
    op.drop_table("erasure_markers")
