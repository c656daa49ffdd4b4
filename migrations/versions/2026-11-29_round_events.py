"""Round events: a round's own history (created, opened, closed, reopened with the reason).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('round_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_round_event_actor_id_user')),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_round_event_round_id_round')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_round_event'))
    )
    with op.batch_alter_table('round_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_event_round_id'), ['round_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('round_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_event_round_id'))
    op.drop_table('round_event')
