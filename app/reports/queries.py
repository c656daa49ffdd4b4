"""SQL for the desk's figures (業務DX相談窓口): GROUP BY over the answers of one round.

Every function takes a session and plain values and returns small typed rows; the formulas that
finish them (maturity, shares, priority, quartiles) are in ``app.scoring.rules``. Answers are counted
by the database, never looped over in Python, except where a page shows the answers themselves
(the heatmap's cells of one page, the 所属 at × of ☆☆☆ items).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.auth.models import Membership, SectionRole, User
from app.checklists.service import Definition
from app.orgs.models import Unit, UnitKind
from app.orgs.service import in_force
from app.rounds.models import Round
from app.scoring import rules
from app.scoring.rules import Status, Tally
from app.sheets.models import Answer, Sheet, SheetState

_SCORED = [s.value for s in rules.SCORED_STATUSES]
Bureau = aliased(Unit, name="bureau")
# Organisation order of a round's sheets: the 部局's place, then the 所属's place in it.
ORG_ORDER = (Bureau.position, Bureau.code, Unit.position, Unit.code)


@dataclass(frozen=True)
class BureauRef:
    id: int
    code: str
    name: str
    position: int


def round_bureaus(session: Session, round_: Round) -> list[BureauRef]:
    """The 部局 of a round, in organisation order: those in force when it opened (even with no 所属,
    shown with zero counts) and any 部局 its sheets were filed under."""
    of_sheets = select(Sheet.bureau_id).where(Sheet.round_id == round_.id)
    query = (
        select(Unit.id, Unit.code, Unit.name, Unit.position)
        .where(or_(and_(Unit.kind == UnitKind.BUREAU, Unit.parent_id.is_(None), in_force(round_.opens_on)),
                   Unit.id.in_(of_sheets)))
        .order_by(Unit.position, Unit.code)
    )
    return [BureauRef(*row) for row in session.execute(query)]


def bureau_by_code(bureaus: Iterable[BureauRef], code: str | None) -> BureauRef | None:
    return next((b for b in bureaus if b.code == code), None) if code else None


@dataclass(frozen=True)
class SectionTotal:
    """One 所属's sheet in a round: who, where, state, and its overall tally."""

    sheet_id: int
    unit_id: int
    code: str
    name: str
    position: int
    bureau_id: int
    state: str
    entry_on: date | None
    submitted_at: datetime | None
    tally: Tally

    @property
    def submitted(self) -> bool:
        return self.state == SheetState.SUBMITTED

    @property
    def progress(self) -> rules.Progress:
        return rules.progress(self.submitted, self.tally)

    @property
    def maturity(self) -> float | None:
        return self.tally.maturity


def _points_case(definition: Definition):
    """Points of an answer's status, as the checklist version defines them (0 for 該当なし / none)."""
    return case({s.value: p for s, p in definition.points.items()}, value=Answer.status, else_=0)


def section_totals(session: Session, round_id: int, definition: Definition, *,
                   bureau_id: int | None = None) -> list[SectionTotal]:
    """Every sheet of a round (or of one 部局) with its overall tally, in organisation order.

    One GROUP BY over the round's answers. Items without an answer row count as unanswered, as in
    ``app.scoring.queries.sheet_scores`` (the same numbers; this query skips the per-category split).
    """
    answered = func.sum(case((Answer.status.in_(_SCORED), 1), else_=0))
    not_applicable = func.sum(case((Answer.status == Status.NOT_APPLICABLE.value, 1), else_=0))
    points = func.sum(_points_case(definition))
    query = (
        select(Sheet.id, Sheet.unit_id, Unit.code, Unit.name, Unit.position, Sheet.bureau_id, Sheet.state,
               Sheet.entry_on, Sheet.submitted_at, answered, not_applicable, points)
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Bureau, Bureau.id == Sheet.bureau_id)
        .outerjoin(Answer, and_(Answer.sheet_id == Sheet.id, Answer.status.is_not(None)))
        .where(Sheet.round_id == round_id)
        .group_by(Sheet.id, Unit.id, Bureau.id)
        .order_by(*ORG_ORDER)
    )
    if bureau_id is not None:
        query = query.where(Sheet.bureau_id == bureau_id)
    total, max_points = len(definition.items), definition.max_points
    return [
        SectionTotal(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                     Tally(total, r[9] or 0, r[10] or 0, r[11] or 0, max_points))
        for r in session.execute(query)
    ]


