"""伴走支援: the desk's consultation records, 「相談する」 requests from a 所属's DX推進リーダー, open
follow-ups, and how the items a 所属 was supported on moved in the next round.

Services take a session and plain values, check access through ``app.auth.permissions`` and never
commit. Records of a 所属 follow its lineage (a renamed 所属 keeps its history).
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlalchemy import and_, case, delete, exists, func, insert, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from app.auth import permissions, scope
from app.auth import service as auth_service
from app.auth.models import Membership, SectionRole, User
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.checklists.service import ItemDef
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc, today_jst
from app.orgs import service as orgs
from app.orgs.models import Unit
from app.outbox import notices
from app.outbox.service import DESK, enqueue_mail, enqueue_teams
from app.rounds.models import Round
from app.sheets import practice
from app.sheets.models import Answer, Sheet
from app.sheets.practice import Practice
from app.statuses import Status
from app.support.models import (
    SUPPORT_ORIGIN_LABELS,
    SUPPORT_STATE_LABELS,
    SupportOrigin,
    SupportRecord,
    SupportRecordItem,
    SupportState,
)
from app.text import check_text
from app.trend import service as trend_service
from app.trend.service import ItemComparison, Trend

TEXT_MAX = 4000
NAME_MAX = 100
ITEMS_MAX = 50
SOON_DAYS = 7


# --- follow-up urgency (pure) -----------------------------------------------------------------------


class Due(StrEnum):
    OVERDUE = "overdue"  # the follow-up date has passed
    TODAY = "today"
    SOON = "soon"  # within SOON_DAYS days
    LATER = "later"
    UNSCHEDULED = "unscheduled"  # open, no follow-up date
    CLOSED = "closed"  # 完了


DUE_LABELS = {
    Due.OVERDUE: "期限超過",
    Due.TODAY: "本日",
    Due.SOON: f"{SOON_DAYS}日以内",
    Due.LATER: "予定",
    Due.UNSCHEDULED: "日付未定",
    Due.CLOSED: "完了",
}
DUE_MARKS = {Due.OVERDUE: "⚠", Due.TODAY: "●", Due.SOON: "◆", Due.LATER: "・", Due.UNSCHEDULED: "？", Due.CLOSED: "✓"}


def due(state: str, follow_up_on: date | None, today: date) -> Due:
    if state == SupportState.DONE:
        return Due.CLOSED
    if follow_up_on is None:
        return Due.UNSCHEDULED
    days = (follow_up_on - today).days
    if days < 0:
        return Due.OVERDUE
    if days == 0:
        return Due.TODAY
    return Due.SOON if days <= SOON_DAYS else Due.LATER


# --- views ------------------------------------------------------------------------------------------


@dataclass
class ItemRef:
    key: str
    text: str
    category: str
    status: Status | None  # the 所属's status in the record's round
    item: ItemDef | None


class _RecordLabels:
    """What a page says of a record (``self.record``, ``self.due``), for the full view and a list row."""

    @property
    def state_label(self) -> str:
        return SUPPORT_STATE_LABELS[SupportState(self.record.state)]

    @property
    def origin_label(self) -> str:
        return SUPPORT_ORIGIN_LABELS[SupportOrigin(self.record.origin)]

    @property
    def due_label(self) -> str:
        return DUE_LABELS[self.due]

    @property
    def due_mark(self) -> str:
        return DUE_MARKS[self.due]


@dataclass
class RecordView(_RecordLabels):
    record: SupportRecord
    unit: Unit
    round: Round | None
    items: list[ItemRef]
    created_by: str
    updated_by: str
    why_not_manage: str | None
    why_not_edit_request: str | None

    @property
    def can_manage(self) -> bool:
        return self.why_not_manage is None

    @property
    def can_edit_request(self) -> bool:
        return self.why_not_edit_request is None

    @property
    def can_edit(self) -> bool:
        return self.can_manage or self.can_edit_request

    @property
    def due(self) -> Due:
        return due(self.record.state, self.record.follow_up_on, today_jst())


@dataclass
class RecordRow(_RecordLabels):
    record: SupportRecord
    unit: Unit
    bureau: Unit | None  # the 所属's 部局 (None for a 所属 without one)
    items: list[tuple[str, str]]  # (key, text) in sheet order
    due: Due

    @property
    def bureau_name(self) -> str:
        return self.bureau.name if self.bureau else ""

    @property
    def item_texts(self) -> list[str]:
        return [text for _, text in self.items]


@dataclass
class RecordEffect:
    """How the record's items moved from its round to the 所属's next round."""

    record: SupportRecord
    unit: Unit
    base_round: Round | None
    next_round: Round | None
    rows: list[ItemComparison] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(r.change for r in self.rows if r.change is not None)


# --- input ------------------------------------------------------------------------------------------


# What only the desk sets on a record (a leader edits only the message and the items of a request).
DESK_FIELDS = ("consulted_on", "desk_staff", "contact_person", "advice", "follow_up_on", "state")


@dataclass(frozen=True)
class SupportInput:
    """A record as sent by a form or the API: raw values, validated here. None = not sent (kept)."""

    consulted_on: str | None = None
    desk_staff: str | None = None
    contact_person: str | None = None
    request_message: str | None = None
    advice: str | None = None
    follow_up_on: str | None = None
    state: str | None = None
    item_keys: Sequence[str] | None = None
    version: int | None = None


def _date(value: str | None, label: str, errors: dict[str, str], name: str, *, required: bool) -> date | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors[name] = f"{label}を入力してください。"
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        errors[name] = f"{label}は「2025-11-29」の形（年-月-日）で入力してください。"
        return None
    if not date(2000, 1, 1) <= parsed <= date(2100, 12, 31):
        errors[name] = f"{label}の日付が範囲外です。"
        return None
    return parsed


def _text(value: str | None, label: str, limit: int, errors: dict[str, str], name: str, *,
          multiline: bool) -> str | None:
    if value is None:
        return None
    value, problem = check_text(value.strip(), label, multiline=multiline)
    if problem:
        errors[name] = problem
    elif len(value) > limit:
        errors[name] = f"{label}は{limit:,}文字以内にしてください（現在{len(value):,}文字）。"
    return value


def _state(value: str | None, errors: dict[str, str]) -> SupportState | None:
    if value is None:
        return None
    by_label = {label: state for state, label in SUPPORT_STATE_LABELS.items()}
    raw = value.strip()
    try:
        return SupportState(raw)
    except ValueError:
        if raw in by_label:
            return by_label[raw]
    errors["state"] = "状態は 受付・対応中・完了 のいずれかを選んでください。"
    return None


def _item_keys(session: Session, round_: Round | None, keys: Sequence[str] | None,
               errors: dict[str, str]) -> list[str] | None:
    if keys is None:
        return None
    unique = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    if not unique:
        return []
    if round_ is None:
        errors["items"] = "この所属にはまだ調査回のチェックシートがないため、項目を選べません。"
        return None
    if len(unique) > ITEMS_MAX:
        errors["items"] = f"項目は{ITEMS_MAX}件までにしてください。"
        return None
    definition = checklists.get_definition(session, round_.checklist_version_id)
    unknown = [k for k in unique if k not in definition.by_key]
    if unknown:
        errors["items"] = f"チェック項目「{unknown[0][:100]}」は{round_.title}のチェックシートにありません。"
        return None
    return sorted(unique, key=lambda k: definition.by_key[k].position)


# --- reading ----------------------------------------------------------------------------------------


def _users(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.exec(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def _items_of(session: Session, record_ids: list[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = defaultdict(list)
    if record_ids:
        for record_id, key in session.exec(
            select(SupportRecordItem.record_id, SupportRecordItem.item_key)
            .where(SupportRecordItem.record_id.in_(record_ids))
        ):
            result[record_id].append(key)
    return result


def get_record_for(session: Session, principal: Principal, record_id: int) -> RecordView:
    """Load a record and check that ``principal`` may read it (403 otherwise, 404 if none)."""
    record = session.get(SupportRecord, record_id)
    if record is None:
        raise NotFound(f"伴走支援の記録 {record_id} はありません。")
    unit = session.get(Unit, record.unit_id)
    if not _may_read(session, principal, unit):
        raise Forbidden(permissions.why_not_read_support(principal, unit.id))
    round_ = session.get(Round, record.round_id) if record.round_id else None
    keys = _items_of(session, [record.id]).get(record.id, [])
    items = []
    if round_ is not None:
        definition = checklists.get_definition(session, round_.checklist_version_id)
        trend = trend_service.section_trend(session, unit)
        point = trend.main_point(round_.id)
        ordered = sorted(keys, key=lambda k: definition.by_key[k].position if k in definition.by_key else 10**6)
        for key in ordered:
            item = definition.by_key.get(key)
            items.append(ItemRef(key, item.text if item else key, item.category if item else "",
                                 point.statuses.get(key) if point else None, item))
    names = _users(session, {record.created_by_id, record.updated_by_id})
    return RecordView(
        record=record, unit=unit, round=round_, items=items,
        created_by=names.get(record.created_by_id, ""), updated_by=names.get(record.updated_by_id, ""),
        why_not_manage=permissions.why_not_manage_support(principal),
        why_not_edit_request=permissions.why_not_edit_request(
            principal, unit.id, created_by_id=record.created_by_id, origin=record.origin, state=record.state),
    )


def _may_read(session: Session, principal: Principal, unit: Unit) -> bool:
    """The desk reads every record; a 所属's staff read the records of their 所属 and of the units it
    continues (its lineage), so that a renamed or merged 所属 keeps its history."""
    if permissions.why_not_read_support(principal, unit.id) is None:
        return True
    return unit.id in (scope.readable_units(session, principal) or ())


def _is_new_request():
    """A 「相談する」 request nobody at the desk has taken up yet (受付): what the desk must see first."""
    return (SupportRecord.origin == SupportOrigin.REQUEST.value) & (SupportRecord.state == SupportState.RECEIVED.value)


def _is_overdue(today: date):
    return (SupportRecord.state != SupportState.DONE.value) & (SupportRecord.follow_up_on < today)


def list_records(session: Session, principal: Principal, *, unit_ids: Sequence[int] | None = None,
                 states: Sequence[str] | None = None, limit: int = 500, only: str | None = None) -> list[RecordRow]:
    """Records: new requests (受付) first, whatever their follow-up date; then open follow-ups, overdue and
    due dates ascending, then undated (requests first); done last. ``only``: "new" (new requests) or
    "overdue" (open records whose follow-up date has passed)."""
    if unit_ids is None:
        refusal = permissions.why_not_see_all_sections(principal)
        if refusal:
            raise Forbidden(refusal)
    query = select(SupportRecord, Unit).join(Unit, Unit.id == SupportRecord.unit_id)
    if unit_ids is not None:
        query = query.where(SupportRecord.unit_id.in_(list(unit_ids)))
    if states:
        query = query.where(SupportRecord.state.in_(list(states)))
    if only == "new":
        query = query.where(_is_new_request())
    elif only == "overdue":
        query = query.where(_is_overdue(today_jst()))
    query = query.order_by(
        case((SupportRecord.state == SupportState.DONE.value, 1), else_=0),
        case((_is_new_request(), 0), else_=1),
        case((SupportRecord.follow_up_on.is_(None), 1), else_=0),
        SupportRecord.follow_up_on,
        case((SupportRecord.state == SupportState.RECEIVED.value, 0), else_=1),
        SupportRecord.consulted_on.desc(),
        SupportRecord.id.desc(),
    ).limit(limit)
    rows = session.exec(query).all()
    keys = _items_of(session, [r.id for r, _ in rows])
    bureaus = {u.id: u for u in session.exec(
        select(Unit).where(Unit.id.in_({u.parent_id for _, u in rows if u.parent_id})))}
    texts = _item_texts(session, {r.round_id for r, _ in rows if r.round_id})
    today = today_jst()
    return [
        RecordRow(record, unit, bureaus.get(unit.parent_id),
                  [(k, t) for (_, t), k in sorted((texts.get((record.round_id, k), (0, k)), k)
                                                  for k in keys.get(record.id, []))],
                  due(record.state, record.follow_up_on, today))
        for record, unit in rows
    ]


def _item_texts(session: Session, round_ids: set[int]) -> dict[tuple[int, str], tuple[int, str]]:
    """(round id, item key) → (position on the sheet, text)."""
    result = {}
    for round_ in session.exec(select(Round).where(Round.id.in_(round_ids))) if round_ids else []:
        for item in checklists.get_definition(session, round_.checklist_version_id).items:
            result[(round_.id, item.key)] = (item.position, item.text)
    return result


def records_of_section(session: Session, principal: Principal, unit: Unit) -> list[RecordRow]:
    """A 所属's records (and those of the units it continues). Caller has resolved access to ``unit``."""
    refusal = permissions.why_not_read_support(principal, unit.id)
    if refusal:
        raise Forbidden(refusal)
    ids = [a.unit.id for a in orgs.lineage(session, unit.id)]
    return list_records(session, principal, unit_ids=ids)


