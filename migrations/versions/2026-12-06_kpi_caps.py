"""Caps per 部局 (issue 13.3): kpi_cap, a cap on a "lower is better" count (コピー用紙購入枚数) for one 部局
over one fiscal year, set by the desk; changes are recorded in audit_event (kind ``kpi_cap``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'kpi_cap',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fiscal_year', sa.Integer(), nullable=False),
        sa.Column('figure_key', sa.String(length=100), nullable=False),
        sa.Column('bureau_id', sa.Integer(), nullable=False),
        sa.Column('cap', sa.BigInteger(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('cap > 0', name=op.f('ck_kpi_cap_cap_positive')),
        sa.ForeignKeyConstraint(['bureau_id'], ['unit.id'], name=op.f('fk_kpi_cap_bureau_id_unit')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_kpi_cap_updated_by_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_cap')),
        sa.UniqueConstraint('fiscal_year', 'figure_key', 'bureau_id',
                            name=op.f('uq_kpi_cap_fiscal_year_figure_key_bureau_id')),
    )


def downgrade() -> None:
    op.drop_table('kpi_cap')
