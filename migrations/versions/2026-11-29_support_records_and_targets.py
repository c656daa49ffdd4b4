"""Support records (伴走支援) with the items they are about, and 所属 targets (目標) per base round.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('support_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('consulted_on', sa.Date(), nullable=False),
    sa.Column('desk_staff', sa.String(length=100), nullable=False),
    sa.Column('contact_person', sa.String(length=100), nullable=False),
    sa.Column('request_message', sa.Text(), nullable=False),
    sa.Column('advice', sa.Text(), nullable=False),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("origin IN ('desk', 'request')", name=op.f('ck_support_record_origin')),
    sa.CheckConstraint("state IN ('received', 'in_progress', 'done')", name=op.f('ck_support_record_state')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_support_record_created_by_id_user')),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_support_record_round_id_round')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_support_record_unit_id_unit')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_support_record_updated_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_record'))
    )
    with op.batch_alter_table('support_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_record_round_id'), ['round_id'], unique=False)
        batch_op.create_index('ix_support_record_state_follow_up', ['state', 'follow_up_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_record_unit_id'), ['unit_id'], unique=False)

    op.create_table('target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('item_key', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('set_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('◎', '○', '△')", name=op.f('ck_target_status_symbol')),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_target_round_id_round')),
    sa.ForeignKeyConstraint(['set_by_id'], ['user.id'], name=op.f('fk_target_set_by_id_user')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_target_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target')),
    sa.UniqueConstraint('unit_id', 'round_id', 'item_key', name=op.f('uq_target_unit_id_round_id_item_key'))
    )
    with op.batch_alter_table('target', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_target_round_id'), ['round_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_target_unit_id'), ['unit_id'], unique=False)

    op.create_table('support_record_item',
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('item_key', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['support_record.id'], name=op.f('fk_support_record_item_record_id_support_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('record_id', 'item_key', name=op.f('pk_support_record_item'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('support_record_item')
    with op.batch_alter_table('target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_target_unit_id'))
        batch_op.drop_index(batch_op.f('ix_target_round_id'))

    op.drop_table('target')
    with op.batch_alter_table('support_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_record_unit_id'))
        batch_op.drop_index('ix_support_record_state_follow_up')
        batch_op.drop_index(batch_op.f('ix_support_record_round_id'))

    op.drop_table('support_record')
