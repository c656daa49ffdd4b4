"""Figures across reorganisations (issue 13, point 3), from ``orgs`` lineage (``UnitLink``).

- A 所属 sees its predecessors' figures: a renamed, moved or merged 所属's page shows, for the months before
  the change, the values stored under the units it continues (a merge: their sum). A split predecessor is not
  included (its values cannot be divided between the 所属 it was split into).
- The desk's 部局 totals (and caps) count every value under the 部局 its 所属 belongs to **now**: a value
  stored under a closed 所属 counts under the 部局 of the 所属 that continues it today; when there is none, or
  the successors sit in different 部局 (a split across 部局), under its own 部局 as continued today (a renamed
  部局 folds into its successor); a 部局 abolished without a successor stays apart (「廃止された部局」).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from sqlalchemy import select
from sqlmodel import Session

from app.kpis import queries
from app.kpis.models import KpiValue
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind, UnitLink

Values = dict[tuple[str, date], int | None]


def continued_units(session: Session, unit_id: int) -> dict[int, date | None]:
    """The 所属 itself and the units it continues by rename, move or merge (not split), each with the day it
    closed (None: in force): their values up to that day belong to this 所属's history."""
    found = {}
    for ancestor in orgs.lineage(session, unit_id):
        if ancestor.relation == "split":
            continue
        found[ancestor.unit.id] = None if ancestor.depth == 0 else ancestor.unit.valid_to
    return found


def load_values(session: Session, unit_id: int, start: date, end: date) -> Values:
    """(figure key, month) → value of a 所属 and its predecessors (months before each closed), summed over a
    merge's predecessors; a month with only cleared values stays None."""
    units = continued_units(session, unit_id)
    rows = session.execute(select(KpiValue.unit_id, KpiValue.figure_key, KpiValue.month, KpiValue.value).where(
        KpiValue.unit_id.in_(sorted(units)), KpiValue.month >= start, KpiValue.month <= end))
    values: Values = {}
    for unit, key, month, value in rows:
        closed = units[unit]
        if closed is not None and month >= closed:
            continue  # a predecessor's value after the change: not this 所属's history
        have = values.get((key, month))
        values[(key, month)] = value if have is None else have + (value or 0)
    return values


def current_bureaus(session: Session, today: date) -> dict[int, int | None]:
    """Every 所属 (in force or closed) → the id of the 部局 it counts under now (see the module's note). One
    read of the units and one of the links (small tables), kept in the session's ``info`` for the rest of the
    request (one session per request; the desk's page asks for the totals and the caps)."""
    key = ("kpi_current_bureaus", today)
    found = session.info.get(key)
    if found is None:
        found = session.info[key] = _current_bureaus(session, today)
    return found


def _current_bureaus(session: Session, today: date) -> dict[int, int | None]:
    # plain rows, not ORM objects: every unit ever (a few thousand), read once per call
    units = {row.id: row for row in session.execute(
        select(Unit.id, Unit.kind, Unit.parent_id, Unit.valid_from, Unit.valid_to))}
    forward: dict[int, list[int]] = {}
    for pred, succ in session.execute(select(UnitLink.predecessor_id, UnitLink.successor_id)):
        forward.setdefault(pred, []).append(succ)  # every kind of link continues forwards

    def alive(unit) -> bool:
        return unit.valid_from <= today and (unit.valid_to is None or unit.valid_to > today)

    def now_of(unit_id: int) -> set[int]:
        """The units in force that continue ``unit_id`` (itself when in force)."""
        seen, frontier, result = {unit_id}, [unit_id], set()
        while frontier:
            nxt = []
            for uid in frontier:
                unit = units.get(uid)
                if unit is not None and alive(unit):
                    result.add(uid)
                    continue
                for succ in forward.get(uid, ()):
                    if succ not in seen:
                        seen.add(succ)
                        nxt.append(succ)
            frontier = nxt
        return result

    def bureau_now(bureau_id: int | None) -> int | None:
        if bureau_id is None:
            return None
        successors = {b for b in now_of(bureau_id) if units[b].kind == UnitKind.BUREAU}
        return successors.pop() if len(successors) == 1 else bureau_id

    mapping: dict[int, int | None] = {}
    for unit in units.values():
        if unit.kind != UnitKind.SECTION:
            continue
        if alive(unit):
            mapping[unit.id] = unit.parent_id  # in force: its 部局 now (a renamed 部局's 所属 are re-pointed)
            continue
        parents = {units[s].parent_id for s in now_of(unit.id) if units[s].kind == UnitKind.SECTION}
        mapping[unit.id] = parents.pop() if len(parents) == 1 else bureau_now(unit.parent_id)
    return mapping


def bureau_sums_now(session: Session, keys: Collection[str], fy: int, staff_key: str | None,
                    staffed: Collection[str], today: date, *, bureau_id: int | None = None) -> list[queries.GroupSum]:
    """``queries.bureau_sums`` with each 所属 counted under the 部局 it belongs to now: the 所属 in force are
    grouped by their 部局 in SQL over the tally; the few closed ones (a reorganisation's predecessors) are
    regrouped by ``current_bureaus``, read only when there are any. ``bureau_id``: that 部局 only."""
    sums = {(s.bureau_id, s.key): s for s in queries.bureau_sums(
        session, keys, fy, staff_key, staffed, bureau_id=bureau_id, in_force_on=today)}
    closed = queries.closed_unit_sums(session, keys, fy, staff_key if staffed else None, today)
    bureau_of = current_bureaus(session, today) if closed else {}
    for row in closed:
        bureau = bureau_of.get(row.unit_id) or 0
        if bureau_id is not None and bureau != bureau_id:
            continue
        staff = row.staff if row.key in staffed else None
        have = sums.get((bureau, row.key)) or queries.GroupSum(bureau, row.key, 0, 0, 0, 0)
        sums[(bureau, row.key)] = queries.GroupSum(
            bureau, row.key, have.units + 1, have.total + row.total,
            have.with_staff + (row.total if staff else 0), have.staff + (staff or 0))
    return [sums[k] for k in sorted(sums)]


def bureau_used(session: Session, key: str, fy: int, today: date) -> dict[int, int]:
    """部局 id (as now) → the sum of one figure over the fiscal year so far (the caps' 「使用」; no month after
    this one is ever stored)."""
    return {s.bureau_id: s.total for s in bureau_sums_now(session, [key], fy, None, (), today) if s.bureau_id}
