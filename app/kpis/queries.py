"""SQL for the desk's figures: sums per 部局 over a fiscal year with the 職員数 of the 所属 that reported, and
the 所属 whose figure is in the lowest or highest quarter while their rating of a linked item says the
opposite. Both read ``kpi_tally`` (one row per 所属, fiscal year and figure). Each returns small typed rows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Float, and_, case, cast, func, literal, literal_column, or_, select, true
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.kpis.models import KpiTally
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


def bureau_sums(session: Session, keys: Collection[str], fy: int, staff_key: str | None,
                staffed: Collection[str] = (), *, bureau_id: int | None = None,
                prefecture: bool = False, in_force_on: date | None = None) -> list[GroupSum]:
    """Per 部局 (the 所属's parent today) and figure, over a fiscal year: the 所属 that reported and the sum;
    for the ``staffed`` (per-employee) figures also the sum and the 職員数 of the 所属 that reported their
    職員数 that year (``staff_key``). Grouped statements over ``kpi_tally`` (about 3,000 rows a figure,
    index-only through ix_kpi_tally_figure_year), not over every month's values; the 職員数 is looked up
    only for the figures that need it. ``bureau_id``: that 部局 only (its 所属 through ix_unit_parent_id,
    then their tally rows by primary key); ``prefecture``: one row per figure over every 所属 (bureau_id
    0, no join to ``unit``); ``in_force_on``: only the 所属 not closed by that day (``closed_unit_sums`` gives the
    others, to be counted under their successors' 部局)."""
    with_staff = sorted(set(keys) & set(staffed)) if staff_key else []
    plain = sorted(set(keys) - set(with_staff))
    group = literal_column("0") if prefecture else Unit.parent_id
    found = []
    for names, per_employee in ((with_staff, True), (plain, False)):
        if not names:
            continue
        columns = [group, KpiTally.figure_key, func.count(), func.sum(KpiTally.total)]
        query = select().select_from(KpiTally)
        if not prefecture:
            query = query.join(Unit, Unit.id == KpiTally.unit_id)
        if bureau_id is not None:
            query = query.where(Unit.parent_id == bureau_id)
        if in_force_on is not None and not prefecture:
            query = query.where(or_(Unit.valid_to.is_(None), Unit.valid_to > in_force_on))
        if per_employee:
            staff = aliased(KpiTally)
            columns += [func.sum(case((staff.total.is_not(None), KpiTally.total), else_=0)), func.sum(staff.total)]
            query = query.outerjoin(staff, and_(staff.unit_id == KpiTally.unit_id, staff.fiscal_year == fy,
                                                staff.figure_key == staff_key, staff.months > 0, staff.total > 0))
        query = (query.add_columns(*columns)
                 .where(KpiTally.figure_key.in_(names), KpiTally.fiscal_year == fy, KpiTally.months > 0)
                 .group_by(*([] if prefecture else [Unit.parent_id]), KpiTally.figure_key))
        for b, k, n, t, *staffing in session.execute(query):
            w, s = staffing or (0, 0)
            found.append(GroupSum(b, k, n, int(t or 0), int(w or 0), int(s or 0)))
    return found


@dataclass(frozen=True)
class UnitSum:
    unit_id: int
    key: str
    total: int
    staff: int | None  # the 所属's 職員数 that year (None: not reported or not asked for)


def closed_unit_sums(session: Session, keys: Collection[str], fy: int, staff_key: str | None,
                     closed_by: date) -> list[UnitSum]:
    """The fiscal year's totals of the 所属 closed by ``closed_by`` (a reorganisation's predecessors: few or
    none), one row per 所属 and figure, with their 職員数 when ``staff_key`` is given."""
    staff = aliased(KpiTally)
    columns = [KpiTally.unit_id, KpiTally.figure_key, KpiTally.total]
    # from the closed 所属 (few) to their tally rows by primary key, not every 所属's tally rows of the keys to
    # their 所属: an IN over a subquery, which the planners read first
    closed = select(Unit.id).where(Unit.valid_to.is_not(None), Unit.valid_to <= closed_by)
    query = select(*columns, staff.total if staff_key else literal(None))
    if staff_key:
        query = query.outerjoin(staff, and_(staff.unit_id == KpiTally.unit_id, staff.fiscal_year == fy,
                                            staff.figure_key == staff_key, staff.months > 0, staff.total > 0))
    query = query.where(KpiTally.unit_id.in_(closed), KpiTally.figure_key.in_(sorted(keys)),
                        KpiTally.fiscal_year == fy, KpiTally.months > 0)
    return [UnitSum(u, k, int(t or 0), int(s) if s else None) for u, k, t, s in session.execute(query)]


@dataclass(frozen=True)
class Outlier:
    unit_id: int
    item_key: str
    status: str
    value: float
    low_edge: float  # the highest value of the lowest quarter
    high_edge: float  # the lowest value of the highest quarter
    compared: int  # 所属 with a value


def outliers(session: Session, fy: int, parts: tuple[str, str | None, tuple[str, ...]], staff_key: str | None,
             round_id: int, item_keys: Collection[str], low_statuses: Collection[str],
             high_statuses: Collection[str]) -> list[Outlier]:
    """The 所属 whose value of one figure over a fiscal year is in its lowest quarter while they rated a
    linked item in ``low_statuses`` in the round, or in its highest quarter while rating it in
    ``high_statuses``: one statement. ``parts``: a count's key, or a ratio's (numerator, denominator,
    subtracted keys) (ratio = numerator ÷ (denominator − subtracted) × 100, 所属 with base ≤ 0 left out);
    ``staff_key``: divided by the 所属's 職員数 (those without one left out). The quarters come from NTILE(4)
    over the 所属 with a value (the first tile holds ⌈n/4⌉ 所属, as the quarter is counted); 所属 equal to
    an edge count as inside."""
    key, denominator, subtract = parts
    keys = {key, *([denominator] if denominator else []), *subtract, *([staff_key] if staff_key else [])}

    def part(k: str):
        return func.sum(case((KpiTally.figure_key == k, KpiTally.total)))

    per_unit = (select(KpiTally.unit_id.label("unit_id"), part(key).label("num"),
                       (part(denominator) if denominator else literal(None)).label("den"),
                       (func.sum(case((KpiTally.figure_key.in_(subtract), KpiTally.total), else_=0)) if subtract
                        else literal(0)).label("sub"),
                       (part(staff_key) if staff_key else literal(None)).label("staff"))
                .where(KpiTally.fiscal_year == fy, KpiTally.figure_key.in_(sorted(keys)), KpiTally.months > 0)
                .group_by(KpiTally.unit_id).cte("per_unit"))
    value = cast(per_unit.c.num, Float)
    have = [per_unit.c.num.is_not(None)]
    if denominator:
        value = value / (per_unit.c.den - per_unit.c.sub) * 100
        have += [per_unit.c.den.is_not(None), per_unit.c.den - per_unit.c.sub > 0]
    if staff_key:
        value = value / per_unit.c.staff
        have += [per_unit.c.staff > 0]
    values = select(per_unit.c.unit_id, value.label("v")).where(*have).cte("unit_value")
    tiles = select(values.c.unit_id, values.c.v, func.ntile(4).over(order_by=values.c.v.asc()).label("low"),
                   func.ntile(4).over(order_by=values.c.v.desc()).label("high")).cte("tiles")
    edges = select(func.count().label("n"), func.max(case((tiles.c.low == 1, tiles.c.v))).label("low_edge"),
                   func.min(case((tiles.c.high == 1, tiles.c.v))).label("high_edge")).cte("edges")
    query = (select(tiles.c.unit_id, Answer.item_key, Answer.status, tiles.c.v, edges.c.low_edge, edges.c.high_edge,
                    edges.c.n)
             .select_from(tiles).join(edges, true())
             .join(Sheet, and_(Sheet.unit_id == tiles.c.unit_id, Sheet.round_id == round_id))
             .join(Answer, and_(Answer.sheet_id == Sheet.id, Answer.item_key.in_(sorted(item_keys))))
             .where(or_(and_(Answer.status.in_(list(low_statuses)), tiles.c.v <= edges.c.low_edge),
                        and_(Answer.status.in_(list(high_statuses)), tiles.c.v >= edges.c.high_edge))))
    return [Outlier(u, k, s, float(v), float(lo), float(hi), n) for u, k, s, v, lo, hi, n in session.execute(query)]
