"""Session generation: each user's number that every session cookie of theirs must match. Sign-out, disabling,
a role change and the admin's 「この利用者のセッションをすべて終了」 raise it, which ends all their sessions at
once. Existing rows start at 0, as do cookies from before this revision (they carry no generation).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('user', sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite ≥ 3.35 and PostgreSQL): a batch copy of `user` would trip the foreign keys
    # of the tables that reference it.
    op.execute('ALTER TABLE "user" DROP COLUMN session_generation')
