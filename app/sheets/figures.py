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

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.orgs.models import Unit
from app.rounds.models import Round
from app.scoring import rules
from app.scoring.rules import GroupFigure, ItemCounts, Progress, ProgressCounts, Tally
from app.sheets.models import (
    NO_MATURITY,
    PREFECTURE,
    UNANSWERED,
    ItemTally,
    MaturityTally,
    Sheet,
    SheetState,
    SheetTally,
)
from app.sheets.tallies import OVERALL

Bureau = aliased(Unit, name="bureau")
# Organisation order of a round's sheets: the 部局's place, then the 所属's place in it.
ORG_ORDER = (Bureau.position, Bureau.code, Unit.position, Unit.code)
SUBMITTED = SheetState.SUBMITTED.value


def max_points(session: Session, round_ids: Iterable[int]) -> dict[int, int]:
    """The top points of each round's checklist version (maturity's denominator)."""
    ids = list(set(round_ids))
    if not ids:
        return {}
    rows = session.connection().execute(select(Round.id, Round.checklist_version_id).where(Round.id.in_(ids)))
    return {rid: checklists.get_definition(session, vid).max_points for rid, vid in rows}


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


_SHEET_ROWS = (Sheet.id, Sheet.round_id, Sheet.unit_id, Sheet.bureau_id, Sheet.state, Sheet.tally_total,
               Sheet.tally_answered, Sheet.tally_not_applicable, Sheet.tally_points)


def sheet_scores(session: Session, sheet_ids: Sequence[int]) -> dict[int, SheetScore]:
    """The figures of some sheets, by sheet id."""
    if not sheet_ids:
        return {}
    conn = session.connection()
    rows = conn.execute(select(*_SHEET_ROWS).where(Sheet.id.in_(list(sheet_ids)))).all()
    top = max_points(session, {r.round_id for r in rows})
    result = {}
    for sid, round_id, unit_id, bureau_id, state, total, answered, na, points in rows:
        result[sid] = SheetScore(sid, round_id, unit_id, bureau_id, state,
                                 Tally(total, answered, na, points, top[round_id]))
    for sid, name, total, answered, na, points in conn.execute(
        select(SheetTally.sheet_id, SheetTally.category, SheetTally.total, SheetTally.answered,
               SheetTally.not_applicable, SheetTally.points)
        .where(SheetTally.sheet_id.in_(list(result))).order_by(SheetTally.sheet_id, SheetTally.position)
    ):
        score = result[sid]
        score.categories[name] = Tally(total, answered, na, points, score.overall.max_points)
    return result


def sheet_score(session: Session, sheet_id: int) -> SheetScore:
    return sheet_scores(session, [sheet_id])[sheet_id]


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


Order = Literal["org", "asc", "desc", "all_asc", "all_desc"]
_STARTED = (Sheet.tally_answered + Sheet.tally_not_applicable) > 0


def in_progress(progress: Collection[Progress]):
    """SQL condition: the sheet is 未着手, 入力中 or 提出済 (any of ``progress``), as ``rules.progress`` says."""
    conditions = {Progress.SUBMITTED: Sheet.state == SUBMITTED,
                  Progress.IN_PROGRESS: and_(Sheet.state != SUBMITTED, _STARTED),
                  Progress.NOT_STARTED: and_(Sheet.state != SUBMITTED, ~_STARTED)}
    return or_(*[conditions[p] for p in progress])


def _ratio():
    """The maturity's order in SQL (points per answered item; none last)."""
    return case((Sheet.tally_answered > 0, Sheet.tally_points * 1.0 / Sheet.tally_answered), else_=None)


def _listing(round_id: int, *, bureau_id: int | None, unit_ids: Collection[int] | None,
             sheet_ids: Collection[int] | None, progress: Collection[Progress] | None, quick_wins: bool):
    where = [Sheet.round_id == round_id]
    if bureau_id is not None:
        where.append(Sheet.bureau_id == bureau_id)
    if unit_ids is not None:
        where.append(Sheet.unit_id.in_(list(unit_ids)))
    if sheet_ids is not None:
        where.append(Sheet.id.in_(list(sheet_ids)))
    if progress is not None:
        where.append(in_progress(progress))
    if quick_wins:
        where.append((Sheet.tally_quick_fair + Sheet.tally_quick_not_done) > 0)
    return where