def item_status_counts(session: Session, round_id: int, *, bureau_id: int | None = None,
                       keys: Sequence[str] | None = None, unit_ids: Sequence[int] | None = None
                       ) -> dict[str, dict[str, int]]:
    """``{item key: {status symbol: number of 所属}}`` over the round (or one 部局). Unanswered
    items are not listed: they are the sheets in the group minus those counted."""
    query = (
        select(Answer.item_key, Answer.status, func.count())
        .join(Sheet, Sheet.id == Answer.sheet_id)
        .where(Sheet.round_id == round_id, Answer.status.is_not(None))
        .group_by(Answer.item_key, Answer.status)
        .where(*_scope(bureau_id, unit_ids))
    )
    if keys is not None:
        query = query.where(Answer.item_key.in_(list(keys)))
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for key, status, count in session.execute(query):
        result[key][status] = count
    return result


def sheet_count(session: Session, round_id: int, *, bureau_id: int | None = None,
                unit_ids: Sequence[int] | None = None) -> int:
    query = select(func.count()).select_from(Sheet).where(Sheet.round_id == round_id, *_scope(bureau_id, unit_ids))
    return session.execute(query).scalar_one()


def cells(session: Session, sheet_ids: Sequence[int]) -> dict[int, dict[str, str | None]]:
    """The answers of a few sheets (one heatmap page): ``{sheet id: {item key: status}}``."""
    result: dict[int, dict[str, str | None]] = defaultdict(dict)
    if not sheet_ids:
        return result
    query = select(Answer.sheet_id, Answer.item_key, Answer.status).where(Answer.sheet_id.in_(list(sheet_ids)))
    for sheet_id, key, status in session.execute(query):
        result[sheet_id][key] = status
    return result


@dataclass(frozen=True)
class QuickWinRow:
    sheet_id: int
    code: str
    name: str
    bureau_id: int
    item_key: str
    status: str
    priority: int
    section_quick_wins: int
    section_maturity: float | None


def _quick_win_filter(round_id: int, definition: Definition, bureau_id: int | None,
                      unit_ids: Sequence[int] | None) -> list | None:
    keys = [i.key for i in definition.items if i.difficulty == rules.QUICK_WIN_DIFFICULTY]
    if not keys:
        return None
    where = [Sheet.round_id == round_id, Answer.item_key.in_(keys),
             Answer.status.in_([s.value for s in rules.QUICK_WIN_STATUSES])]
    return where + _scope(bureau_id, unit_ids)


def _scope(bureau_id: int | None, unit_ids: Sequence[int] | None) -> list:
    where = []
    if bureau_id is not None:
        where.append(Sheet.bureau_id == bureau_id)
    if unit_ids is not None:
        where.append(Sheet.unit_id.in_(list(unit_ids)))
    return where


def quick_win_count(session: Session, round_id: int, definition: Definition, *, bureau_id: int | None = None,
                    unit_ids: Sequence[int] | None = None) -> int:
    """How many 所属 × ☆ item are at △ or × (in a 部局, or among some 所属)."""
    where = _quick_win_filter(round_id, definition, bureau_id, unit_ids)
    if where is None:
        return 0
    return session.execute(
        select(func.count()).select_from(Answer).join(Sheet, Sheet.id == Answer.sheet_id).where(*where)
    ).scalar_one()