def effect_of(session: Session, record: SupportRecord, unit: Unit, keys: Sequence[str],
              trend: Trend | None = None) -> RecordEffect:
    """The record's items, from its round to the next round of the 所属's history (``trend.compare``)."""
    base = session.get(Round, record.round_id) if record.round_id else None
    trend = trend or trend_service.section_trend(session, unit)
    rounds = trend.rounds
    ids = [r.id for r in rounds]
    if base is None or base.id not in ids or ids.index(base.id) + 1 >= len(ids):
        return RecordEffect(record, unit, base, None)
    after = rounds[ids.index(base.id) + 1]
    wanted = set(keys)
    rows = [c for c in trend_service.compare(session, trend, base.id, after.id) if c.key in wanted]
    return RecordEffect(record, unit, base, after, rows)


def effects(session: Session, principal: Principal, *, limit: int = 200) -> list[RecordEffect]:
    """For supported 所属: how the items of each record moved in the following round (desk only)."""
    refusal = permissions.why_not_see_all_sections(principal)
    if refusal:
        raise Forbidden(refusal)
    rows = session.exec(
        select(SupportRecord, Unit).join(Unit, Unit.id == SupportRecord.unit_id)
        .where(SupportRecord.round_id.is_not(None))
        .order_by(SupportRecord.consulted_on.desc(), SupportRecord.id.desc()).limit(limit)
    ).all()
    keys = _items_of(session, [r.id for r, _ in rows])
    trends: dict[int, Trend] = {}
    result = []
    for record, unit in rows:
        if not keys.get(record.id):
            continue
        current = current_unit(session, unit)
        if current.id not in trends:
            trends[current.id] = trend_service.section_trend(session, current)
        result.append(effect_of(session, record, current, keys[record.id], trends[current.id]))
    return result


