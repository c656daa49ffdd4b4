"""Group tallies: per round, 部局 (and the whole prefecture, bureau_id 0) and sheet state, how many 所属
have each maturity (overall and per category: maturity_tally) and each status of each item
(item_tally); each sheet's quick wins (☆ items at △ and at ×) on its row; and the figures of the groups
of closed rounds (group_figure). Kept by the sheet writer from now on; filled here from the stored
sheet tallies and the answers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

"""
from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db  # noqa: F401  (custom column types)

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFECTURE = 0
NO_MATURITY = -1
QUICK = """
UPDATE sheet SET {column} = (
  SELECT COUNT(*) FROM answer a
  JOIN "round" r ON r.id = sheet.round_id
  JOIN checklist_item ci ON ci.version_id = r.checklist_version_id AND ci.key = a.item_key
  WHERE a.sheet_id = sheet.id AND ci.difficulty = 1 AND a.status = '{status}')
"""
ITEMS = """
INSERT INTO item_tally (round_id, bureau_id, state, item_key, status, sections)
SELECT s.round_id, {bureau}, s.state, a.item_key, COALESCE(a.status, ''), COUNT(*)
FROM answer a JOIN sheet s ON s.id = a.sheet_id
GROUP BY s.round_id, {group_by}s.state, a.item_key, COALESCE(a.status, '')
"""
COLUMNS = ("tally_quick_fair", "tally_quick_not_done")


def maturity_x10(points: int, answered: int, top: int) -> int:
    """As app.sheets.tallies.maturity_x10 (round(maturity, 1) × 10), frozen here with the migration."""
    if answered <= 0:
        return NO_MATURITY
    return round(round(points / (top * answered) * 100, 1) * 10)


