"""SQL rollups of answers (GROUP BY), finished with the formulas of ``app.scoring.rules``.

The database sums points and counts per sheet (and per sheet × category); the rules turn those sums
into maturity and completion. Groups of sheets (a 部局, the prefecture) average their sheets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import mean, median

from sqlalchemy import and_, case, func, select
from sqlmodel import Session

from app.checklists.models import ChecklistItem, ChecklistPoints
from app.orgs.models import Unit
from app.rounds.models import Round
from app.scoring.rules import GroupFigure, Status, Tally, group_figure
from app.sheets.models import Answer, Sheet

_SCORED = [s.value for s in Status if s.is_scored]


def status_sums(points):
    """What every rollup sums over answers, defined once: answered (◎ ○ △ ×), 該当なし, and points
    (``points`` is the points column or expression of the answer's status in its checklist version)."""
    return (
        func.sum(case((Answer.status.in_(_SCORED), 1), else_=0)).label("answered"),
        func.sum(case((Answer.status == Status.NOT_APPLICABLE.value, 1), else_=0)).label("na"),
        func.coalesce(func.sum(points), 0).label("points"),
    )


def points_of(points_by_status: dict[Status, int]):
    """The points of an answer's status in one checklist version, as a SQL CASE (0 for 該当なし, none)."""
    return case({s.value: p for s, p in points_by_status.items()}, value=Answer.status, else_=0)


def _tally_columns():
    return (func.count(ChecklistItem.id).label("total"), *status_sums(ChecklistPoints.points))


def _from_items():
    """Items of each sheet's checklist version, with the answer and its points (LEFT JOINs, so that
    an item without an answer row still counts as unanswered)."""
    return (
        select()
        .select_from(Sheet)
        .join(Round, Round.id == Sheet.round_id)
        .join(ChecklistItem, ChecklistItem.version_id == Round.checklist_version_id)
        .outerjoin(Answer, and_(Answer.sheet_id == Sheet.id, Answer.item_key == ChecklistItem.key))
        .outerjoin(
            ChecklistPoints,
            and_(ChecklistPoints.version_id == Round.checklist_version_id, ChecklistPoints.status == Answer.status),
        )
    )


def _max_points_by_version():
    return (
        select(ChecklistPoints.version_id, func.max(ChecklistPoints.points).label("max_points"))
        .group_by(ChecklistPoints.version_id)
        .subquery()
    )


@dataclass
class SheetScore:
    sheet_id: int
    round_id: int
    unit_id: int
    code: str
    name: str
    bureau_id: int
    state: str
    overall: Tally
    categories: dict[str, Tally] = field(default_factory=dict)


def sheet_scores(session: Session, round_id: int | None = None, *, sheet_ids: list[int] | None = None,
                 unit_ids: list[int] | None = None) -> list[SheetScore]:
    """Per sheet: overall and per-category tallies (one GROUP BY query over the answers).

    Narrowed to a round, to some sheets or to some 所属 (across rounds, for trends)."""
    if round_id is None and sheet_ids is None and unit_ids is None:
        raise ValueError("narrow sheet_scores to a round, sheets or units")

    def narrow(query):
        if round_id is not None:
            query = query.where(Sheet.round_id == round_id)
        if sheet_ids is not None:
            query = query.where(Sheet.id.in_(sheet_ids))
        if unit_ids is not None:
            query = query.where(Sheet.unit_id.in_(unit_ids))
        return query

    per_category: dict[int, list] = defaultdict(list)
    query = narrow(
        _from_items()
        .add_columns(Sheet.id, ChecklistItem.category, func.min(ChecklistItem.position).label("pos"),
                     *_tally_columns())
        .group_by(Sheet.id, ChecklistItem.category)
    )
    for row in session.execute(query):
        per_category[row.id].append(row)
    maxima = _max_points_by_version()
    sheets_query = narrow(
        select(Sheet.id, Sheet.round_id, Sheet.unit_id, Sheet.bureau_id, Sheet.state, Unit.code, Unit.name,
               maxima.c.max_points)
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Round, Round.id == Sheet.round_id)
        .outerjoin(maxima, maxima.c.version_id == Round.checklist_version_id)
        .order_by(Round.opens_on, Unit.position, Unit.code)
    )
    result = []
    for s in session.execute(sheets_query):
        top = s.max_points or 3
        rows = sorted(per_category.get(s.id, []), key=lambda r: r.pos)
        categories = {r.category: Tally(r.total, r.answered or 0, r.na or 0, r.points, top) for r in rows}
        overall = Tally(
            sum(t.total for t in categories.values()),
            sum(t.answered for t in categories.values()),
            sum(t.not_applicable for t in categories.values()),
            sum(t.points for t in categories.values()),
            top,
        )
        result.append(SheetScore(s.id, s.round_id, s.unit_id, s.code, s.name, s.bureau_id, s.state, overall,
                                 categories))
    return result