def current_unit(session: Session, unit: Unit) -> Unit:
    """The unit in force today that continues ``unit`` (itself if it still exists)."""
    if unit.valid_to is None:
        return unit
    return orgs.current_by_code(session, unit.code) or unit


def state_counts(session: Session) -> dict[str, int]:
    """Records per state, and open records whose follow-up date has passed (``overdue``)."""
    counts = {s.value: 0 for s in SupportState}
    for state, n in session.exec(
        select(SupportRecord.state, func.count()).group_by(SupportRecord.state)
    ):
        counts[state] = n
    counts["overdue"] = session.exec(
        select(func.count()).select_from(SupportRecord).where(_is_overdue(today_jst()))
    ).one()
    counts["new"] = session.exec(select(func.count()).select_from(SupportRecord).where(_is_new_request())).one()
    return counts


INBOX_SHOWN = 5


@dataclass(frozen=True)
class Inbox:
    """The desk's start: new 「相談する」 requests and overdue follow-ups (the first few of each, and how many)."""

    new_requests: list[RecordRow]
    new_count: int
    overdue: list[RecordRow]
    overdue_count: int


def inbox(session: Session, principal: Principal) -> Inbox:
    refusal = permissions.why_not_see_all_sections(principal)
    if refusal:
        raise Forbidden(refusal)
    counts = state_counts(session)
    return Inbox(list_records(session, principal, only="new", limit=INBOX_SHOWN), counts["new"],
                 list_records(session, principal, only="overdue", limit=INBOX_SHOWN), counts["overdue"])


