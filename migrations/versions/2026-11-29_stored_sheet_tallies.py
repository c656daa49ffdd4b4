"""Stored sheet tallies: each sheet's counts per category (sheet_tally) and overall (on the sheet row),
kept in step with its answers, so that group figures over rounds read sheets instead of every answer.
Filled from the answers here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db  # noqa: F401  (custom column types)

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO sheet_tally (sheet_id, category, position, total, answered, not_applicable, points)
SELECT s.id, ci.category, MIN(ci.position), COUNT(ci.id),
       SUM(CASE WHEN a.status IN ('◎', '○', '△', '×') THEN 1 ELSE 0 END),
       SUM(CASE WHEN a.status = '該当なし' THEN 1 ELSE 0 END),
       COALESCE(SUM(cp.points), 0)
FROM sheet s
JOIN "round" r ON r.id = s.round_id
JOIN checklist_item ci ON ci.version_id = r.checklist_version_id
LEFT JOIN answer a ON a.sheet_id = s.id AND a.item_key = ci.key
LEFT JOIN checklist_points cp ON cp.version_id = r.checklist_version_id AND cp.status = a.status
GROUP BY s.id, ci.category
"""
SHEET_TOTALS = """
UPDATE sheet SET
  tally_total = (SELECT COALESCE(SUM(t.total), 0) FROM sheet_tally t WHERE t.sheet_id = sheet.id),
  tally_answered = (SELECT COALESCE(SUM(t.answered), 0) FROM sheet_tally t WHERE t.sheet_id = sheet.id),
  tally_not_applicable = (SELECT COALESCE(SUM(t.not_applicable), 0) FROM sheet_tally t WHERE t.sheet_id = sheet.id),
  tally_points = (SELECT COALESCE(SUM(t.points), 0) FROM sheet_tally t WHERE t.sheet_id = sheet.id)
"""
COLUMNS = ("tally_total", "tally_answered", "tally_not_applicable", "tally_points")


def upgrade() -> None:
    op.create_table('sheet_tally',
    sa.Column('sheet_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('not_applicable', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sheet_id'], ['sheet.id'], name=op.f('fk_sheet_tally_sheet_id_sheet')),
    sa.PrimaryKeyConstraint('sheet_id', 'category', name=op.f('pk_sheet_tally'))
    )
    for name in COLUMNS:
        op.add_column('sheet', sa.Column(name, sa.Integer(), server_default='0', nullable=False))
    op.execute(BACKFILL)
    op.execute(SHEET_TOTALS)


def downgrade() -> None:
    op.drop_table('sheet_tally')
    # Plain DROP COLUMN (SQLite ≥ 3.35 and PostgreSQL): a batch copy of `sheet` would trip the
    # foreign keys of the tables that reference it.
    for name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE sheet DROP COLUMN {name}")