@dataclass
class GroupScore:
    """A group of sheets (a 部局 or the prefecture): the mean of its 所属's maturity, pooled completion."""

    unit_id: int | None
    code: str
    name: str
    sections: int
    scored_sections: int
    maturity: float | None
    median: float | None
    completion: float
    categories: dict[str, float | None]


def group_score(unit: Unit | None, members: list[SheetScore]) -> GroupScore:
    scored = [m.overall.maturity for m in members if m.overall.maturity is not None]
    total = sum(m.overall.total for m in members)
    done = sum(m.overall.answered + m.overall.not_applicable for m in members)
    names = list(dict.fromkeys(c for m in members for c in m.categories))
    categories = {}
    for name in names:
        values = [m.categories[name].maturity for m in members
                  if name in m.categories and m.categories[name].maturity is not None]
        categories[name] = round(mean(values), 1) if values else None
    return GroupScore(
        unit_id=unit.id if unit else None,
        code=unit.code if unit else "",
        name=unit.name if unit else "全庁",
        sections=len(members),
        scored_sections=len(scored),
        maturity=round(mean(scored), 1) if scored else None,
        median=round(median(scored), 1) if scored else None,
        completion=round(done / total * 100, 1) if total else 0.0,
        categories=categories,
    )


def bureau_scores(session: Session, round_id: int) -> list[GroupScore]:
    sheets = sheet_scores(session, round_id)
    by_bureau: dict[int, list[SheetScore]] = defaultdict(list)
    for s in sheets:
        by_bureau[s.bureau_id].append(s)
    units = {u.id: u for u in session.execute(select(Unit).where(Unit.id.in_(by_bureau))).scalars()}
    ordered = sorted(by_bureau, key=lambda uid: (units[uid].position, units[uid].code))
    return [group_score(units[uid], by_bureau[uid]) for uid in ordered]


def bureau_codes(session: Session, round_id: int) -> dict[int, str]:
    bureau_ids = select(Sheet.bureau_id).where(Sheet.round_id == round_id)
    return dict(session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(bureau_ids))).all())


# --- Group figures per round, beside one 所属 (leader pages) ------------------------------------------


@dataclass
class SheetTally:
    """One sheet's overall tally (no categories): enough for group figures over many rounds."""

    sheet_id: int
    round_id: int
    unit_id: int
    bureau_id: int
    overall: Tally


def sheet_tallies(session: Session, round_ids: list[int]) -> list[SheetTally]:
    """Every sheet of these rounds with its overall tally: one GROUP BY over the answers (every item of a
    sheet has an answer row from the round's opening, so the items need no join; ``total`` is the number
    of items of the round's checklist version)."""
    if not round_ids:
        return []
    versions = dict(session.execute(
        select(Round.id, Round.checklist_version_id).where(Round.id.in_(round_ids))).all())
    totals = dict(session.execute(
        select(ChecklistItem.version_id, func.count()).where(ChecklistItem.version_id.in_(set(versions.values())))
        .group_by(ChecklistItem.version_id)).all())
    maxima = dict(session.execute(
        select(ChecklistPoints.version_id, func.max(ChecklistPoints.points))
        .where(ChecklistPoints.version_id.in_(set(versions.values()))).group_by(ChecklistPoints.version_id)).all())
    # Grouped by the sheet's primary key alone (its other columns depend on it), so that the database
    # can aggregate while it walks the round's sheets instead of sorting every answer.
    query = (
        select(Sheet.id, Sheet.round_id, Sheet.unit_id, Sheet.bureau_id, *status_sums(ChecklistPoints.points))
        .select_from(Sheet)
        .join(Round, Round.id == Sheet.round_id)
        .join(Answer, Answer.sheet_id == Sheet.id)
        .outerjoin(ChecklistPoints, and_(ChecklistPoints.version_id == Round.checklist_version_id,
                                         ChecklistPoints.status == Answer.status))
        .where(Sheet.round_id.in_(round_ids))
        .group_by(Sheet.id)
    )
    result = []
    for r in session.execute(query):
        version = versions[r.round_id]
        result.append(SheetTally(r.id, r.round_id, r.unit_id, r.bureau_id,
                                 Tally(totals.get(version, 0), r.answered or 0, r.na or 0, r.points,
                                       maxima.get(version) or 3)))
    return result


