"""Every figure of the app, read from the stored tallies: the one read path.

The writer (``app.sheets.writer``) keeps the tallies in step with the answers in the transaction of
every change; this module only reads them, and finishes them with the formulas of
``app.scoring.rules``:

* a sheet (overall and per category): the ``sheet`` row and its ``sheet_tally`` rows;
* lists of sheets in a round (organisation order or by maturity, paged in SQL), progress counts and
  quick wins: the ``sheet`` rows;
* a group (a 部局, the prefecture) overall or per category: ``maturity_tally``; per item: ``item_tally``.

Which group figures a person may see is decided once, here: ``rules.group`` with
``permissions.why_not_see_group``.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import astuple, dataclass, field
from datetime import date
from functools import lru_cache
from typing import Literal

from sqlalchemy import Float, String, and_, bindparam, case, cast, delete, func, insert, literal, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.orgs.models import Unit
from app.rounds.models import Round, RoundState
from app.scoring import rules
from app.scoring.rules import FiveNumbers, GroupFigure, ItemCounts, Progress, ProgressCounts, Tally
from app.sheets.models import (
    NO_MATURITY,
    PREFECTURE,
    UNANSWERED,
    Answer,
    ItemTally,
    MaturityTally,
    ReviewMark,
    Sheet,
    SheetReview,
    SheetState,
    SheetTally,
    StoredGroupFigure,
)
from app.sheets.tallies import OVERALL, Counts, maturity_x10

Bureau = aliased(Unit, name="bureau")
# Organisation order of a round's sheets: the 部局's place, then the 所属's place in it.
ORG_ORDER = (Bureau.position, Bureau.code, Unit.position, Unit.code)
SUBMITTED = SheetState.SUBMITTED.value
# Not a sheet state: as ``states`` of the figures below, (CONFIRMED,) counts the sheets submitted and 確認済 as a
# whole (every item marked 確認済 by the desk, ``review.review_state``), the desk's scope 「確認済の所属のみ」.
# The group tallies count sheets per sheet state, not per review: those figures are then counted in SQL from the
# sheets' stored counts and (per item) their answers, over the confirmed sheets only (a few thousand at most).
CONFIRMED = rules.Scope.CONFIRMED.value
CONFIRMED_ONLY = (CONFIRMED,)


def states_of(scope: rules.Scope) -> tuple[str, ...] | None:
    """The sheet states a desk scope counts (None: every state), for the ``states`` of the figures below."""
    return {rules.Scope.SUBMITTED: (SUBMITTED,), rules.Scope.CONFIRMED: CONFIRMED_ONLY}.get(scope)


def _confirmed_only(states: Collection[str] | None) -> bool:
    return states is not None and CONFIRMED in states


# How many items of the sheet the desk marked 確認済 (a correlated subquery of a statement over ``sheet``).
_CONFIRMED_ITEMS = (select(func.count()).select_from(SheetReview)
                    .where(SheetReview.sheet_id == Sheet.id, SheetReview.mark == ReviewMark.CONFIRMED.value)
                    .correlate(Sheet).scalar_subquery())


def confirmed_sheet():
    """SQL condition on ``sheet``: submitted and 確認済 as a whole (every item of the sheet marked 確認済), as
    ``review.review_state`` says."""
    return and_(Sheet.state == SUBMITTED, Sheet.tally_total <= _CONFIRMED_ITEMS)


def states_shape(states: Collection[str] | None) -> str | None:
    """The part of a statement's shape that ``states`` decides (statements are cached per shape): None (every
    sheet), "in" (the sheet states bound as ``states``) or CONFIRMED."""
    return None if states is None else CONFIRMED if _confirmed_only(states) else "in"


def sheet_in(shape: str | None) -> list:
    """SQL conditions on ``sheet`` for a ``states_shape``: in the sheet states bound as ``states``, or confirmed."""
    if shape is None:
        return []
    return [confirmed_sheet() if shape == CONFIRMED else Sheet.state.in_(bindparam("states", expanding=True))]


_VERSIONS = select(Round.id, Round.checklist_version_id).where(Round.id.in_(bindparam("ids", expanding=True)))


def max_points(session: Session, round_ids: Iterable[int]) -> dict[int, int]:
    """The top points of each round's checklist version (maturity's denominator)."""
    ids = list(set(round_ids))
    if not ids:
        return {}
    rows = session.connection().execute(_VERSIONS, {"ids": ids})
    return {rid: checklists.get_definition(session, vid).max_points for rid, vid in rows}


# Statements are built once per shape (which filters a call uses) with bind parameters, and reused:
# building SQLAlchemy expressions costs more than running these queries.
# --- sheets ------------------------------------------------------------------------------------------------


@dataclass
class SheetScore:
    """One sheet's figures: overall and per category (in sheet order)."""

    sheet_id: int
    round_id: int
    unit_id: int
    bureau_id: int
    state: str
    overall: Tally
    categories: dict[str, Tally] = field(default_factory=dict)

    @property
    def submitted(self) -> bool:
        return self.state == SUBMITTED


