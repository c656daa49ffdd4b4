"""Reading the organisation tree: units in force on a date, a unit's 部局, lookups by code."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_
from sqlmodel import Session, select

from app.orgs.models import Unit, UnitKind


def in_force(on: date):
    """SQL condition: the unit existed on ``on``."""
    return (Unit.valid_from <= on) & or_(Unit.valid_to.is_(None), Unit.valid_to > on)


def units_in_force(session: Session, on: date, kind: UnitKind | None = None) -> list[Unit]:
    query = select(Unit).where(in_force(on)).order_by(Unit.position, Unit.code)
    if kind is not None:
        query = query.where(Unit.kind == kind)
    return list(session.exec(query).all())


def bureau_map(units: list[Unit]) -> dict[int, Unit]:
    """For every unit of a tree (all units in force on one date), its 部局: the top-level ancestor."""
    by_id = {u.id: u for u in units}
    result: dict[int, Unit] = {}
    for unit in units:
        top = unit
        seen = set()
        while top.parent_id is not None and top.parent_id in by_id and top.id not in seen:
            seen.add(top.id)
            top = by_id[top.parent_id]
        result[unit.id] = top
    return result


def current_by_code(session: Session, code: str) -> Unit | None:
    """The unit in force now with this code, else the most recent one that had it."""
    return session.exec(
        select(Unit).where(Unit.code == code).order_by(Unit.valid_to.is_(None).desc(), Unit.valid_from.desc())
    ).first()