@dataclass
class ChangeShare:
    """Items of 所属 between two consecutive rounds: how many improved, regressed, stayed."""

    total: int = 0
    improved: int = 0
    regressed: int = 0
    unchanged: int = 0

    def share(self, n: int) -> float | None:
        return round(n / self.total * 100, 1) if self.total else None


@dataclass
class SupportComparison:
    base_round: Round
    next_round: Round
    supported: ChangeShare
    others: ChangeShare


_RANK_SQL = {Status.EXCELLENT.value: 3, Status.GOOD.value: 2, Status.FAIR.value: 1, Status.NOT_DONE.value: 0}


def _rank(column):
    return case(*[(column == symbol, rank) for symbol, rank in _RANK_SQL.items()], else_=None)


def comparison(session: Session) -> list[SupportComparison]:
    """Per pair of consecutive rounds with support records: the items a 所属 was supported on against
    every other (所属, item) pair, by how they moved. Same 所属 (unit) in both rounds; items answered
    ◎ ○ △ × in both. One GROUP BY query per pair; groups, never named 所属."""
    rounds = list(session.exec(select(Round).order_by(Round.opens_on, Round.id)).all())
    with_records = set(session.exec(select(SupportRecord.round_id).where(SupportRecord.round_id.is_not(None))
                                    .distinct()).all())
    result = []
    for base, after in zip(rounds, rounds[1:], strict=False):
        if base.id not in with_records:
            continue
        s0, s1 = aliased(Sheet), aliased(Sheet)
        a0, a1 = aliased(Answer), aliased(Answer)
        supported = exists().where(
            SupportRecord.id == SupportRecordItem.record_id, SupportRecord.unit_id == s0.unit_id,
            SupportRecord.round_id == base.id, SupportRecordItem.item_key == a0.item_key)
        pairs = (
            select(case((supported, 1), else_=0).label("supported"), _rank(a0.status).label("r0"),
                   _rank(a1.status).label("r1"))
            .select_from(s0)
            .join(a0, a0.sheet_id == s0.id)
            .join(s1, and_(s1.unit_id == s0.unit_id, s1.round_id == after.id))
            .join(a1, and_(a1.sheet_id == s1.id, a1.item_key == a0.item_key))
            .where(s0.round_id == base.id, a0.status.in_(list(_RANK_SQL)), a1.status.in_(list(_RANK_SQL)))
            .subquery()
        )
        query = select(
            pairs.c.supported, func.count().label("total"),
            func.sum(case((pairs.c.r1 > pairs.c.r0, 1), else_=0)).label("improved"),
            func.sum(case((pairs.c.r1 < pairs.c.r0, 1), else_=0)).label("regressed"),
        ).group_by(pairs.c.supported)
        shares = {1: ChangeShare(), 0: ChangeShare()}
        for row in session.execute(query):
            improved, regressed = row.improved or 0, row.regressed or 0
            shares[row.supported] = ChangeShare(row.total, improved, regressed, row.total - improved - regressed)
        result.append(SupportComparison(base, after, shares[1], shares[0]))
    result.reverse()
    return result


