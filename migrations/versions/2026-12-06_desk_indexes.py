"""Covering indexes for the desk's figures at prefecture scale (issue 9).

* ``ix_sheet_round_bureau`` also holds the sheet's points and quick-win counts, so the quick wins'
  candidates (``figures.quick_win_tallies``: a round's sheets with a ☆ item at △ or ×) are read from the
  index alone instead of every sheet row of the round (3,000 table look-ups at prefecture scale).
* ``ix_item_tally_round_item`` gains the sheet state before the 部局, so the per-部局 counts of an item
  (``figures.bureau_counts``: the quick wins' ☆☆☆ items, counted over submitted sheets while a round is open)
  are read from the index alone instead of looking up every row for its state.

Both replace an index of the same name: no index more for a save to update. On SQLite a database with
planner statistics (``sqlite_stat1``: ``paperless demo`` makes them after a bulk load) gets them again for
the two tables: a recreated index without its statistics looked cheaper than it is to SQLite's planner,
which then read the shared practices' hints through every sheet of every round (1.2 s instead of 0.1 ms).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHEET_BEFORE = ['round_id', 'bureau_id', 'state', 'tally_answered', 'tally_not_applicable', 'tally_total', 'unit_id']
SHEET_AFTER = [*SHEET_BEFORE, 'tally_points', 'tally_quick_fair', 'tally_quick_not_done']
ITEM_BEFORE = ['round_id', 'item_key', 'status', 'bureau_id', 'sections']
ITEM_AFTER = ['round_id', 'item_key', 'status', 'state', 'bureau_id', 'sections']


def upgrade() -> None:
    op.drop_index('ix_sheet_round_bureau', table_name='sheet')
    op.create_index('ix_sheet_round_bureau', 'sheet', SHEET_AFTER, unique=False)
    op.drop_index('ix_item_tally_round_item', table_name='item_tally')
    op.create_index('ix_item_tally_round_item', 'item_tally', ITEM_AFTER, unique=False)
    _statistics_again()


def _statistics_again() -> None:
    """SQLite: the planner statistics of the two tables, when the database has any."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL keeps statistics per column, not per index
    if bind.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is None:
        return
    for table in ("sheet", "item_tally"):
        bind.execute(sa.text(f"ANALYZE {table}"))


def downgrade() -> None:
    op.drop_index('ix_item_tally_round_item', table_name='item_tally')
    op.create_index('ix_item_tally_round_item', 'item_tally', ITEM_BEFORE, unique=False)
    op.drop_index('ix_sheet_round_bureau', table_name='sheet')
    op.create_index('ix_sheet_round_bureau', 'sheet', SHEET_BEFORE, unique=False)
    _statistics_again()
