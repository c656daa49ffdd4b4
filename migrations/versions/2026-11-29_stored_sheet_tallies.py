"""Stored sheet tallies: each sheet's counts per category, kept in step with its answers, so that group
figures over a round read a few thousand rows instead of every answer. Filled from the answers here.

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
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table('sheet_tally')