def effect_summary(effects_: Sequence[RecordEffect]) -> Counter:
    total: Counter = Counter()
    for e in effects_:
        total.update(e.counts)
    return total


# --- writing ----------------------------------------------------------------------------------------


def create_record(session: Session, principal: Principal, unit: Unit, trend: Trend,
                  data: SupportInput) -> SupportRecord:
    """The desk records a consultation with a 所属 (about its latest round's items)."""
    refusal = permissions.why_not_manage_support(principal)
    if refusal:
        raise Forbidden(refusal)
    round_ = trend.rounds[-1] if trend.rounds else None
    errors: dict[str, str] = {}
    values = _desk_values(session, round_, data, errors, creating=True)
    if errors:
        raise InvalidInput("記録を保存できませんでした: " + " ".join(errors.values()), fields=errors)
    now = now_utc()
    keys = values.pop("item_keys") or []
    record = SupportRecord(unit_id=unit.id, round_id=round_.id if round_ else None, origin=SupportOrigin.DESK,
                           created_at=now, updated_at=now, created_by_id=principal.user_id,
                           updated_by_id=principal.user_id, **values)
    session.add(record)
    session.flush()
    _set_items(session, record.id, keys)
    return record


def _desk_values(session: Session, round_: Round | None, data: SupportInput, errors: dict[str, str], *,
                 creating: bool) -> dict:
    consulted = _date(data.consulted_on, "相談日", errors, "consulted_on", required=creating)
    follow = _date(data.follow_up_on, "次回フォローアップ日", errors, "follow_up_on", required=False)
    if consulted and follow and follow < consulted:
        errors["follow_up_on"] = "次回フォローアップ日は相談日以降の日付にしてください。"
    state = _state(data.state, errors)
    if creating and state is None and "state" not in errors:
        state = SupportState.RECEIVED
    values = {
        "consulted_on": consulted,
        "follow_up_on": follow,
        "state": state.value if state else None,
        "desk_staff": _text(data.desk_staff, "窓口の担当者", NAME_MAX, errors, "desk_staff", multiline=False),
        "contact_person": _text(data.contact_person, "所属の担当者", NAME_MAX, errors, "contact_person", multiline=False),
        "request_message": _text(data.request_message, "相談の内容", TEXT_MAX, errors, "request_message", multiline=True),
        "advice": _text(data.advice, "助言・対応の内容", TEXT_MAX, errors, "advice", multiline=True),
        "item_keys": _item_keys(session, round_, data.item_keys, errors),
    }
    if creating:
        values = {k: ("" if v is None and k in ("desk_staff", "contact_person", "request_message", "advice")
                      else v) for k, v in values.items()}
        if not (values["advice"] or values["request_message"] or values["item_keys"]):
            errors["advice"] = "相談の内容・助言の内容・項目のいずれかを入力してください。"
    else:
        # A date field sent empty clears the follow-up date; the consultation date stays required.
        if data.consulted_on is not None and consulted is None and "consulted_on" not in errors:
            errors["consulted_on"] = "相談日を入力してください。"
        values = {k: v for k, v in values.items()
                  if not (v is None and (k != "follow_up_on" or data.follow_up_on is None))}
    return values


