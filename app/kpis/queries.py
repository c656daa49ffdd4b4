"""SQL for the desk's figures: sums per 所属 and per 部局 over a period, with the 職員数 of the 所属 that
reported, and the 所属's ratings of linked items in a round. Each returns small typed rows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, select
from sqlmodel import Session

from app.kpis.models import KpiValue
from app.orgs.models import Unit
from app.sheets.models import Answer, Sheet


@dataclass(frozen=True)
class GroupSum:
    bureau_id: int
    key: str
    units: int  # 所属 with at least one value in the period
    total: int
    with_staff: int  # the sum over the 所属 whose 職員数 is known
    staff: int  # their 職員数


def bureau_sums(session: Session, keys: Collection[str], start: date, end: date, staff_key: str | None,
                staff_month: date) -> list[GroupSum]:
    """Per 部局 (the 所属's parent) and figure: the 所属 that reported, the sum, and for per-employee
    figures the sum and the 職員数 of the 所属 that also reported their 職員数 (one grouped statement per
    figure: ``figure_key = ?`` lets both databases range-scan ix_kpi_value_figure_month, where an IN list
    of figures made SQLite skip-scan the unique index)."""
    staff = (select(KpiValue.unit_id, KpiValue.value.label("staff"))
             .where(KpiValue.figure_key == (staff_key or ""), KpiValue.month == staff_month,
                    KpiValue.value > 0).subquery())
    found = []
    for key in sorted(set(keys)):
        per_unit = (select(KpiValue.unit_id, func.sum(KpiValue.value).label("v"))
                    .where(KpiValue.figure_key == key, KpiValue.month >= start, KpiValue.month <= end,
                           KpiValue.value.is_not(None))
                    .group_by(KpiValue.unit_id).subquery())
        query = (select(Unit.parent_id, func.count(), func.sum(per_unit.c.v),
                        func.sum(case((staff.c.staff.is_not(None), per_unit.c.v), else_=0)), func.sum(staff.c.staff))
                 .select_from(per_unit).join(Unit, Unit.id == per_unit.c.unit_id)
                 .outerjoin(staff, staff.c.unit_id == per_unit.c.unit_id)
                 .group_by(Unit.parent_id))
        found += [GroupSum(b, key, n, int(t or 0), int(w or 0), int(s or 0)) for b, n, t, w, s in session.execute(query)]
    return found


def unit_sums(session: Session, keys: Collection[str], start: date, end: date) -> dict[tuple[int, str], int]:
    """(所属 id, figure key) → the sum over the period (one statement per figure, as ``bureau_sums``)."""
    found = {}
    for key in sorted(set(keys)):
        query = (select(KpiValue.unit_id, func.sum(KpiValue.value))
                 .where(KpiValue.figure_key == key, KpiValue.month >= start, KpiValue.month <= end,
                        KpiValue.value.is_not(None))
                 .group_by(KpiValue.unit_id))
        found |= {(u, key): int(v) for u, v in session.execute(query)}
    return found


def unit_values(session: Session, key: str, month: date) -> dict[int, int]:
    """所属 id → the value of one figure in one month (a yearly figure: its April)."""
    query = select(KpiValue.unit_id, KpiValue.value).where(and_(KpiValue.figure_key == key, KpiValue.month == month,
                                                                KpiValue.value.is_not(None)))
    return {u: int(v) for u, v in session.execute(query)}


def ratings(session: Session, round_id: int, item_keys: Collection[str], statuses: Collection[str]
            ) -> dict[tuple[int, str], str]:
    """(所属 id, item key) → status, for the 所属's answers in ``statuses`` of ``item_keys`` in a round."""
    query = (select(Sheet.unit_id, Answer.item_key, Answer.status).join(Sheet, Sheet.id == Answer.sheet_id)
             .where(Sheet.round_id == round_id, Answer.item_key.in_(list(item_keys)),
                    Answer.status.in_(list(statuses))))
    return {(u, k): s for u, k, s in session.execute(query)}