@dataclass
class RoundGroups:
    """One round's group figures: the prefecture and each 部局 (by the 部局 of the sheet that round)."""

    round_id: int
    prefecture: GroupFigure
    bureaus: dict[int, GroupFigure]


# Group figures of a round need every answer of the round, so they are kept per process and round, and
# recomputed when the round's sheets change: the fingerprint is (state, opened at, number of sheets,
# latest Sheet.updated_at). Saving, submitting and reopening touch Sheet.updated_at (sheets.service), as
# must anything else that writes answers.
_ROUND_CACHE: dict[tuple, tuple[tuple, object]] = {}


def _fingerprints(session: Session, round_ids: list[int]) -> dict[int, tuple]:
    rows = session.execute(
        select(Round.id, Round.state, Round.created_at, func.count(Sheet.id), func.max(Sheet.updated_at))
        .select_from(Round).outerjoin(Sheet, Sheet.round_id == Round.id)
        .where(Round.id.in_(round_ids)).group_by(Round.id, Round.state, Round.created_at)
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def _cache_key(session: Session, kind: str, round_id: int) -> tuple:
    return (session.get_bind().url.render_as_string(hide_password=True), kind, round_id)


def round_groups(session: Session, round_ids: list[int]) -> dict[int, RoundGroups]:
    """Per round: every 部局's figure and the prefecture's (average and median of 所属 maturity),
    withheld for groups under MIN_GROUP_SIZE 所属 (``rules.group_figure``)."""
    if not round_ids:
        return {}
    prints = _fingerprints(session, round_ids)
    result: dict[int, RoundGroups] = {}
    stale = []
    for round_id in round_ids:
        hit = _ROUND_CACHE.get(_cache_key(session, "groups", round_id))
        if hit is not None and hit[0] == prints.get(round_id):
            result[round_id] = hit[1]  # type: ignore[assignment]
        else:
            stale.append(round_id)
    by_round: dict[int, list[SheetTally]] = defaultdict(list)
    for row in sheet_tallies(session, stale):
        by_round[row.round_id].append(row)
    for round_id in stale:
        rows = by_round.get(round_id, [])
        by_bureau: dict[int, list[float | None]] = defaultdict(list)
        for row in rows:
            by_bureau[row.bureau_id].append(row.overall.maturity)
        groups = RoundGroups(
            round_id,
            group_figure(r.overall.maturity for r in rows),
            {bureau_id: group_figure(values) for bureau_id, values in by_bureau.items()},
        )
        _ROUND_CACHE[_cache_key(session, "groups", round_id)] = (prints.get(round_id), groups)
        result[round_id] = groups
    return {round_id: result[round_id] for round_id in round_ids}


@dataclass
class CategoryGroups:
    """One round's figures per category: the prefecture and each 部局."""

    prefecture: dict[str, GroupFigure]
    bureaus: dict[int, dict[str, GroupFigure]]


def category_groups(session: Session, round_id: int) -> CategoryGroups:
    """One round's figures per category (kept like ``round_groups``)."""
    fingerprint = _fingerprints(session, [round_id]).get(round_id)
    key = _cache_key(session, "categories", round_id)
    hit = _ROUND_CACHE.get(key)
    if hit is not None and hit[0] == fingerprint:
        return hit[1]  # type: ignore[return-value]
    value = _category_groups(session, round_id)
    _ROUND_CACHE[key] = (fingerprint, value)
    return value


def _category_groups(session: Session, round_id: int) -> CategoryGroups:
    sheets = sheet_scores(session, round_id)
    names = list(dict.fromkeys(c for s in sheets for c in s.categories))

    def figures(members: list[SheetScore]) -> dict[str, GroupFigure]:
        return {n: group_figure(m.categories[n].maturity for m in members if n in m.categories) for n in names}

    by_bureau: dict[int, list[SheetScore]] = defaultdict(list)
    for s in sheets:
        by_bureau[s.bureau_id].append(s)
    return CategoryGroups(figures(sheets), {b: figures(members) for b, members in by_bureau.items()})