_SHEET_ROWS = select(Sheet.id, Sheet.round_id, Sheet.unit_id, Sheet.bureau_id, Sheet.state, Sheet.tally_total,
                     Sheet.tally_answered, Sheet.tally_not_applicable, Sheet.tally_points
                     ).where(Sheet.id.in_(bindparam("ids", expanding=True)))
_CATEGORY_ROWS = (select(SheetTally.sheet_id, SheetTally.category, SheetTally.total, SheetTally.answered,
                         SheetTally.not_applicable, SheetTally.points)
                  .where(SheetTally.sheet_id.in_(bindparam("ids", expanding=True)))
                  .order_by(SheetTally.sheet_id, SheetTally.position))


def sheet_scores(session: Session, sheet_ids: Sequence[int]) -> dict[int, SheetScore]:
    """The figures of some sheets, by sheet id."""
    if not sheet_ids:
        return {}
    conn = session.connection()
    rows = conn.execute(_SHEET_ROWS, {"ids": list(sheet_ids)}).all()
    top = max_points(session, {r.round_id for r in rows})
    result = {}
    for sid, round_id, unit_id, bureau_id, state, total, answered, na, points in rows:
        result[sid] = SheetScore(sid, round_id, unit_id, bureau_id, state,
                                 Tally(total, answered, na, points, top[round_id]))
    for sid, name, total, answered, na, points in conn.execute(_CATEGORY_ROWS, {"ids": list(result)}):
        score = result[sid]
        score.categories[name] = Tally(total, answered, na, points, score.overall.max_points)
    return result


def sheet_score(session: Session, sheet_id: int) -> SheetScore:
    return sheet_scores(session, [sheet_id])[sheet_id]


def score_of(session: Session, sheet: Sheet, max_points: int) -> SheetScore:
    """The figures of a sheet already read (its stored counts are on its row, freshly read: the scoped getter
    reads with ``populate_existing``), given its checklist version's top points: only the per-category
    counts are read (one statement instead of three)."""
    score = SheetScore(sheet.id, sheet.round_id, sheet.unit_id, sheet.bureau_id, sheet.state,
                       Tally(sheet.tally_total, sheet.tally_answered, sheet.tally_not_applicable, sheet.tally_points,
                             max_points))
    for _sid, name, total, answered, na, points in session.connection().execute(_CATEGORY_ROWS,
                                                                                {"ids": [sheet.id]}):
        score.categories[name] = Tally(total, answered, na, points, max_points)
    return score


@dataclass(frozen=True)
class SheetTotal:
    """One 所属's sheet in a round, listed with its overall figures."""

    sheet_id: int
    unit_id: int
    code: str
    name: str
    bureau_id: int
    state: str
    entry_on: date | None
    tally: Tally
    quick_fair: int = 0
    quick_not_done: int = 0

    @property
    def submitted(self) -> bool:
        return self.state == SUBMITTED

    @property
    def progress(self) -> Progress:
        return rules.progress(self.submitted, self.tally)

    @property
    def maturity(self) -> float | None:
        return self.tally.maturity


Order = Literal["org", "asc", "desc", "all_asc", "all_desc", "completion"]
_STARTED = (Sheet.tally_answered + Sheet.tally_not_applicable) > 0


def in_progress(progress: Collection[Progress]):
    """SQL condition: the sheet is 未着手, 入力中 or 提出済 (any of ``progress``), as ``rules.progress`` says."""
    conditions = {Progress.SUBMITTED: Sheet.state == SUBMITTED,
                  Progress.IN_PROGRESS: and_(Sheet.state != SUBMITTED, _STARTED),
                  Progress.NOT_STARTED: and_(Sheet.state != SUBMITTED, ~_STARTED)}
    if {Progress.IN_PROGRESS, Progress.NOT_STARTED} <= set(progress):  # started or not: every draft
        conditions[Progress.IN_PROGRESS] = Sheet.state != SUBMITTED
        progress = [p for p in progress if p is not Progress.NOT_STARTED]
    return or_(*[conditions[p] for p in progress])


def _ratio():
    """The maturity's order in SQL (points per answered item; none last)."""
    return case((Sheet.tally_answered > 0, _per(Sheet.tally_points, Sheet.tally_answered)), else_=None)