def request_support(session: Session, principal: Principal, unit: Unit, trend: Trend, item_keys: Sequence[str],
                    message: str | None) -> SupportRecord:
    """「相談する」: the 所属's DX推進リーダー asks the desk for help (a record in state 受付)."""
    refusal = permissions.why_not_request_support(principal, unit.id)
    if refusal:
        raise Forbidden(refusal)
    round_ = trend.rounds[-1] if trend.rounds else None
    errors: dict[str, str] = {}
    keys = _item_keys(session, round_, item_keys, errors) or []
    text = _text(message, "相談の内容", TEXT_MAX, errors, "request_message", multiline=True) or ""
    if not keys and not text and "items" not in errors:
        errors["request_message"] = "相談したい項目を選ぶか、相談の内容を書いてください。"
    if errors:
        raise InvalidInput("相談を送れませんでした: " + " ".join(errors.values()), fields=errors)
    now = now_utc()
    record = SupportRecord(
        unit_id=unit.id, round_id=round_.id if round_ else None, origin=SupportOrigin.REQUEST,
        state=SupportState.RECEIVED, consulted_on=today_jst(), contact_person=principal.display_name[:NAME_MAX],
        request_message=text, created_at=now, updated_at=now, created_by_id=principal.user_id,
        updated_by_id=principal.user_id,
    )
    session.add(record)
    session.flush()
    _set_items(session, record.id, keys)
    # The desk is told in this transaction: the request and its notice exist together or not at all.
    notice = notices.consult_new(section_code=unit.code, section_name=unit.name, requester=principal.display_name,
                                 summary=_summary(session, round_, keys, text), record_id=record.id)
    enqueue_mail(session, notice, auth_service.desk_recipients(session), key=f"consult_new.s{record.id}")
    enqueue_teams(session, notice, DESK, key=f"consult_new.s{record.id}")
    return record


PRACTICE_QUOTE_MAX = 200  # the practice's memo quoted in the request


