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
from datetime import date

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.auth.models import Membership, SectionRole, User
from app.checklists.service import Definition
from app.orgs.models import Unit, UnitKind
from app.orgs.service import in_force
from app.rounds.models import Round
from app.scoring import queries as scoring_queries
from app.scoring import rules
from app.scoring.rules import Tally
from app.sheets.models import Answer, Sheet, SheetState

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
class SheetRow:
    """One 所属's sheet in a round: who, where, its state and whether anything is answered yet."""

    sheet_id: int
    unit_id: int
    code: str
    name: str
    bureau_id: int
    state: str
    entry_on: date | None
    started: bool

    @property
    def submitted(self) -> bool:
        return self.state == SheetState.SUBMITTED

    @property
    def progress(self) -> rules.Progress:
        return rules.progress_of(self.submitted, self.started)


def sheet_rows(session: Session, round_id: int, *, bureau_id: int | None = None) -> list[SheetRow]:
    """Every sheet of a round (or of one 部局), in organisation order, with its progress. No
    aggregation: one index probe per sheet says whether any answer is given."""
    started = exists().where(Answer.sheet_id == Sheet.id, Answer.status.is_not(None))
    query = (
        select(Sheet.id, Sheet.unit_id, Unit.code, Unit.name, Sheet.bureau_id, Sheet.state, Sheet.entry_on,
               started.label("started"))
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Bureau, Bureau.id == Sheet.bureau_id)
        .where(Sheet.round_id == round_id, *_scope(bureau_id, None))
        .order_by(*ORG_ORDER)
    )
    return [SheetRow(*row[:7], bool(row[7])) for row in session.connection().execute(query)]


@dataclass(frozen=True)
class SectionTotal:
    """One 所属's sheet in a round with its overall tally."""

    sheet_id: int
    unit_id: int
    code: str
    name: str
    bureau_id: int
    state: str
    entry_on: date | None
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


def section_totals(session: Session, round_id: int, definition: Definition, *, bureau_id: int | None = None,
                   unit_ids: Sequence[int] | None = None, sheet_ids: Sequence[int] | None = None
                   ) -> list[SectionTotal]:
    """Every sheet of a round (or of one 部局, or the given sheets) with its overall tally, in
    organisation order.

    One GROUP BY over the round's answers (per sheet), joined to the sheets. Items without an
    answer count as unanswered, as in ``app.scoring.queries.sheet_scores`` (the same numbers; this
    query skips the per-category split).
    """
    scope = [Sheet.round_id == round_id, *_scope(bureau_id, unit_ids)]
    if sheet_ids is not None:
        scope.append(Sheet.id.in_(list(sheet_ids)))
    per_sheet = (
        select(Answer.sheet_id.label("sheet_id"), *scoring_queries.status_sums(scoring_queries.points_of(definition.points)))
        .join(Sheet, Sheet.id == Answer.sheet_id)
        .where(Answer.status.is_not(None), *scope)
        .group_by(Answer.sheet_id)
        .subquery()
    )
    query = (
        select(Sheet.id, Sheet.unit_id, Unit.code, Unit.name, Sheet.bureau_id, Sheet.state, Sheet.entry_on,
               per_sheet.c.answered, per_sheet.c.na, per_sheet.c.points)
        .join(Unit, Unit.id == Sheet.unit_id)
        .join(Bureau, Bureau.id == Sheet.bureau_id)
        .outerjoin(per_sheet, per_sheet.c.sheet_id == Sheet.id)
        .where(*scope)
        .order_by(*ORG_ORDER)
    )
    total, max_points = len(definition.items), definition.max_points
    return [
        SectionTotal(*r[:7], Tally(total, r[7] or 0, r[8] or 0, r[9] or 0, max_points))
        for r in session.connection().execute(query)
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
    for key, status, count in session.connection().execute(query):
        result[key][status] = count
    return result


def sheet_count(session: Session, round_id: int, *, bureau_id: int | None = None,
                unit_ids: Sequence[int] | None = None) -> int:
    query = (select(func.count()).select_from(Sheet)
             .where(Sheet.round_id == round_id, *_scope(bureau_id, unit_ids)))
    return session.execute(query).scalar_one()


def cells(session: Session, sheet_ids: Sequence[int]) -> dict[int, dict[str, str | None]]:
    """The answers of a few sheets (one heatmap page): ``{sheet id: {item key: status}}``."""
    result: dict[int, dict[str, str | None]] = defaultdict(dict)
    if not sheet_ids:
        return result
    query = (select(Answer.sheet_id, Answer.item_key, Answer.status)
             .where(Answer.sheet_id.in_(list(sheet_ids))))
    for sheet_id, key, status in session.connection().execute(query):
        result[sheet_id][key] = status
    return result


def _scope(bureau_id: int | None, unit_ids: Sequence[int] | None) -> list:
    where = []
    if bureau_id is not None:
        where.append(Sheet.bureau_id == bureau_id)
    if unit_ids is not None:
        where.append(Sheet.unit_id.in_(list(unit_ids)))
    return where


def quick_win_counts(session: Session, round_id: int, definition: Definition, *, bureau_id: int | None = None,
                     unit_ids: Sequence[int] | None = None) -> dict[int, dict[str, int]]:
    """``{sheet id: {status: number of ☆ items at it}}`` for the quick wins (☆ at △ or ×) of a round."""
    keys = [i.key for i in definition.items if i.difficulty == rules.QUICK_WIN_DIFFICULTY]
    result: dict[int, dict[str, int]] = defaultdict(dict)
    if not keys:
        return result
    query = (
        select(Answer.sheet_id, Answer.status, func.count())
        .join(Sheet, Sheet.id == Answer.sheet_id)
        .where(Sheet.round_id == round_id, Answer.item_key.in_(keys),
               Answer.status.in_([s.value for s in rules.QUICK_WIN_STATUSES]), *_scope(bureau_id, unit_ids))
        .group_by(Answer.sheet_id, Answer.status)
    )
    for sheet_id, status, count in session.connection().execute(query):
        result[sheet_id][status] = count
    return result


def quick_win_answers(session: Session, definition: Definition, sheet_ids: Sequence[int]
                      ) -> dict[int, list[tuple[str, str]]]:
    """``{sheet id: [(item key, status)]}`` of the quick wins of a few sheets, in sheet order."""
    keys = [i.key for i in definition.items if i.difficulty == rules.QUICK_WIN_DIFFICULTY]
    result: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if not sheet_ids or not keys:
        return result
    query = select(Answer.sheet_id, Answer.item_key, Answer.status).where(
        Answer.sheet_id.in_(list(sheet_ids)), Answer.item_key.in_(keys),
        Answer.status.in_([s.value for s in rules.QUICK_WIN_STATUSES]))
    for sheet_id, key, status in session.connection().execute(query):
        result[sheet_id].append((key, status))
    for answers in result.values():
        answers.sort(key=lambda a: definition.by_key[a[0]].position)
    return result


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
    return [CounterpartRow(*row) for row in session.connection().execute(query)]


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
    for unit_id, name, upn in session.connection().execute(query):
        result[unit_id].append(Leader(name, upn))
    return result
