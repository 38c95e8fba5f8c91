"""Tables for research consent and the deletion log (SQLAlchemy 2 Core, the shared `metadata`).

Created by migration 0002 (`migrations/versions/0002_consent.py`, `covers_from` by 0004); keep
them in step. Documented
in docs/privacy.md.

- `research_consents`: one row per consent given by an adult (guardian or teacher) for one
  pseudonymous player. A consent is *active* while `withdrawn_at` is NULL. It covers the drawings
  of games that started at or after `covers_from` (`granted_at`, or earlier for a renewal of a
  consent that was still active: `privacy.record_consent`). No foreign key to `players`: consent may be
  recorded before the child's first game reaches the database.
- `deletion_log`: what was deleted, when and why, without the deleted data. `subject_ref` is a
  salted SHA-256 of the player id (`subject_salt` is random per row), so the log can answer "was
  this child's data deleted?" for someone who knows the id, but cannot be listed back into ids.
- `erasure_markers` (migration 0003): one row per deletion request, `subject_key` an unsalted
  SHA-256 of the player id (it must be matched by the results writer) and `erased_at`. A
  finished game of that player that ended at or before `erased_at` is never written afterwards,
  so a game the drainer was carrying at the moment of the deletion cannot bring the child's data
  back.
"""
from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from .tables import TABLE_ARGS, BigId, Millis, metadata

research_consents = sa.Table(
    "research_consents", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("player_id", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(32), nullable=False),
    sa.Column("granted_at", Millis, nullable=False),
    sa.Column("granted_by_role", sa.String(32), nullable=False),  # "guardian" / "teacher"
    sa.Column("granted_by_name", sa.String(128), nullable=True),  # the adult, never the child
    sa.Column("withdrawn_at", Millis, nullable=True),
    sa.Column("withdrawn_by_role", sa.String(32), nullable=True),
    sa.Column("withdrawn_by_name", sa.String(128), nullable=True),
    # Games started at or after this are covered (migration 0004): `granted_at`, or for a
    # consent that renewed an active one, what that one covered. NULL (rows of an older
    # server) reads as `granted_at`.
    sa.Column("covers_from", Millis, nullable=True),
    sa.Index("ix_research_consents_player", "player_id", "withdrawn_at"),
    **TABLE_ARGS,
)

deletion_log = sa.Table(
    "deletion_log", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("deleted_at", Millis, nullable=False),
    # "withdrawal" (drawings only), "erasure" (everything about the player), "retention" (purge)
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("subject_ref", sa.String(64), nullable=True),  # NULL for a purge over many players
    sa.Column("subject_salt", sa.String(32), nullable=True),
    sa.Column("requested_by_role", sa.String(32), nullable=True),
    sa.Column("counts", sa.JSON, nullable=False),  # {"drawings": n, "drawing_strokes": n, ...}
    sa.Index("ix_deletion_log_subject", "subject_ref"),
    **TABLE_ARGS,
)

erasure_markers = sa.Table(
    "erasure_markers", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("subject_key", sa.String(64), nullable=False),
    sa.Column("erased_at", Millis, nullable=False),
    sa.Index("ix_erasure_markers_subject", "subject_key", "erased_at"),
    **TABLE_ARGS,
)


def erasure_subject_key(player_id: str) -> str:
    """The key an erasure marker is found by (see `erasure_markers`)."""
    return hashlib.sha256(f"doodle-erasure:{player_id}".encode()).hexdigest()


def consent_covers_from(rc: Any = research_consents) -> sa.ColumnElement[Any]:
    """SQL: from when the consent row `rc` (the table or an alias) covers games."""
    return sa.func.coalesce(rc.c.covers_from, rc.c.granted_at)