def _per(part, whole):
    """``part / whole`` as a floating-point number, in SQL: an exact order (the counts are small integers)
    at less cost than PostgreSQL's ``numeric`` division (what ``part * 1.0 / whole`` is there)."""
    return cast(part, Float).op("/")(whole)


def _listing(*, bureau: bool, units: bool, sheets: bool, progress: tuple[Progress, ...] | None,
             quick_wins: bool, states: str | None = None) -> list:
    where = [Sheet.round_id == bindparam("round_id")]
    if bureau:
        where.append(Sheet.bureau_id == bindparam("bureau_id"))
    if units:
        where.append(Sheet.unit_id.in_(bindparam("unit_ids", expanding=True)))
    if sheets:
        where.append(Sheet.id.in_(bindparam("sheet_ids", expanding=True)))
    if progress is not None:
        where.append(in_progress(progress))
    if quick_wins:
        where.append((Sheet.tally_quick_fair + Sheet.tally_quick_not_done) > 0)
    where.extend(sheet_in(states))
    return where


def _answered_share():
    """回答率 in SQL, as ``Tally.completion`` counts it (answered and 該当なし per item of the sheet)."""
    return case((Sheet.tally_total > 0, _per(Sheet.tally_answered + Sheet.tally_not_applicable, Sheet.tally_total)),
                else_=0)


@lru_cache(maxsize=64)
def _totals_statement(order: str, paged: bool, **shape):
    ratio = _ratio()
    descending = order in ("desc", "all_desc")
    by_maturity = [(ratio.desc() if descending else ratio.asc()).nulls_last()]
    within_bureau = (Bureau.position, Bureau.code, *by_maturity, *ORG_ORDER[2:])
    ordering = {"org": ORG_ORDER, "asc": within_bureau, "desc": within_bureau,
                "all_asc": (*by_maturity, *ORG_ORDER), "all_desc": (*by_maturity, *ORG_ORDER),
                # 回答率 (answered and 該当なし per item), the least answered first: the board's order
                "completion": (_answered_share().asc(), *ORG_ORDER)}
    query = (
        select(Sheet.id, Sheet.unit_id, Unit.code, Unit.name, Sheet.bureau_id, Sheet.state, Sheet.entry_on,
               Sheet.tally_total, Sheet.tally_answered, Sheet.tally_not_applicable, Sheet.tally_points,
               Sheet.tally_quick_fair, Sheet.tally_quick_not_done)
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Bureau, Bureau.id == Sheet.bureau_id)
        .where(*_listing(**shape))
        .order_by(*ordering[order])
    )
    return query.limit(bindparam("limit")).offset(bindparam("offset")) if paged else query


@lru_cache(maxsize=64)
def _count_statement(**shape):
    return select(func.count()).select_from(Sheet).where(*_listing(**shape))


def _params(round_id: int, bureau_id: int | None, unit_ids: Collection[int] | None,
            sheet_ids: Collection[int] | None, progress: Collection[Progress] | None, quick_wins: bool,
            states: Collection[str] | None = None) -> tuple[dict, dict]:
    """(the statement's shape, its parameters)"""
    shape = {"bureau": bureau_id is not None, "units": unit_ids is not None, "sheets": sheet_ids is not None,
             "progress": tuple(sorted(progress)) if progress is not None else None, "quick_wins": quick_wins,
             "states": states_shape(states)}
    params = {"round_id": round_id, "bureau_id": bureau_id, "unit_ids": list(unit_ids or ()),
              "sheet_ids": list(sheet_ids or ()), "states": list(states or ())}
    return shape, params


def sheet_totals(session: Session, round_id: int, *, bureau_id: int | None = None,
                 unit_ids: Collection[int] | None = None, sheet_ids: Collection[int] | None = None,
                 progress: Collection[Progress] | None = None, quick_wins: bool = False, order: Order = "org",
                 limit: int | None = None, offset: int = 0, states: Collection[str] | None = None
                 ) -> list[SheetTotal]:
    """A round's sheets (or those of one 部局, of some 所属, in some states of progress, with quick wins, in
    the sheet ``states``) with their overall figures, in organisation order or by maturity (within each
    部局, or across the prefecture: ``all_``; 所属 without a maturity last), one page at a time."""
    shape, params = _params(round_id, bureau_id, unit_ids, sheet_ids, progress, quick_wins, states)
    query = _totals_statement(order, limit is not None, **shape)
    top = max_points(session, [round_id]).get(round_id, 3)
    rows = session.connection().execute(query, {**params, "limit": limit, "offset": offset})
    return [SheetTotal(*r[:7], Tally(r[7], r[8], r[9], r[10], top), r[11], r[12]) for r in rows]