def upgrade() -> None:
    op.create_table('item_tally',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('bureau_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('item_key', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('sections', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_item_tally_round_id_round')),
    sa.PrimaryKeyConstraint('round_id', 'bureau_id', 'item_key', 'status', 'state', name=op.f('pk_item_tally'))
    )
    op.create_index('ix_item_tally_round_item', 'item_tally', ['round_id', 'item_key', 'status', 'bureau_id', 'sections'])
    op.create_table('maturity_tally',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('bureau_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('maturity_x10', sa.Integer(), nullable=False),
    sa.Column('sections', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_maturity_tally_round_id_round')),
    sa.PrimaryKeyConstraint('round_id', 'bureau_id', 'category', 'maturity_x10', 'state',
                            name=op.f('pk_maturity_tally'))
    )
    op.create_index('ix_maturity_tally_round_category', 'maturity_tally',
                    ['round_id', 'category', 'bureau_id', 'maturity_x10', 'state', 'sections'])
    op.create_table('group_figure',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('bureau_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('sections', sa.Integer(), nullable=False),
    sa.Column('scored', sa.Integer(), nullable=False),
    sa.Column('tenths', sa.Integer(), nullable=False),
    sa.Column('minimum', sa.Float(), nullable=True),
    sa.Column('q1', sa.Float(), nullable=True),
    sa.Column('median', sa.Float(), nullable=True),
    sa.Column('q3', sa.Float(), nullable=True),
    sa.Column('maximum', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_group_figure_round_id_round')),
    sa.PrimaryKeyConstraint('round_id', 'bureau_id', 'category', name=op.f('pk_group_figure'))
    )
    for name in COLUMNS:
        op.add_column('sheet', sa.Column(name, sa.Integer(), server_default='0', nullable=False))
    op.execute(QUICK.format(column="tally_quick_fair", status="△"))
    op.execute(QUICK.format(column="tally_quick_not_done", status="×"))
    op.execute(ITEMS.format(bureau="s.bureau_id", group_by="s.bureau_id, "))
    op.execute(ITEMS.format(bureau=PREFECTURE, group_by=""))
    conn = op.get_bind()
    _fill_maturity(conn)
    _fill_figures(conn)


def _fill_maturity(conn) -> None:
    top = dict(conn.execute(sa.text(
        'SELECT r.id, MAX(cp.points) FROM "round" r JOIN checklist_points cp ON cp.version_id = r.checklist_version_id '
        'GROUP BY r.id')).all())
    counts: Counter = Counter()
    rows = conn.execute(sa.text(
        "SELECT s.round_id, s.bureau_id, s.state, '', s.tally_answered, s.tally_points FROM sheet s "
        "UNION ALL SELECT s.round_id, s.bureau_id, s.state, t.category, t.answered, t.points "
        "FROM sheet_tally t JOIN sheet s ON s.id = t.sheet_id"))
    for round_id, bureau_id, state, category, answered, points in rows:
        value = maturity_x10(points, answered, top.get(round_id) or 3)
        for scope in (PREFECTURE, bureau_id):
            counts[(round_id, scope, state, category, value)] += 1
    table = sa.table('maturity_tally', *(sa.column(c) for c in (
        'round_id', 'bureau_id', 'state', 'category', 'maturity_x10', 'sections')))
    values = [{"round_id": r, "bureau_id": b, "state": s, "category": c, "maturity_x10": m, "sections": n}
              for (r, b, s, c, m), n in sorted(counts.items())]
    for start in range(0, len(values), 10_000):
        conn.execute(table.insert(), values[start:start + 10_000])


def _fill_figures(conn) -> None:
    """The figures of every group of every closed round, as app.sheets.figures computes them (frozen
    here with the migration): size, 所属 with a maturity, their sum in tenths, the five numbers."""
    closed = [r for (r,) in conn.execute(sa.text('SELECT id FROM "round" WHERE state = \'closed\''))]
    if not closed:
        return
    histogram: dict = {}
    query = sa.text(
        "SELECT round_id, bureau_id, category, maturity_x10, SUM(sections) FROM maturity_tally "
        "WHERE round_id IN :closed GROUP BY round_id, bureau_id, category, maturity_x10 ORDER BY maturity_x10"
    ).bindparams(sa.bindparam("closed", expanding=True))
    rows = conn.execute(query, {"closed": closed})
    for round_id, bureau_id, category, tenths, count in rows:
        if count:
            histogram.setdefault((round_id, bureau_id, category), []).append((tenths, int(count)))
    table = sa.table('group_figure', *(sa.column(c) for c in (
        'round_id', 'bureau_id', 'category', 'sections', 'scored', 'tenths', 'minimum', 'q1', 'median', 'q3',
        'maximum')))
    values = []
    for (round_id, bureau_id, category), pairs in histogram.items():
        scored = sorted(v / 10 for v, n in pairs if v >= 0 for _ in range(n))
        values.append({"round_id": round_id, "bureau_id": bureau_id, "category": category,
                       "sections": sum(n for _, n in pairs), "scored": len(scored),
                       "tenths": sum(v * n for v, n in pairs if v >= 0), **_five(scored)})
    for start in range(0, len(values), 10_000):
        conn.execute(table.insert(), values[start:start + 10_000])


def _five(data: list[float]) -> dict:
    """As app.scoring.rules.five_numbers (QUARTILE.INC, rounded to 0.1), frozen here."""
    if not data:
        return dict.fromkeys(("minimum", "q1", "median", "q3", "maximum"))

    def at(fraction: float) -> float:
        pos = (len(data) - 1) * fraction
        low = int(pos)
        high = min(low + 1, len(data) - 1)
        return round(data[low] + (data[high] - data[low]) * (pos - low), 1)

    return {"minimum": round(data[0], 1), "q1": at(0.25), "median": at(0.5), "q3": at(0.75),
            "maximum": round(data[-1], 1)}


def downgrade() -> None:
    op.drop_table('group_figure')
    op.drop_table('maturity_tally')
    op.drop_table('item_tally')
    # Plain DROP COLUMN (SQLite ≥ 3.35 and PostgreSQL): a batch copy of `sheet` would trip the
    # foreign keys of the tables that reference it.
    for name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE sheet DROP COLUMN {name}")
