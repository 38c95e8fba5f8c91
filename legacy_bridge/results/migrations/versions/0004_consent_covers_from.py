"""Consent coverage survives a renewal: `research_consents.covers_from`.

A consent recorded while another is active supersedes it and keeps what it covered (its
`covers_from`); a consent recorded while none is active covers from its own `granted_at`.
Existing rows get `covers_from = granted_at` (what they covered until now: a renewal recorded
before this migration is not widened after the fact).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Self-contained on purpose: a migration must not change when privacy_tables.py changes later.
Millis = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def upgrade() -> None:
    # Nullable: a row written by an older server during a rolling update has no value, and the
    # code reads COALESCE(covers_from, granted_at) (the old rule) for it.
    op.add_column("research_consents", sa.Column("covers_from", Millis, nullable=True))
    op.execute("UPDATE research_consents SET covers_from = granted_at")


def downgrade() -> None:
    with op.batch_alter_table("research_consents") as batch:
        batch.drop_column("covers_from")
