"""Reading the organisation tree: units in force on a date, a unit's 部局, lookups by code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, or_
from sqlmodel import Session, select

from app.orgs.models import LinkKind, Unit, UnitKind, UnitLink


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


@dataclass(frozen=True)
class Ancestor:
    """A unit whose past belongs to another unit's history.

    ``relation`` from the later unit's point of view: ``self``; ``continued`` (renamed or moved: the
    same 所属 under an older name or place); ``merged`` (one of the 所属 merged into it); ``split``
    (the 所属 it was split out of — its past is shown marked as the parent's).
    """

    unit: Unit
    relation: str
    depth: int


# Built once (building a statement costs more than running these): the links into and out of some units.
_LINKS_TO = select(UnitLink).where(UnitLink.successor_id.in_(bindparam("ids", expanding=True)))
_SUCCESSORS_OF = select(UnitLink.successor_id).where(UnitLink.predecessor_id.in_(bindparam("ids", expanding=True)))


def lineage(session: Session, unit_id: int) -> list[Ancestor]:
    """The unit and every unit it continues, walking lineage links backwards (nearest first)."""
    start = session.get(Unit, unit_id)
    if start is None:
        return []
    result = [Ancestor(start, "self", 0)]
    seen = {unit_id}
    frontier = [(unit_id, "self", 0)]
    while frontier:
        ids = [uid for uid, _, _ in frontier]
        relation_of = {uid: (rel, depth) for uid, rel, depth in frontier}
        links = session.exec(_LINKS_TO, params={"ids": ids}).all()
        frontier = []
        for link in sorted(links, key=lambda ln: ln.predecessor_id):
            if link.predecessor_id in seen:
                continue
            seen.add(link.predecessor_id)
            parent_relation, depth = relation_of[link.successor_id]
            relation = _compound(parent_relation, link.kind)
            unit = session.get(Unit, link.predecessor_id)
            result.append(Ancestor(unit, relation, depth + 1))
            frontier.append((unit.id, relation, depth + 1))
    return result


def _compound(so_far: str, kind: str) -> str:
    """Relation across several reorganisations: a split anywhere makes it 'split', else a merge 'merged'."""
    step = {LinkKind.RENAME: "continued", LinkKind.MOVE: "continued", LinkKind.MERGE: "merged",
            LinkKind.SPLIT: "split"}[LinkKind(kind)]
    order = ["self", "continued", "merged", "split"]
    return max(so_far, step, key=order.index)


def successor_ids(session: Session, unit_id: int) -> set[int]:
    """Every unit that continues ``unit_id`` through later reorganisations (renamed, moved, merged or
    split into), walking lineage links forwards. The unit itself is not included."""
    found: set[int] = set()
    frontier = {unit_id}
    while frontier:
        links = session.exec(_SUCCESSORS_OF, params={"ids": list(frontier)}).all()
        frontier = set(links) - found - {unit_id}
        found |= frontier
    return found


def family_ids(session: Session, unit_id: int, lineage_of: Callable[[Session, int], list[Ancestor]] | None = None
               ) -> set[int]:
    """The unit, its successors, and every predecessor of those: all units whose sheets belong to the
    history of this 所属 as it stands now. ``lineage_of``: how to read a unit's lineage (``lineage`` by
    default; a request passes its own, read once per request)."""
    lineage_of = lineage_of or lineage
    ids = {unit_id} | successor_ids(session, unit_id)
    for uid in list(ids):
        ids |= {a.unit.id for a in lineage_of(session, uid)}
    return ids
