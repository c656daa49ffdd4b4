"""SQL rollups of answers (GROUP BY), finished with the formulas of ``app.scoring.rules``.

The database sums points and counts per sheet (and per sheet × category); the rules turn those sums
into maturity and completion. Groups of sheets (a 部局, the prefecture) average their sheets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from statistics import fmean as mean  # fmean: float arithmetic (mean works in exact fractions, slowly)
from statistics import median

from sqlalchemy import and_, case, delete, func, insert, select, true, update
from sqlmodel import Session

from app.checklists.models import ChecklistItem, ChecklistPoints
from app.orgs.models import Unit
from app.rounds.models import Round
from app.scoring.rules import GroupFigure, Tally, group_figure, maturity
from app.sheets.models import Answer, Sheet
from app.sheets.models import SheetTally as StoredTally
from app.statuses import Status

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


# --- Stored tallies: a sheet's counts per category, kept in step with its answers --------------------


def refresh_tallies(session: Session, *, sheet_ids: Iterable[int] | None = None, round_id: int | None = None) -> None:
    """Recount the stored tallies (``sheet_tally``) of some sheets, or of a round's sheets, or of every
    sheet, from their answers. Every writer of answers calls this in its own transaction, so the stored
    counts never disagree with the answers (and no process needs a cache of them)."""
    if sheet_ids is not None:
        ids = list(sheet_ids)
        if not ids:
            return
        scope = Sheet.id.in_(ids)
    elif round_id is not None:
        scope = Sheet.round_id == round_id
    else:
        scope = true()
    session.execute(delete(StoredTally).where(StoredTally.sheet_id.in_(select(Sheet.id).where(scope))))
    counts = (
        _from_items()
        .add_columns(Sheet.id, ChecklistItem.category, func.min(ChecklistItem.position), *_tally_columns())
        .where(scope)
        .group_by(Sheet.id, ChecklistItem.category)
    )
    session.execute(
        insert(StoredTally).from_select(
            ["sheet_id", "category", "position", "total", "answered", "not_applicable", "points"], counts
        )
    )

    def summed(column):
        return select(func.coalesce(func.sum(column), 0)).where(StoredTally.sheet_id == Sheet.id).scalar_subquery()

    session.execute(
        update(Sheet)
        .where(scope)
        .values(tally_total=summed(StoredTally.total), tally_answered=summed(StoredTally.answered),
                tally_not_applicable=summed(StoredTally.not_applicable), tally_points=summed(StoredTally.points))
        .execution_options(synchronize_session=False)
    )


# --- Group figures per round, beside one 所属 (leader pages) ------------------------------------------


@dataclass
class RoundGroups:
    """One round's group figures: the prefecture and each 部局 (by the 部局 of the sheet that round)."""

    round_id: int
    prefecture: GroupFigure
    bureaus: Mapping[int, GroupFigure]


def _max_points(session: Session, round_ids: list[int]) -> dict[int, int]:
    return dict(session.execute(
        select(Round.id, func.max(ChecklistPoints.points))
        .join(ChecklistPoints, ChecklistPoints.version_id == Round.checklist_version_id)
        .where(Round.id.in_(round_ids)).group_by(Round.id)
    ).all())


def round_groups(session: Session, round_ids: list[int], bureau_ids: Collection[int] | None = None
                 ) -> dict[int, RoundGroups]:
    """Per round: the prefecture's figure and those of ``bureau_ids`` (every 部局 when None): average and
    median of 所属 maturity, withheld for groups under MIN_GROUP_SIZE 所属 (``rules.group_figure``).
    Reads the overall counts stored on the sheet rows, no answers; the prefecture's are counted per
    distinct (answered, points) in SQL, so a round of 3,000 所属 arrives as a few hundred rows."""
    if not round_ids:
        return {}
    top = _max_points(session, round_ids)
    connection = session.connection()
    prefecture: dict[int, list[float | None]] = defaultdict(list)
    for round_id, answered, points, count in connection.execute(
        select(Sheet.round_id, Sheet.tally_answered, Sheet.tally_points, func.count())
        .where(Sheet.round_id.in_(round_ids))
        .group_by(Sheet.round_id, Sheet.tally_answered, Sheet.tally_points)
    ):
        prefecture[round_id] += [maturity(points, answered, top.get(round_id) or 3)] * count
    bureaus: dict[int, dict[int, list[float | None]]] = defaultdict(lambda: defaultdict(list))
    for round_id, bureau_id, answered, points in connection.execute(
        _in_bureaus(select(Sheet.round_id, Sheet.bureau_id, Sheet.tally_answered, Sheet.tally_points)
                    .where(Sheet.round_id.in_(round_ids)), bureau_ids)
    ):
        bureaus[round_id][bureau_id].append(maturity(points, answered, top.get(round_id) or 3))
    return {
        round_id: RoundGroups(round_id, group_figure(prefecture[round_id]),
                              {b: group_figure(values) for b, values in bureaus[round_id].items()})
        for round_id in round_ids
    }


def _in_bureaus(query, bureau_ids: Collection[int] | None):
    return query if bureau_ids is None else query.where(Sheet.bureau_id.in_(list(bureau_ids)))


@dataclass
class CategoryGroups:
    """One round's figures per category: the prefecture and some 部局."""

    prefecture: dict[str, GroupFigure]
    bureaus: Mapping[int, dict[str, GroupFigure]]


def category_groups(session: Session, round_id: int, bureau_ids: Collection[int] | None = None) -> CategoryGroups:
    """One round's figures per category (from the stored per-category tallies), for the prefecture and
    ``bureau_ids`` (every 部局 when None); the prefecture's counted per distinct (answered, points)."""
    top = _max_points(session, [round_id]).get(round_id) or 3
    connection = session.connection()
    prefecture: dict[str, list[float | None]] = defaultdict(list)
    for category, answered, points, count, _position in connection.execute(
        select(StoredTally.category, StoredTally.answered, StoredTally.points, func.count(),
               func.min(StoredTally.position).label("position"))
        .join(Sheet, StoredTally.sheet_id == Sheet.id)
        .where(Sheet.round_id == round_id)
        .group_by(StoredTally.category, StoredTally.answered, StoredTally.points)
        .order_by("position")
    ):
        prefecture[category] += [maturity(points, answered, top)] * count
    bureaus: dict[int, dict[str, list[float | None]]] = defaultdict(lambda: defaultdict(list))
    for bureau_id, category, answered, points in connection.execute(
        _in_bureaus(select(Sheet.bureau_id, StoredTally.category, StoredTally.answered, StoredTally.points)
                    .join(StoredTally, StoredTally.sheet_id == Sheet.id)
                    .where(Sheet.round_id == round_id), bureau_ids)
    ):
        bureaus[bureau_id][category].append(maturity(points, answered, top))
    return CategoryGroups(
        {name: group_figure(values) for name, values in prefecture.items()},
        {b: {name: group_figure(by_category[name]) for name in prefecture} for b, by_category in bureaus.items()},
    )