def ask_practice(session: Session, principal: Principal, unit: Unit, trend: Trend, shared: Practice) -> SupportRecord:
    """「この所属に聞いてみる」: a 相談 (``request_support``, the same rules: the 所属's DX推進リーダー) asking the
    desk to connect ``unit`` with the 所属 that shares a practice on the item, naming both."""
    latest = practice.latest_statuses(session, unit.id, [shared.item_key]).get(shared.item_key)
    refusal = permissions.why_not_ask_practice(principal, unit.id, latest)
    if refusal:
        raise Forbidden(refusal)
    if shared.unit_id == unit.id:
        raise InvalidInput("自分の所属の取組事例には相談できません。")
    memo = shared.memo if len(shared.memo) <= PRACTICE_QUOTE_MAX else shared.memo[:PRACTICE_QUOTE_MAX] + "…"
    message = (f"{shared.unit_name}（所属コード {shared.unit_code}）が共有している取組事例について、"
               f"{unit.name}から話を聞いてみたいです。両所属をつないでください。\n"
               f"取組事例（{shared.round_title}）: {memo}")
    return request_support(session, principal, unit, trend, [shared.item_key], message)


def _summary(session: Session, round_: Round | None, keys: Sequence[str], text: str) -> str:
    """A request in a notice: the items chosen (their texts) and the message."""
    lines = []
    if keys and round_ is not None:
        definition = checklists.get_definition(session, round_.checklist_version_id)
        lines += [f"・{definition.by_key[k].text}" for k in keys if k in definition.by_key]
    if text:
        lines.append(f"相談の内容: {text}")
    return "\n".join(lines)