@lru_cache(maxsize=8)
def _quick_win_statement(**shape):
    return (select(Sheet.id, Sheet.tally_answered, Sheet.tally_points, Sheet.tally_quick_fair,
                   Sheet.tally_quick_not_done)
            .join(Unit, Unit.id == Sheet.unit_id)
            .join(Bureau, Bureau.id == Sheet.bureau_id)
            .where(*_listing(**shape))
            .order_by(*ORG_ORDER))


def quick_win_tallies(session: Session, round_id: int, *, bureau_id: int | None = None,
                      unit_ids: Collection[int] | None = None, states: Collection[str] | None = None
                      ) -> list[tuple[int, float | None, int, int]]:
    """(sheet id, maturity, ☆ items at △, ☆ items at ×) of a round's sheets with quick wins (of one 部局,
    or of some 所属), in organisation order: what ranking them needs, without their names (thousands
    of sheets at prefecture scale)."""
    shape, params = _params(round_id, bureau_id, unit_ids, None, None, True, states)
    top = max_points(session, [round_id]).get(round_id, 3)
    rows = session.connection().execute(_quick_win_statement(**shape), params).all()
    maturity = rules.maturity  # the formula of Tally.maturity, without a Tally per sheet
    return [(sid, maturity(points, answered, top), fair, not_done) for sid, answered, points, fair, not_done in rows]


def count_sheets(session: Session, round_id: int, *, bureau_id: int | None = None,
                 unit_ids: Collection[int] | None = None, progress: Collection[Progress] | None = None,
                 states: Collection[str] | None = None) -> int:
    shape, params = _params(round_id, bureau_id, unit_ids, None, progress, False, states)
    return session.connection().execute(_count_statement(**shape), params).scalar_one()


# Per 部局 and sheet state: sheets, and those started (in 部局 and state order, the index's: no sorting).
_PROGRESS = (select(Sheet.bureau_id, Sheet.state, func.count(), func.count(case((_STARTED, 1))))
             .where(Sheet.round_id == bindparam("round_id")).group_by(Sheet.bureau_id, Sheet.state))


def progress_counts(session: Session, round_id: int) -> dict[int, ProgressCounts]:
    """未着手 / 入力中 / 提出済 per 部局 of a round (sum them for the prefecture)."""
    counts: dict[int, dict[Progress, int]] = defaultdict(lambda: defaultdict(int))
    for bureau_id, state, n, started in session.connection().execute(_PROGRESS, {"round_id": round_id}).all():
        submitted = state == SUBMITTED
        counts[bureau_id][rules.progress_of(submitted, True)] += started
        counts[bureau_id][rules.progress_of(submitted, False)] += n - started
    return {b: ProgressCounts(c[Progress.NOT_STARTED], c[Progress.IN_PROGRESS], c[Progress.SUBMITTED])
            for b, c in counts.items()}


# --- groups ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupKey:
    round_id: int
    bureau_id: int  # PREFECTURE for the whole prefecture
    category: str = OVERALL


Raw = tuple[int, int, int, FiveNumbers | None]  # sections, scored, sum of maturities in tenths, five numbers


def groups(session: Session, principal: Principal | None, round_ids: Iterable[int], *,
           bureau_ids: Collection[int] | None = None, prefecture: bool = True, categories: bool = False,
           completion: bool = False, states: Collection[str] | None = None) -> dict[GroupKey, GroupFigure]:
    """Group figures per round: the prefecture (``prefecture``) and the 部局 ``bureau_ids`` (every 部局
    when None), overall, and per category too with ``categories``; the pooled completion with
    ``completion``; over the sheets in ``states`` (all when None). A group the person may not see
    (``permissions.why_not_see_group``; ``principal`` None: the system, which sees all) comes back
    suppressed, with its size only.

    Whether a person may see a group's figures counts the 所属 that contributed to them (``scored``: those
    with a maturity), not the group's size.

    A closed round's figures are read as stored (``group_figure``); an open round's are computed from
    the histogram of maturities (``maturity_tally``) in SQL, so that a round of 3,000 所属 arrives as a
    handful of rows per group."""
    ids = list(set(round_ids))
    if not ids:
        return {}
    conn = session.connection()
    stored = set() if states is not None else _closed_and_stored(conn, ids)
    scope = _Scope(bureau_ids, prefecture, categories, states)
    raw = _stored(conn, list(stored), scope) if stored else {}
    live = [r for r in ids if r not in stored]
    if live:
        raw |= _confirmed_groups(session, live, scope) if _confirmed_only(states) else _live(conn, live, scope)
    # Every group asked for has its overall figure, empty when it has no sheet in the round.
    for round_id in ids:
        for bureau_id in [*([PREFECTURE] if prefecture else []), *(bureau_ids or [])]:
            raw.setdefault(GroupKey(round_id, bureau_id), (0, 0, 0, None))
    pooled = _completion(conn, ids, states) if completion else {}
    result = {}
    for key, (sections, scored, tenths, five) in raw.items():
        hidden = principal is not None and permissions.why_not_see_group(
            principal, scored, rules.MIN_GROUP_SIZE) is not None
        result[key] = rules.group(sections, scored, tenths, five, suppressed=hidden,
                                  completion=pooled.get((key.round_id, key.bureau_id)))
    return result