def quick_wins(session: Session, round_id: int, definition: Definition, *, bureau_id: int | None = None,
               unit_ids: Sequence[int] | None = None, offset: int = 0, limit: int = 50) -> list[QuickWinRow]:
    """One page of 所属 × ☆ item at △ or ×, highest priority first.

    Order: ``rules.priority`` (ease × gap), then the 所属 with more quick wins, then its lower
    maturity, then organisation and sheet order. The database ranks: a window count per sheet, and
    the sheet's points over its scored answers.
    """
    where = _quick_win_filter(round_id, definition, bureau_id, unit_ids)
    if where is None:
        return []
    # Per sheet with a quick win: its points and scored answers (for the maturity tie-break).
    candidates = select(Answer.sheet_id).join(Sheet, Sheet.id == Answer.sheet_id).where(*where)
    per_sheet = (
        select(Answer.sheet_id.label("sheet_id"),
               func.sum(_points_case(definition)).label("points"),
               func.sum(case((Answer.status.in_(_SCORED), 1), else_=0)).label("scored"))
        .where(Answer.sheet_id.in_(candidates), Answer.status.is_not(None))
        .group_by(Answer.sheet_id)
        .subquery()
    )
    priority = case({s.value: rules.priority(rules.QUICK_WIN_DIFFICULTY, s, definition.points)
                     for s in rules.QUICK_WIN_STATUSES}, value=Answer.status)
    position = case({i.key: i.position for i in definition.items}, value=Answer.item_key)
    ranked = (
        select(Answer.sheet_id, Unit.code, Unit.name, Sheet.bureau_id, Answer.item_key, Answer.status,
               priority.label("priority"), func.count().over(partition_by=Answer.sheet_id).label("per_section"),
               per_sheet.c.points, per_sheet.c.scored,
               (per_sheet.c.points * 1.0 / per_sheet.c.scored).label("ratio"),
               Bureau.position.label("bureau_position"), Bureau.code.label("bureau_code"),
               Unit.position.label("unit_position"), position.label("item_position"))
        .join(Sheet, Sheet.id == Answer.sheet_id)
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Bureau, Bureau.id == Sheet.bureau_id)
        .join(per_sheet, per_sheet.c.sheet_id == Answer.sheet_id)
        .where(*where)
        .subquery()
    )
    page = (
        select(ranked)
        .order_by(ranked.c.priority.desc(), ranked.c.per_section.desc(), ranked.c.ratio,
                  ranked.c.bureau_position, ranked.c.bureau_code, ranked.c.unit_position, ranked.c.code,
                  ranked.c.item_position)
        .offset(offset)
        .limit(limit)
    )
    return [
        QuickWinRow(r.sheet_id, r.code, r.name, r.bureau_id, r.item_key, r.status, r.priority, r.per_section,
                    rules.maturity(r.points, r.scored, definition.max_points))
        for r in session.execute(page)
    ]


@dataclass(frozen=True)
class CounterpartRow:
    item_key: str
    bureau_id: int
    code: str
    name: str


def counterpart_sections(session: Session, round_id: int, definition: Definition, *,
                         bureau_id: int | None = None, unit_ids: Sequence[int] | None = None
                         ) -> list[CounterpartRow]:
    """The 所属 at × on ☆☆☆ items (相手次第), in organisation order."""
    keys = [i.key for i in definition.items if i.difficulty == rules.COUNTERPART_DIFFICULTY]
    if not keys:
        return []
    query = (
        select(Answer.item_key, Sheet.bureau_id, Unit.code, Unit.name)
        .join(Sheet, Sheet.id == Answer.sheet_id)
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Bureau, Bureau.id == Sheet.bureau_id)
        .where(Sheet.round_id == round_id, Answer.item_key.in_(keys),
               Answer.status == rules.COUNTERPART_STATUS.value, *_scope(bureau_id, unit_ids))
        .order_by(*ORG_ORDER)
    )
    return [CounterpartRow(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class Leader:
    name: str
    upn: str


def leaders_of_round(session: Session, round_id: int, *, unsubmitted_only: bool = True,
                     bureau_id: int | None = None) -> dict[int, list[Leader]]:
    """``{unit id: [DX推進リーダー]}`` for the 所属 of a round (by default those not yet submitted)."""
    query = (
        select(Sheet.unit_id, User.display_name, User.upn)
        .join(Membership, Membership.unit_id == Sheet.unit_id)
        .join(User, User.id == Membership.user_id)
        .where(Sheet.round_id == round_id, Membership.role == SectionRole.LEADER, User.is_active)
        .order_by(Sheet.unit_id, User.display_name, User.upn)
    )
    if unsubmitted_only:
        query = query.where(Sheet.state != SheetState.SUBMITTED)
    if bureau_id is not None:
        query = query.where(Sheet.bureau_id == bureau_id)
    result: dict[int, list[Leader]] = defaultdict(list)
    for unit_id, name, upn in session.execute(query):
        result[unit_id].append(Leader(name, upn))
    return result
