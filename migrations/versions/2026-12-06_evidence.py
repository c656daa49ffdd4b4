"""Evidence on an answer (根拠資料, issue 14.1): links and files (bytes in the database), one row each; a removal
keeps the row (removed_at, removed_by_id) without its bytes, so history says what was there. Adding and removing
are sheet_event rows (kinds evidence_add, evidence_remove: sheet_event.kind is free text).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'answer_evidence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sheet_id', sa.Integer(), nullable=False),
        sa.Column('item_key', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('url', sa.Text(), nullable=False, server_default=''),
        sa.Column('label', sa.String(length=200), nullable=False, server_default=''),
        sa.Column('filename', sa.String(length=255), nullable=False, server_default=''),
        sa.Column('content_type', sa.String(length=100), nullable=False, server_default=''),
        sa.Column('size', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('sha256', sa.String(length=64), nullable=False, server_default=''),
        sa.Column('data', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('removed_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('removed_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('link', 'file')", name=op.f('ck_answer_evidence_kind')),
        sa.ForeignKeyConstraint(['sheet_id'], ['sheet.id'], name=op.f('fk_answer_evidence_sheet_id_sheet')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_answer_evidence_created_by_id_user')),
        sa.ForeignKeyConstraint(['removed_by_id'], ['user.id'], name=op.f('fk_answer_evidence_removed_by_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_evidence')),
    )
    op.create_index('ix_answer_evidence_sheet_item', 'answer_evidence', ['sheet_id', 'item_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_answer_evidence_sheet_item', table_name='answer_evidence')
    op.drop_table('answer_evidence')