def sheet_totals(session: Session, round_id: int, *, bureau_id: int | None = None,
                 unit_ids: Collection[int] | None = None, sheet_ids: Collection[int] | None = None,
                 progress: Collection[Progress] | None = None, quick_wins: bool = False, order: Order = "org",
                 limit: int | None = None, offset: int = 0) -> list[SheetTotal]:
    """A round's sheets (or those of one 部局, of some 所属, in some states of progress, with quick wins)
    with their overall figures, in organisation order or by maturity (within each 部局, or across the
    prefecture: ``all_``; 所属 without a maturity last), one page at a time."""
    ratio = _ratio()
    descending = order in ("desc", "all_desc")
    by_maturity = [(ratio.desc() if descending else ratio.asc()).nulls_last()]
    ordering = {"org": ORG_ORDER, "asc": (Bureau.position, Bureau.code, *by_maturity, *ORG_ORDER[2:]),
                "all_asc": (*by_maturity, *ORG_ORDER)}
    ordering["desc"], ordering["all_desc"] = ordering["asc"], ordering["all_asc"]
    query = (
        select(Sheet.id, Sheet.unit_id, Unit.code, Unit.name, Sheet.bureau_id, Sheet.state, Sheet.entry_on,
               Sheet.tally_total, Sheet.tally_answered, Sheet.tally_not_applicable, Sheet.tally_points,
               Sheet.tally_quick_fair, Sheet.tally_quick_not_done)
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Bureau, Bureau.id == Sheet.bureau_id)
        .where(*_listing(round_id, bureau_id=bureau_id, unit_ids=unit_ids, sheet_ids=sheet_ids, progress=progress,
                         quick_wins=quick_wins))
        .order_by(*ordering[order])
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    top = max_points(session, [round_id]).get(round_id, 3)
    return [SheetTotal(*r[:7], Tally(r[7], r[8], r[9], r[10], top), r[11], r[12])
            for r in session.connection().execute(query)]


def count_sheets(session: Session, round_id: int, *, bureau_id: int | None = None,
                 unit_ids: Collection[int] | None = None, progress: Collection[Progress] | None = None) -> int:
    query = select(func.count()).select_from(Sheet).where(*_listing(
        round_id, bureau_id=bureau_id, unit_ids=unit_ids, sheet_ids=None, progress=progress, quick_wins=False))
    return session.connection().execute(query).scalar_one()


def progress_counts(session: Session, round_id: int) -> dict[int, ProgressCounts]:
    """未着手 / 入力中 / 提出済 per 部局 of a round (sum them for the prefecture)."""
    query = (select(Sheet.bureau_id, Sheet.state, _STARTED, func.count())
             .where(Sheet.round_id == round_id).group_by(Sheet.bureau_id, Sheet.state, _STARTED))
    counts: dict[int, dict[Progress, int]] = defaultdict(lambda: defaultdict(int))
    for bureau_id, state, started, n in session.connection().execute(query):
        counts[bureau_id][rules.progress_of(state == SUBMITTED, bool(started))] += n
    return {b: ProgressCounts(c[Progress.NOT_STARTED], c[Progress.IN_PROGRESS], c[Progress.SUBMITTED])
            for b, c in counts.items()}


# --- groups ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupKey:
    round_id: int
    bureau_id: int  # PREFECTURE for the whole prefecture
    category: str = OVERALL


def groups(session: Session, principal: Principal | None, round_ids: Iterable[int], *,
           bureau_ids: Collection[int] | None = None, prefecture: bool = True, categories: bool = False,
           completion: bool = False, states: Collection[str] | None = None) -> dict[GroupKey, GroupFigure]:
    """Group figures per round: the prefecture (``prefecture``) and the 部局 ``bureau_ids`` (every 部局
    when None), overall, and per category too with ``categories``; the pooled completion with
    ``completion``; over the sheets in ``states`` (all when None). A group the person may not see
    (``permissions.why_not_see_group``; ``principal`` None: the system, which sees all) comes back
    suppressed, with its size only."""
    ids = list(set(round_ids))
    if not ids:
        return {}
    m = MaturityTally
    where = [m.round_id.in_(ids)]
    if bureau_ids is not None:
        where.append(m.bureau_id.in_([*bureau_ids, *([PREFECTURE] if prefecture else [])]))
    elif not prefecture:
        where.append(m.bureau_id != PREFECTURE)
    if not categories:
        where.append(m.category == OVERALL)
    if states is not None:
        where.append(m.state.in_(list(states)))
    query = (select(m.round_id, m.bureau_id, m.category, m.maturity_x10, func.sum(m.sections))
             .where(*where).group_by(m.round_id, m.bureau_id, m.category, m.maturity_x10))
    values: dict[GroupKey, list[tuple[float | None, int]]] = defaultdict(list)
    for round_id, bureau_id, category, tenths, n in session.connection().execute(query):
        if n:
            values[GroupKey(round_id, bureau_id, category)].append((None if tenths == NO_MATURITY else tenths / 10, n))
    pooled = _completion(session, ids, where_bureaus=bureau_ids, prefecture=prefecture,
                         states=states) if completion else {}
    # Every group asked for has its overall figure, empty when it has no sheet in the round.
    scopes = [*([PREFECTURE] if prefecture else []), *(bureau_ids or [])]
    for round_id in ids:
        for scope in scopes:
            values.setdefault(GroupKey(round_id, scope), [])
    result = {}
    for key, pairs in values.items():
        sections = sum(n for _, n in pairs)
        hidden = principal is not None and permissions.why_not_see_group(
            principal, sections, rules.MIN_GROUP_SIZE) is not None
        result[key] = rules.group(pairs, completion=pooled.get((key.round_id, key.bureau_id)), suppressed=hidden)
    return result