@dataclass(frozen=True)
class _Scope:
    """Which groups a call reads: its statements' shape and their parameters."""

    bureau_ids: Collection[int] | None
    prefecture: bool
    categories: bool
    states: Collection[str] | None

    @property
    def shape(self) -> dict:
        return {"bureaus": self.bureau_ids is not None, "prefecture": self.prefecture,
                "categories": self.categories, "states": self.states is not None}

    def params(self, round_ids: list[int]) -> dict:
        return {"round_ids": round_ids, "scopes": [*(self.bureau_ids or ()), *([PREFECTURE] if self.prefecture else [])],
                "states": list(self.states or ())}


def _where(model, *, bureaus: bool, prefecture: bool, categories: bool, states: bool) -> list:
    where = [model.round_id.in_(bindparam("round_ids", expanding=True))]
    if bureaus:
        where.append(model.bureau_id.in_(bindparam("scopes", expanding=True)))
    elif not prefecture:
        where.append(model.bureau_id != PREFECTURE)
    if not categories:
        where.append(model.category == OVERALL)
    if states:
        where.append(model.state.in_(bindparam("states", expanding=True)))
    return where


_CLOSED_AND_STORED = (
    select(StoredGroupFigure.round_id).join(Round, Round.id == StoredGroupFigure.round_id)
    .where(StoredGroupFigure.round_id.in_(bindparam("round_ids", expanding=True)),
           StoredGroupFigure.bureau_id == PREFECTURE, StoredGroupFigure.category == OVERALL,
           Round.state == RoundState.CLOSED)
)


def _closed_and_stored(conn, round_ids: list[int]) -> set[int]:
    return set(conn.execute(_CLOSED_AND_STORED, {"round_ids": round_ids}).scalars())


@lru_cache(maxsize=16)
def _stored_statement(**shape):
    g = StoredGroupFigure
    return select(g.round_id, g.bureau_id, g.category, g.sections, g.scored, g.tenths, g.minimum, g.q1, g.median,
                  g.q3, g.maximum).where(*_where(g, **(shape | {"states": False})))


def _stored(conn, round_ids: list[int], scope: _Scope) -> dict[GroupKey, Raw]:
    rows = conn.execute(_stored_statement(**scope.shape), scope.params(round_ids))
    return {GroupKey(r, b, c): (n, scored, tenths, FiveNumbers(*five) if scored else None)
            for r, b, c, n, scored, tenths, *five in rows}


@lru_cache(maxsize=16)
def _histogram_statement(**shape):
    """Per (round, group, category): its histogram of maturities as one string of "maturity,所属" pairs
    joined by commas (in no particular order), summed over sheet states. A round's 部局 are a few thousand
    (group, maturity) pairs: as rows, each a Python object (and on SQLite a release and retake of the GIL
    per row, which under concurrent requests costs most), they cost more than reading the tallies."""
    m = MaturityTally
    group = (m.round_id, m.bureau_id, m.category)
    pairs = (select(*group, m.maturity_x10, func.sum(m.sections).label("n")).where(*_where(m, **shape))
             .group_by(*group, m.maturity_x10).having(func.sum(m.sections) > 0).subquery())
    return (select(pairs.c.round_id, pairs.c.bureau_id, pairs.c.category, _joined(pairs.c.maturity_x10, pairs.c.n))
            .group_by(pairs.c.round_id, pairs.c.bureau_id, pairs.c.category))


def _live(conn, round_ids: list[int], scope: _Scope) -> dict[GroupKey, Raw]:
    """From the histogram of maturities: each group's size, its 所属 with a maturity and their sum, and
    the five numbers (a histogram of a round's 3,000 所属 is a few hundred values per group at most)."""
    result: dict[GroupKey, Raw] = {}
    for round_id, bureau_id, category, joined in conn.execute(_histogram_statement(**scope.shape),
                                                               scope.params(round_ids)).all():
        result[GroupKey(round_id, bureau_id, category)] = _raw_of(_split(joined))
    return result