def update_record(session: Session, principal: Principal, record_id: int, data: SupportInput) -> SupportRecord:
    """The desk changes any field; the leader who sent a request may change its message and items
    while it is still 受付. Carries the version it was read at (409 when someone changed it since)."""
    view = get_record_for(session, principal, record_id)
    record = view.record
    errors: dict[str, str] = {}
    if view.can_manage:
        values = _desk_values(session, view.round, data, errors, creating=False)
        consulted = values.get("consulted_on", record.consulted_on)
        follow = values.get("follow_up_on", record.follow_up_on)
        if consulted and follow and follow < consulted and "follow_up_on" not in errors:
            errors["follow_up_on"] = "次回フォローアップ日は相談日以降の日付にしてください。"
    elif view.can_edit_request:
        if any(getattr(data, name) is not None for name in DESK_FIELDS):
            raise Forbidden("相談日・担当者・助言・次回フォローアップ日・状態は業務DX相談窓口だけが変更できます。"
                            "変更できるのは相談の内容と項目です。")
        values = {
            "request_message": _text(data.request_message, "相談の内容", TEXT_MAX, errors, "request_message", multiline=True),
            "item_keys": _item_keys(session, view.round, data.item_keys, errors),
        }
        values = {k: v for k, v in values.items() if v is not None}
    else:
        raise Forbidden(view.why_not_manage if view.record.origin == SupportOrigin.DESK
                        else view.why_not_edit_request)
    if data.version is None or data.version < 0:
        errors["version"] = "version（読み込んだときの版番号）を指定してください。"
    if errors:
        raise InvalidInput("記録を保存できませんでした: " + " ".join(errors.values()), fields=errors)
    keys = values.pop("item_keys", None)
    result = session.execute(
        update(SupportRecord)
        .where(SupportRecord.id == record.id, SupportRecord.version == data.version)
        .values(**values, version=SupportRecord.version + 1, updated_at=now_utc(), updated_by_id=principal.user_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict("この記録は、読み込んだ後に他の方が変更しました。画面を再読み込みして確認してください。")
    if keys is not None:
        session.execute(delete(SupportRecordItem).where(SupportRecordItem.record_id == record.id))
        _set_items(session, record.id, keys)
    before = (record.advice, record.follow_up_on)
    session.refresh(record)
    if view.can_manage and (record.advice, record.follow_up_on) != before and (record.advice or record.follow_up_on):
        # The desk's answer or follow-up date reaches the 所属's leaders, in this transaction.
        unit = session.get(Unit, record.unit_id)
        notice = notices.consult_answer(section_code=unit.code, section_name=unit.name, summary=record.advice,
                                        follow_up_on=record.follow_up_on, record_id=record.id)
        enqueue_mail(session, notice, auth_service.leader_recipients(session, [unit.id]),
                     key=f"consult_answer.s{record.id}.v{record.version}")
    return record


def _set_items(session: Session, record_id: int, keys: Sequence[str]) -> None:
    if keys:
        session.execute(insert(SupportRecordItem), [{"record_id": record_id, "item_key": k} for k in keys])
    session.flush()


SECTION_QUERY_MAX = 50


def _folded(text: str) -> str:
    """For matching what a person types: full-width and half-width alike (NFKC), case ignored, no spaces."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def section_options(session: Session, query: str = "") -> list[tuple[Unit, Unit | None]]:
    """所属 in force today with their 部局, for the desk's 「記録を追加」 picker; ``query`` narrows them to the
    所属 whose name or 部局's name contains it or whose code starts with it (「１００」 finds 1001)."""
    units = orgs.units_in_force(session, today_jst())
    bureaus = orgs.bureau_map(units)
    sections = [(u, bureaus.get(u.id)) for u in units if u.kind == "section"]
    needle = _folded(query[:SECTION_QUERY_MAX])
    if needle:
        sections = [(u, b) for u, b in sections
                    if needle in _folded(u.name) or _folded(u.code).startswith(needle)
                    or (b is not None and needle in _folded(b.name))]
    return sorted(sections, key=lambda ub: (ub[1].position if ub[1] else 0, ub[1].code if ub[1] else "",
                                            ub[0].position, ub[0].code))


# --- forms ------------------------------------------------------------------------------------------


@dataclass
class ItemChoice:
    item: ItemDef
    status: Status | None  # the 所属's status in the round the record is about
    checked: bool

    @property
    def needs_work(self) -> bool:
        return self.status in (Status.FAIR, Status.NOT_DONE)


@dataclass
class SupportForm:
    """The desk's record form, the leader's 「相談する」 form, and the leader's edit of their request."""

    mode: str  # create | edit | request | request-edit
    unit: Unit
    round: Round | None
    choices: list[ItemChoice]
    values: dict[str, str]
    errors: dict[str, str]
    error: str | None
    record: SupportRecord | None = None
    states: tuple[tuple[str, str], ...] = tuple((s.value, label) for s, label in SUPPORT_STATE_LABELS.items())

    @property
    def desk(self) -> bool:
        return self.mode in ("create", "edit")


FORM_FIELDS = ("consulted_on", "desk_staff", "contact_person", "request_message", "advice", "follow_up_on", "state")


def support_form(session: Session, principal: Principal, unit: Unit, *, mode: str, trend: Trend | None = None,
                 record: SupportRecord | None = None, checked: Sequence[str] = (),
                 typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 error: str | None = None) -> SupportForm:
    trend = trend or trend_service.section_trend(session, unit)
    if record is not None:
        round_ = session.get(Round, record.round_id) if record.round_id else None
        checked = checked if typed is not None else _items_of(session, [record.id]).get(record.id, [])
        values = {name: _shown(getattr(record, name)) for name in FORM_FIELDS}
    else:
        round_ = trend.rounds[-1] if trend.rounds else None
        values = {name: "" for name in FORM_FIELDS}
        values.update(consulted_on=today_jst().isoformat(), state=SupportState.IN_PROGRESS.value,
                      desk_staff=principal.display_name if mode == "create" else "",
                      contact_person=_leader_names(session, unit.id) if mode == "create" else principal.display_name)
    values.update(typed or {})
    choices = []
    if round_ is not None:
        point = trend.main_point(round_.id)
        definition = checklists.get_definition(session, round_.checklist_version_id)
        wanted = set(checked)
        choices = [ItemChoice(item, point.statuses.get(item.key) if point else None, item.key in wanted)
                   for item in definition.items]
    return SupportForm(mode, unit, round_, choices, values, dict(errors or {}), error, record)


def _shown(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def _leader_names(session: Session, unit_id: int) -> str:
    names = session.exec(
        select(User.display_name).join(Membership, Membership.user_id == User.id)
        .where(Membership.unit_id == unit_id, Membership.role == SectionRole.LEADER, User.is_active)
        .order_by(User.display_name)
    ).all()
    return "、".join(names)[:NAME_MAX]
