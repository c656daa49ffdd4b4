"""Scheduled reorganisations: a 組織改正 CSV uploaded ahead of its effective date, applied when the date comes
(at start-up and by `paperless reorg-apply-due`) or cancelled before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scheduled_reorg',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('done_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_by_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.CheckConstraint("state IN ('scheduled', 'applied', 'cancelled', 'failed')",
                       name=op.f('ck_scheduled_reorg_state')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_scheduled_reorg_created_by_id_user')),
    sa.ForeignKeyConstraint(['done_by_id'], ['user.id'], name=op.f('fk_scheduled_reorg_done_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_reorg'))
    )
    with op.batch_alter_table('scheduled_reorg', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduled_reorg_effective_on'), ['effective_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scheduled_reorg', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_reorg_effective_on'))
    op.drop_table('scheduled_reorg')