def _raw_of(histogram: Iterable[tuple[int, int]]) -> Raw:
    """A group's figures from its histogram of maturities ((maturity_x10, 所属) pairs)."""
    sections = scored = tenths = 0
    ranges: list[tuple[int, int, float]] = []  # (first position, next position, maturity) in sorted order
    # ascending maturity: "no maturity" (NO_MATURITY, below every value) first
    for value, n in sorted(histogram):
        sections += n
        if value != NO_MATURITY:
            ranges.append((scored, scored + n, value / 10))
            scored += n
            tenths += value * n
    return sections, scored, tenths, rules.five_numbers_of(scored, _nth(ranges))


# The confirmed sheets of some rounds per (round, 部局, category, points, answered): what their maturities need,
# counted in SQL (a round's sheets share a few hundred such pairs), overall and per category.
_CONFIRMED_ROUNDS = (Sheet.round_id.in_(bindparam("round_ids", expanding=True)), confirmed_sheet())
_CONFIRMED_OVERALL = (
    select(Sheet.round_id, Sheet.bureau_id, literal(OVERALL), Sheet.tally_points, Sheet.tally_answered, func.count())
    .where(*_CONFIRMED_ROUNDS).group_by(Sheet.round_id, Sheet.bureau_id, Sheet.tally_points, Sheet.tally_answered))
_CONFIRMED_CATEGORIES = (
    select(Sheet.round_id, Sheet.bureau_id, SheetTally.category, SheetTally.points, SheetTally.answered, func.count())
    .join(SheetTally, SheetTally.sheet_id == Sheet.id).where(*_CONFIRMED_ROUNDS)
    .group_by(Sheet.round_id, Sheet.bureau_id, SheetTally.category, SheetTally.points, SheetTally.answered))


def _confirmed_histograms(session: Session, round_ids: Collection[int], *,
                          categories: bool) -> dict[GroupKey, Counter[int]]:
    """Per group (every 部局 and the prefecture) and category: the histogram of maturities (maturity_x10 → 所属)
    of the confirmed sheets, as the group tallies would hold it if they counted confirmed sheets apart."""
    conn = session.connection()
    top = max_points(session, round_ids)
    result: dict[GroupKey, Counter[int]] = defaultdict(Counter)
    for statement in (_CONFIRMED_OVERALL, *([_CONFIRMED_CATEGORIES] if categories else [])):
        for round_id, bureau_id, category, points, answered, n in conn.execute(statement,
                                                                               {"round_ids": list(round_ids)}):
            tenths = maturity_x10(Counts(answered=answered, points=points), top[round_id])
            for group in (bureau_id, PREFECTURE):
                result[GroupKey(round_id, group, category)][tenths] += n
    return result


def _confirmed_groups(session: Session, round_ids: list[int], scope: _Scope) -> dict[GroupKey, Raw]:
    """What ``_live`` reads from the group tallies, over the confirmed sheets only."""
    wanted = None if scope.bureau_ids is None else set(scope.bureau_ids)
    return {key: _raw_of(histogram.items())
            for key, histogram in _confirmed_histograms(session, round_ids, categories=scope.categories).items()
            if (scope.prefecture if key.bureau_id == PREFECTURE else wanted is None or key.bureau_id in wanted)}


def _nth(ranges: list[tuple[int, int, float]]):
    """``nth(i)`` over a group's value ranges: the value whose [low, high) holds position i (the ranges are
    consecutive and sorted, so the one that starts last at or before i)."""
    starts = [low for low, _, _ in ranges]

    def nth(i: int) -> float:
        return ranges[bisect_right(starts, i) - 1][2]
    return nth


@lru_cache(maxsize=4)
def _completion_statement(states: str | None):
    where = [Sheet.round_id.in_(bindparam("round_ids", expanding=True)), *sheet_in(states)]
    return (select(Sheet.round_id, Sheet.bureau_id, func.sum(Sheet.tally_answered + Sheet.tally_not_applicable),
                   func.sum(Sheet.tally_total)).where(*where).group_by(Sheet.round_id, Sheet.bureau_id))


def _completion(conn, round_ids: list[int], states: Collection[str] | None) -> dict[tuple[int, int], float]:
    """Pooled completion (answered and 該当なし over all items) per round and 部局, and the prefecture's,
    from the sheets' stored counts."""
    done: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    rows = conn.execute(_completion_statement(states_shape(states)), {"round_ids": round_ids,
                                                                     "states": list(states or ())})
    for round_id, bureau_id, answered, total in rows:
        for key in ((round_id, bureau_id), (round_id, PREFECTURE)):
            done[key][0] += int(answered)
            done[key][1] += int(total)
    return {key: rules.share(answered, total) for key, (answered, total) in done.items()}