def _completion(session: Session, round_ids: list[int], *, where_bureaus: Collection[int] | None,
                prefecture: bool, states: Collection[str] | None) -> dict[tuple[int, int], float]:
    i = ItemTally
    where = [i.round_id.in_(round_ids)]
    if where_bureaus is not None:
        where.append(i.bureau_id.in_([*where_bureaus, *([PREFECTURE] if prefecture else [])]))
    if states is not None:
        where.append(i.state.in_(list(states)))
    query = (select(i.round_id, i.bureau_id, func.sum(case((i.status != UNANSWERED, i.sections), else_=0)),
                    func.sum(i.sections)).where(*where).group_by(i.round_id, i.bureau_id))
    return {(r, b): rules.share(done, total) for r, b, done, total in session.connection().execute(query)}


def item_counts(session: Session, round_id: int, *, bureau_id: int | None = None,
                keys: Collection[str] | None = None, states: Collection[str] | None = None) -> dict[str, ItemCounts]:
    """Per item, how many 所属 of the prefecture (or of one 部局) answered it with each status."""
    i = ItemTally
    where = [i.round_id == round_id, i.bureau_id == (PREFECTURE if bureau_id is None else bureau_id)]
    if keys is not None:
        where.append(i.item_key.in_(list(keys)))
    if states is not None:
        where.append(i.state.in_(list(states)))
    query = select(i.item_key, i.status, func.sum(i.sections)).where(*where).group_by(i.item_key, i.status)
    by_item: dict[str, dict[str, int]] = defaultdict(dict)
    for key, status, n in session.connection().execute(query):
        by_item[key][status] = n
    return {key: ItemCounts.of(counts, sum(counts.values())) for key, counts in by_item.items()}


def sections_in(session: Session, round_id: int, *, bureau_id: int | None = None) -> int:
    """How many 所属 of the prefecture (or of one 部局) have a sheet in the round."""
    m = MaturityTally
    query = select(func.coalesce(func.sum(m.sections), 0)).where(
        m.round_id == round_id, m.bureau_id == (PREFECTURE if bureau_id is None else bureau_id),
        m.category == OVERALL)
    return session.connection().execute(query).scalar_one()


def bureau_counts(session: Session, round_id: int, keys: Collection[str], status: str, *,
                  bureau_id: int | None = None) -> dict[str, dict[int, int]]:
    """Per item, how many 所属 of each 部局 (or of one) answered it with ``status``."""
    i = ItemTally
    where = [i.round_id == round_id, i.item_key.in_(list(keys)), i.status == status,
             i.bureau_id != PREFECTURE if bureau_id is None else i.bureau_id == bureau_id]
    query = select(i.item_key, i.bureau_id, func.sum(i.sections)).where(*where).group_by(i.item_key, i.bureau_id)
    result: dict[str, dict[int, int]] = defaultdict(dict)
    for key, bureau, n in session.connection().execute(query):
        result[key][bureau] = n
    return result


def maturities(session: Session, round_id: int, *, bureau_id: int | None = None,
               category: str = OVERALL) -> list[tuple[float | None, int]]:
    """The maturities of the 所属 of the prefecture (or of one 部局) in a round: (value, how many)."""
    m = MaturityTally
    query = (select(m.maturity_x10, func.sum(m.sections))
             .where(m.round_id == round_id, m.bureau_id == (PREFECTURE if bureau_id is None else bureau_id),
                    m.category == category).group_by(m.maturity_x10).order_by(m.maturity_x10))
    return [(None if tenths == NO_MATURITY else tenths / 10, n) for tenths, n in session.connection().execute(query)
            if n]
