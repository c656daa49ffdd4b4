"""Index on sheet (round_id, bureau_id, state, tally_answered, tally_not_applicable, tally_total, unit_id):
a round's sheets of some 部局, covering what the desk's per-部局 counts read.

The quick wins name the first 所属 at × of each ☆☆☆ item's ten 部局 with most of them; with this index
SQLite reads only those 部局's sheets of the round (about 500 of 3,000 per item at prefecture scale)
instead of every sheet of the round: the names' query went from 6.6 ms to 2.8 ms at 3,000 所属 × 20
rounds. The progress counts (未着手 / 入力中 / 提出済 per 部局) and the pooled completion per 部局 become
index-only scans in 部局 and state order: 1.4 ms to 0.6 ms and 0.6 ms to 0.5 ms; see docs/benchmarks.md.
Every save changes the tally columns, so it updates one more index entry.

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
    op.create_index('ix_sheet_round_bureau', 'sheet', ['round_id', 'bureau_id', 'state', 'tally_answered',
                                                   'tally_not_applicable', 'tally_total', 'unit_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sheet_round_bureau', table_name='sheet')