def materialize(session: Session, round_id: int, bureau_ids: Collection[int] | None = None) -> None:
    """Store the figures of a round's groups (every group, or the prefecture and ``bureau_ids``), as
    ``groups`` computes them: when the round is closed, and after every change of a closed round."""
    conn = session.connection()
    g = StoredGroupFigure
    in_scope = [] if bureau_ids is None else [g.bureau_id.in_([PREFECTURE, *bureau_ids])]
    conn.execute(delete(g).where(g.round_id == round_id, *in_scope))
    raw = _live(conn, [round_id], _Scope(bureau_ids, True, True, None))
    rows = [{"round_id": k.round_id, "bureau_id": k.bureau_id, "category": k.category, "sections": n,
             "scored": scored, "tenths": tenths,
             **dict(zip(("minimum", "q1", "median", "q3", "maximum"), astuple(five) if five else (None,) * 5,
                        strict=True))}
            for k, (n, scored, tenths, five) in raw.items()]
    if rows:
        conn.execute(insert(g), rows)


def refresh_stored(session: Session, round_id: int, bureau_ids: Collection[int]) -> None:
    """After a change of a round that is not open: its stored figures (if it has them) follow."""
    if _closed_and_stored(session.connection(), [round_id]):
        materialize(session, round_id, bureau_ids)


@lru_cache(maxsize=8)
def _item_counts_statement(keys: bool, states: bool):
    i = ItemTally
    where = [i.round_id == bindparam("round_id"), i.bureau_id == bindparam("bureau_id")]
    if keys:
        where.append(i.item_key.in_(bindparam("keys", expanding=True)))
    if states:
        where.append(i.state.in_(bindparam("states", expanding=True)))
    return select(i.item_key, i.status, func.sum(i.sections)).where(*where).group_by(i.item_key, i.status)


def item_counts(session: Session, round_id: int, *, bureau_id: int | None = None,
                keys: Collection[str] | None = None, states: Collection[str] | None = None) -> dict[str, ItemCounts]:
    """Per item, how many 所属 of the prefecture (or of one 部局) answered it with each status."""
    if _confirmed_only(states):
        return _confirmed_item_counts(session, round_id, bureau_id, keys)
    query = _item_counts_statement(keys is not None, states is not None)
    params = {"round_id": round_id, "bureau_id": PREFECTURE if bureau_id is None else bureau_id,
              "keys": list(keys or ()), "states": list(states or ())}
    by_item: dict[str, dict[str, int]] = defaultdict(dict)
    for key, status, n in session.connection().execute(query, params):
        by_item[key][status] = n
    return {key: ItemCounts.of(counts, sum(counts.values())) for key, counts in by_item.items()}


def _confirmed_answers(round_id: int, bureau_id: int | None, keys: Collection[str] | None) -> list:
    """Conditions on ``answer`` joined to ``sheet``: the answers of the round's confirmed sheets (of one 部局, to
    some items)."""
    where = [Sheet.round_id == round_id, confirmed_sheet()]
    if bureau_id is not None:
        where.append(Sheet.bureau_id == bureau_id)
    if keys is not None:
        where.append(Answer.item_key.in_(list(keys)))
    return where


def _confirmed_item_counts(session: Session, round_id: int, bureau_id: int | None,
                           keys: Collection[str] | None) -> dict[str, ItemCounts]:
    """``item_counts`` over the confirmed sheets, counted in SQL from their answers (every item of a sheet has
    an answer row, unanswered or not)."""
    query = (select(Answer.item_key, Answer.status, func.count()).join(Sheet, Sheet.id == Answer.sheet_id)
             .where(*_confirmed_answers(round_id, bureau_id, keys)).group_by(Answer.item_key, Answer.status))
    by_item: dict[str, dict[str, int]] = defaultdict(dict)
    for key, status, n in session.connection().execute(query):
        by_item[key][status or UNANSWERED] = n
    return {key: ItemCounts.of(counts, sum(counts.values())) for key, counts in by_item.items()}


@lru_cache(maxsize=4)
def _sections_in_statement(states: bool):
    m = MaturityTally
    where = [m.round_id == bindparam("round_id"), m.bureau_id == bindparam("bureau_id"), m.category == OVERALL]
    if states:
        where.append(m.state.in_(bindparam("states", expanding=True)))
    return select(func.coalesce(func.sum(m.sections), 0)).where(*where)


def sections_in(session: Session, round_id: int, *, bureau_id: int | None = None,
                states: Collection[str] | None = None) -> int:
    """How many 所属 of the prefecture (or of one 部局) have a sheet in the round (in the sheet ``states``)."""
    if _confirmed_only(states):
        return count_sheets(session, round_id, bureau_id=bureau_id, states=states)
    params = {"round_id": round_id, "bureau_id": PREFECTURE if bureau_id is None else bureau_id,
              "states": list(states or ())}
    return session.connection().execute(_sections_in_statement(states is not None), params).scalar_one()


