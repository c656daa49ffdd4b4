"""Good practice (取組事例): an answer's share flag and the desk's marks.

``answer.shared``: the 所属 ticked 「取組事例として共有する」 on a ◎ answer with a memo (written by the one
writer, app/sheets/writer.py, with the answer; it is false whenever the answer is not ◎ or the memo empty).
``practice_mark``: the desk features (おすすめ) or hides a shared practice, keyed by sheet and item.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('answer') as batch:
        batch.add_column(sa.Column('shared', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'practice_mark',
        sa.Column('sheet_id', sa.Integer(), nullable=False),
        sa.Column('item_key', sa.String(length=100), nullable=False),
        sa.Column('featured', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('hidden', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['sheet_id'], ['sheet.id'], name=op.f('fk_practice_mark_sheet_id_sheet')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_practice_mark_updated_by_id_user')),
        sa.PrimaryKeyConstraint('sheet_id', 'item_key', name=op.f('pk_practice_mark')),
    )
    # The shared practices of an item (a partial index would be smaller, but it is the same on both databases).
    op.create_index('ix_answer_item_shared', 'answer', ['item_key', 'shared'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_answer_item_shared', table_name='answer')
    op.drop_table('practice_mark')
    with op.batch_alter_table('answer') as batch:
        batch.drop_column('shared')
