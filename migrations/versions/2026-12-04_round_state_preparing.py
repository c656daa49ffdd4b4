"""Round state: a round being prepared (準備中) is stored as 'preparing' instead of 'draft', so that 'draft'
names one thing only: a sheet not yet submitted (入力中). No schema change: the rows that say 'draft' are
updated, both ways.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""UPDATE "round" SET state = 'preparing' WHERE state = 'draft'""")


def downgrade() -> None:
    op.execute("""UPDATE "round" SET state = 'draft' WHERE state = 'preparing'""")
