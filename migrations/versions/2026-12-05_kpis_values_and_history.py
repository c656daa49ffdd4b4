"""Measured figures (実績値, issue 13): kpi_version (definition files in use), kpi_value (one figure of one
所属 for one month, versioned for optimistic locking), kpi_event (their history), kpi_upload (a bulk
import's file, kept between its column mapping, preview and apply).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db  # noqa: F401  (custom column types)

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('kpi_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('set_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('published_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_version')),
    sa.UniqueConstraint('set_id', 'version', name=op.f('uq_kpi_version_set_id_version'))
    )
    op.create_table('kpi_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('figure_key', sa.String(length=100), nullable=False),
    sa.Column('old_value', sa.BigInteger(), nullable=True),
    sa.Column('new_value', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_kpi_event_actor_id_user')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_kpi_event_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_event'))
    )
    with op.batch_alter_table('kpi_event', schema=None) as batch_op:
        batch_op.create_index('ix_kpi_event_unit_month', ['unit_id', 'month'], unique=False)

    op.create_table('kpi_value',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('figure_key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kpi_version_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('value IS NULL OR value >= 0', name=op.f('ck_kpi_value_value_not_negative')),
    sa.ForeignKeyConstraint(['kpi_version_id'], ['kpi_version.id'], name=op.f('fk_kpi_value_kpi_version_id_kpi_version')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_kpi_value_unit_id_unit')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_kpi_value_updated_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_value')),
    sa.UniqueConstraint('unit_id', 'month', 'figure_key', name=op.f('uq_kpi_value_unit_id_month_figure_key'))
    )
    with op.batch_alter_table('kpi_value', schema=None) as batch_op:
        batch_op.create_index('ix_kpi_value_figure_month', ['figure_key', 'month', 'unit_id', 'value'], unique=False)

    op.create_table('kpi_upload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('applied_values', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_kpi_upload_created_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_upload'))
    )


def downgrade() -> None:
    op.drop_table('kpi_upload')
    with op.batch_alter_table('kpi_value', schema=None) as batch_op:
        batch_op.drop_index('ix_kpi_value_figure_month')

    op.drop_table('kpi_value')
    with op.batch_alter_table('kpi_event', schema=None) as batch_op:
        batch_op.drop_index('ix_kpi_event_unit_month')

    op.drop_table('kpi_event')
    op.drop_table('kpi_version')
