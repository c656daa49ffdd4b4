"""Index on sheet (round_id, bureau_id): a round's sheets of some 部局.

The quick wins name the first 所属 at × of each ☆☆☆ item's ten 部局 with most of them; with this index
SQLite reads only those 部局's sheets of the round (about 500 of 3,000 per item at prefecture scale)
instead of every sheet of the round: the names' query went from 6.6 ms to 3.0 ms; see docs/benchmarks.md.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_sheet_round_bureau', 'sheet', ['round_id', 'bureau_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sheet_round_bureau', table_name='sheet')