@lru_cache(maxsize=8)
def _bureau_counts_statement(one_bureau: bool, states: bool):
    i = ItemTally
    where = [i.round_id == bindparam("round_id"), i.item_key.in_(bindparam("keys", expanding=True)),
             i.status == bindparam("status"),
             i.bureau_id == bindparam("bureau_id") if one_bureau else i.bureau_id != PREFECTURE]
    if states:
        where.append(i.state.in_(bindparam("states", expanding=True)))
    per_bureau = (select(i.item_key, i.bureau_id, func.sum(i.sections).label("n")).where(*where)
                  .group_by(i.item_key, i.bureau_id).subquery())
    return select(per_bureau.c.item_key, _joined(per_bureau.c.bureau_id, per_bureau.c.n)).group_by(per_bureau.c.item_key)


def bureau_counts(session: Session, round_id: int, keys: Collection[str], status: str, *,
                  bureau_id: int | None = None, states: Collection[str] | None = None) -> dict[str, dict[int, int]]:
    """Per item, how many 所属 of each 部局 (or of one) answered it with ``status``: per item one string of
    "部局,所属" pairs (a hundred-odd 部局 per item are rows that cost more than the query)."""
    if _confirmed_only(states):
        return _confirmed_bureau_counts(session, round_id, keys, status, bureau_id)
    query = _bureau_counts_statement(bureau_id is not None, states is not None)
    params = {"round_id": round_id, "keys": list(keys), "status": status, "bureau_id": bureau_id,
              "states": list(states or ())}
    result: dict[str, dict[int, int]] = defaultdict(dict)
    for key, joined in session.connection().execute(query, params).all():
        result[key] = dict(_split(joined))
    return result


def _confirmed_bureau_counts(session: Session, round_id: int, keys: Collection[str], status: str,
                             bureau_id: int | None) -> dict[str, dict[int, int]]:
    """``bureau_counts`` over the confirmed sheets, counted in SQL from their answers."""
    answered = Answer.status.is_(None) if status == UNANSWERED else Answer.status == status
    query = (select(Answer.item_key, Sheet.bureau_id, func.count()).join(Sheet, Sheet.id == Answer.sheet_id)
             .where(*_confirmed_answers(round_id, bureau_id, keys), answered)
             .group_by(Answer.item_key, Sheet.bureau_id))
    result: dict[str, dict[int, int]] = defaultdict(dict)
    for key, bureau, n in session.connection().execute(query):
        result[key][bureau] = n
    return result


@lru_cache(maxsize=4)
def _maturities_statement(states: bool):
    m = MaturityTally
    where = [m.round_id == bindparam("round_id"), m.bureau_id == bindparam("bureau_id"),
             m.category == bindparam("category")]
    if states:
        where.append(m.state.in_(bindparam("states", expanding=True)))
    values = (select(m.maturity_x10, func.sum(m.sections).label("n"))
              .where(*where).group_by(m.maturity_x10).subquery())
    return select(_joined(values.c.maturity_x10, values.c.n))


def maturities(session: Session, round_id: int, *, bureau_id: int | None = None,
               category: str = OVERALL, states: Collection[str] | None = None) -> list[tuple[float | None, int]]:
    """The maturities of the 所属 of the prefecture (or of one 部局) in a round (in the sheet ``states``):
    (value, how many), in ascending order ("none" first). Read as one string of "maturity,所属" pairs
    (hundreds of values)."""
    if _confirmed_only(states):
        histogram = _confirmed_histograms(session, [round_id], categories=category != OVERALL)
        found = histogram.get(GroupKey(round_id, PREFECTURE if bureau_id is None else bureau_id, category), {})
        return [(None if tenths == NO_MATURITY else tenths / 10, n) for tenths, n in sorted(found.items()) if n]
    params = {"round_id": round_id, "bureau_id": PREFECTURE if bureau_id is None else bureau_id,
              "category": category, "states": list(states or ())}
    joined = session.connection().execute(_maturities_statement(states is not None), params).scalar()
    return [(None if tenths == NO_MATURITY else tenths / 10, n) for tenths, n in sorted(_split(joined)) if n]


def _joined(a, b):
    """Integer pairs (a, b) of a query's rows read as one string "a,b,a,b,…" (no order): a few hundred rows
    cost more as Python objects (and, on SQLite, a release and retake of the GIL per row) than the query."""
    return func.aggregate_strings(cast(a, String) + "," + cast(b, String), ",")


def _split(joined: str | None) -> list[tuple[int, int]]:
    """The pairs of a ``_joined`` string."""
    flat = json.loads(f"[{joined or ''}]")
    return list(zip(flat[::2], flat[1::2], strict=True))
