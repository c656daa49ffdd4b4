"""The desk's review of submitted sheets: the latest mark per item (確認済, or 差戻し with its comment). Each
mark is also a sheet_event (kinds review_ok, review_back, review_all: sheet_event.kind is free text).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db  # noqa: F401  (custom column types)

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('sheet_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sheet_id', sa.Integer(), nullable=False),
    sa.Column('item_key', sa.String(length=100), nullable=False),
    sa.Column('mark', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['user.id'], name=op.f('fk_sheet_review_by_id_user')),
    sa.ForeignKeyConstraint(['sheet_id'], ['sheet.id'], name=op.f('fk_sheet_review_sheet_id_sheet')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sheet_review')),
    sa.UniqueConstraint('sheet_id', 'item_key', name=op.f('uq_sheet_review_sheet_id_item_key')),
    )
    with op.batch_alter_table('sheet_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sheet_review_sheet_id'), ['sheet_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('sheet_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sheet_review_sheet_id'))
    op.drop_table('sheet_review')
