"""Sheets: the scoped getter (load + authorise in one step) and every use case that changes answers or a
sheet's state: saving (page, API, htmx row, form), importing, submitting, reopening, creating the sheets
of a round, handing sheets on in a reorganisation. Each decides what to write from what it reads under
the sheet's lock, and writes it through ``app.sheets.writer`` (the one writer).

Services never commit: the route owns the transaction, so a use case that fails changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from app.auth import permissions, scope
from app.auth import service as auth_service
from app.auth.models import Membership, SectionRole, User
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.checklists.service import Definition, ItemDef
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc, today_jst
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind
from app.outbox import notices
from app.outbox.service import DESK, enqueue_mail, enqueue_teams
from app.rounds import service as rounds
from app.rounds.models import Round, RoundState
from app.sheets import figures, writer
from app.sheets.models import Answer, EventSource, Sheet, SheetState
from app.statuses import Status, parse_status
from app.text import check_text

MEMO_MAX = 2000
REOPEN_REASON_MAX = 500


@dataclass
class SheetView:
    """A sheet as the person asking may see it, with what they may do to it."""

    round: Round
    sheet: Sheet
    unit: Unit
    bureau: Unit
    definition: Definition
    answers: dict[str, writer.StoredAnswer]
    why_not_edit: str | None
    why_not_submit: str | None
    why_not_export: str | None = None

    @property
    def can_edit(self) -> bool:
        return self.why_not_edit is None

    @property
    def can_submit(self) -> bool:
        return self.why_not_submit is None and self.sheet.state == SheetState.DRAFT

    @property
    def can_export(self) -> bool:
        return self.why_not_export is None

    @property
    def can_reopen(self) -> bool:
        return self.why_not_submit is None and self.sheet.state == SheetState.SUBMITTED

    @property
    def submitted(self) -> bool:
        return self.sheet.state == SheetState.SUBMITTED

    @property
    def round_open(self) -> bool:
        return self.round.state == RoundState.OPEN

    def status_of(self, key: str) -> Status | None:
        answer = self.answers.get(key)
        return Status(answer.status) if answer and answer.status else None

    @property
    def unanswered(self) -> list[ItemDef]:
        return unanswered_items(self.definition, self.answers)


def unanswered_items(definition: Definition, answers: dict[str, writer.StoredAnswer]) -> list[ItemDef]:
    """The items that stand between a sheet and 提出: no answer yet (該当なし is an answer), in sheet order."""
    return [item for item in definition.items if answers[item.key].status is None]


def own_sheets(session: Session, principal: Principal, round_id: int) -> list[tuple[Sheet, Unit]]:
    """The sheets of the 所属 the person belongs to, in one round (the home page's list)."""
    if not principal.sections:
        return []
    return list(session.exec(
        select(Sheet, Unit)
        .join(Unit, Unit.id == Sheet.unit_id)
        .where(Sheet.round_id == round_id, Sheet.unit_id.in_(list(principal.sections)))
        .order_by(Unit.code)
    ).all())


def definition_of(session: Session, round_id: int) -> Definition:
    """The checklist version of a round (404 for an unknown round)."""
    return checklists.get_definition(session, rounds.get_round(session, round_id).checklist_version_id)


_Bureau = aliased(Unit, name="bureau")
# The round, the sheet, its 所属 and its 部局 of a round's sheet by 所属 code, in one statement.
_SHEET_BY_CODE = (
    select(Round, Sheet, Unit, _Bureau)
    .join(Sheet, Sheet.round_id == Round.id)
    .join(Unit, Unit.id == Sheet.unit_id)
    .join(_Bureau, _Bureau.id == Sheet.bureau_id)
    .where(Round.id == bindparam("round_id"), Unit.code == bindparam("code"))
    .execution_options(populate_existing=True)  # the writer writes with Core: read what is stored
)


def get_sheet_for(session: Session, principal: Principal, round_id: int, section_code: str) -> SheetView:
    """Load a sheet and check that ``principal`` may read it (403 otherwise, 404 if none)."""
    row = session.execute(_SHEET_BY_CODE, {"round_id": round_id, "code": section_code}).first()
    if row is None:
        rounds.get_round(session, round_id)  # 404 for an unknown round
        raise NotFound(f"所属コード「{section_code}」のチェックシートはこの調査回にありません。")
    round_, sheet, unit, bureau = row
    refusal = scope.why_not_read(session, principal, unit.id)
    if refusal:
        raise Forbidden(refusal)
    return _view(session, principal, round_, sheet, unit, bureau)


def score_of(session: Session, view: SheetView) -> figures.SheetScore:
    """The sheet's figures (overall from the row the getter read, per category in one statement)."""
    return figures.score_of(session, view.sheet, view.definition.max_points)


@dataclass(frozen=True)
class RoundChoice:
    """A round in which this 所属 (or one of its predecessors or successors) has a sheet the person may read."""

    round_id: int
    round_title: str
    code: str
    unit_name: str
    current: bool


# Built once (building a statement costs more than running it): the rounds in which some 所属 have a sheet, as
# plain columns (up to 20 rounds at prefecture scale: ORM objects for each cost more than the query).
_ROUNDS_OF_UNITS = (
    select(Round.id, Round.title, Unit.id, Unit.code, Unit.name)
    .join(Sheet, Sheet.round_id == Round.id)
    .join(Unit, Unit.id == Sheet.unit_id)
    .where(Sheet.unit_id.in_(bindparam("units", expanding=True)), Round.state != RoundState.PREPARING)
    .order_by(Round.opens_on.desc(), Round.id.desc(), Unit.code)
)


def round_choices(session: Session, principal: Principal, view: SheetView) -> list[RoundChoice]:
    """For the round switcher on the sheet page: newest round first."""
    family = orgs.family_ids(session, view.unit.id, scope.lineage)  # the lineage read once per request
    rows = session.connection().execute(_ROUNDS_OF_UNITS, {"units": list(family)}).all()
    readable = scope.readable_units(session, principal)
    if readable is not None:
        rows = [row for row in rows if row[2] in readable or row[2] in principal.sections]
    return [RoundChoice(round_id, title, code, name, round_id == view.round.id and unit_id == view.unit.id)
            for round_id, title, unit_id, code, name in rows]


def _view(session: Session, principal: Principal, round_: Round, sheet: Sheet, unit: Unit, bureau: Unit) -> SheetView:
    definition = checklists.get_definition(session, round_.checklist_version_id)
    answers = writer.answers(session, sheet.id)
    states = {
        "sheet_submitted": sheet.state == SheetState.SUBMITTED,
        "round_open": round_.state == RoundState.OPEN,
    }
    return SheetView(
        round=round_,
        sheet=sheet,
        unit=unit,
        bureau=bureau,
        definition=definition,
        answers=answers,
        why_not_edit=permissions.why_not_edit_sheet(principal, unit.id, **states),
        why_not_submit=permissions.why_not_submit(principal, unit.id, **states),
        why_not_export=permissions.why_not_export(principal, [unit.id]),
    )


# --- saving ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerInput:
    """One row as a person sent it: raw text, validated by ``save_answers``."""

    item_key: str
    status: str | None
    memo: str | None
    version: int | None
    share: bool | None = None  # 「取組事例として共有する」 ticked or not; None: not sent (left as stored)


def validate_answer(item: ItemDef, raw: AnswerInput, memo_now: str) -> tuple[Status | None, str]:
    """The status and memo to store, or InvalidInput with a message per field."""
    errors: dict[str, str] = {}
    status: Status | None = None
    try:
        status = parse_status(raw.status)
    except ValueError as exc:
        errors["status"] = str(exc)
    if status is Status.NOT_APPLICABLE and not item.allows_na:
        errors["status"] = "この項目では「該当なし」は選べません。◎ ○ △ × のいずれかを選んでください。"
    memo, problem = (memo_now, None) if raw.memo is None else check_text(raw.memo, "メモ", multiline=True)
    if problem:
        errors["memo"] = problem
    elif len(memo) > MEMO_MAX:
        errors["memo"] = f"メモは{MEMO_MAX:,}文字以内にしてください（現在{len(memo):,}文字）。"
    if raw.version is None:
        errors["version"] = "version（読み込んだときの版番号）を指定してください。"
    elif raw.version < 0:
        errors["version"] = "version は0以上の整数です。"
    if errors:
        raise InvalidInput(f"「{item.text}」: " + " ".join(errors.values()), fields=errors, item_key=item.key)
    return status, memo


@dataclass(frozen=True)
class Saved:
    answers: list[writer.StoredAnswer]  # one per row sent, as stored now
    changed: int  # rows that were written (the others were sent unchanged)
    answered_moved: bool = False  # a row went from unanswered to answered, or back (what the previous panel offers)


def _lock_for(session: Session, round_id: int, code: str) -> writer.LockedSheet:
    sheet = writer.lock_by_code(session, round_id, code)
    if sheet is None:
        rounds.get_round(session, round_id)  # 404 for an unknown round
        raise NotFound(f"所属コード「{code}」のチェックシートはこの調査回にありません。")
    return sheet


def _states(sheet: writer.LockedSheet) -> dict[str, bool]:
    return {"sheet_submitted": sheet.state == SheetState.SUBMITTED, "round_open": sheet.round_state == RoundState.OPEN}


def save_answers(
    session: Session,
    principal: Principal,
    round_id: int,
    section_code: str,
    inputs: list[AnswerInput],
    *,
    source: EventSource,
) -> Saved:
    """Save one or more rows in one transaction: all are saved, or (on any error) none.

    Each row carries the version it was read at; a row someone else changed since gets 409 with
    what they saved. Rows sent unchanged are left alone (no new version, no history entry). Whether the
    sheet is still a draft of an open round, and each version, are checked under the sheet's lock.
    """
    # One row (the page's htmx row, the API): the sheet and the answer in one statement under the lock.
    locked = writer.lock_with_answer(session, round_id, section_code, inputs[0].item_key) if len(inputs) == 1 else None
    sheet = locked[0] if locked else _lock_for(session, round_id, section_code)
    refusal = scope.why_not_read(session, principal, sheet.unit_id) or permissions.why_not_edit_sheet(
        principal, sheet.unit_id, **_states(sheet))
    if refusal:
        raise Forbidden(refusal)
    definition = checklists.get_definition(session, sheet.version_id)
    items = [definition.item(raw.item_key) for raw in inputs]  # 404 for an unknown item
    if locked:
        stored = {locked[1].item_key: locked[1]}
    else:  # the whole sheet's rows (a form sends every row): all of them, without a list of keys to bind
        stored = writer.answers(session, sheet.id) if len(inputs) > 1 else writer.answers(
            session, sheet.id, [item.key for item in items])
    changes: list[writer.Change] = []
    errors: dict[str, str] = {}
    for item, raw in zip(items, inputs, strict=True):
        current = stored[item.key]
        try:
            status, memo = validate_answer(item, raw, current.memo)
        except InvalidInput as exc:
            if len(inputs) == 1:
                raise
            errors[item.key] = exc.message
            continue
        new_status = status.value if status else None
        change = writer.Change(item, current, new_status, memo, raw.share)
        if new_status == current.status and memo == current.memo and change.shared == current.shared:
            continue  # unchanged: nothing to write, whatever version the page had
        if raw.version != current.version:
            raise conflict(session, item, current)
        changes.append(change)
    if errors:
        raise InvalidInput(f"{len(errors)}件の項目に誤りがあります。赤く示した項目を直してください。", fields=errors)
    now = now_utc()
    writer.write_answers(session, sheet, definition, changes, actor_id=principal.user_id, source=source, now=now,
                         entry_on=today_jst())
    written = {c.item.key: c for c in changes}
    return Saved([_after(stored[item.key], written.get(item.key), now, principal.user_id) for item in items],
                 len(changes), any((c.stored.status is None) != (c.status is None) for c in changes))


def _after(stored: writer.StoredAnswer, change: writer.Change | None, now: datetime,
           actor_id: int) -> writer.StoredAnswer:
    if change is None:
        return stored
    return writer.StoredAnswer(stored.id, stored.item_key, change.status, change.memo, stored.version + 1, now,
                               actor_id, change.shared)


def conflict(session: Session, item: ItemDef, current: writer.StoredAnswer) -> Conflict:
    who = session.get(User, current.updated_by_id) if current.updated_by_id else None
    name = who.display_name if who else "他の方"
    shown = current.status or "未回答"
    return Conflict(
        f"「{item.text}」は、読み込んだ後に{name}さんが変更しました（現在: {shown}）。"
        "内容を確認して、必要ならもう一度選んでください。",
        item_key=item.key,
        current=answer_json(current, name),
    )


def answer_json(answer: Answer | writer.StoredAnswer, updated_by: str | None = None) -> dict:
    return {
        "item_key": answer.item_key,
        "status": answer.status,
        "memo": answer.memo,
        "version": answer.version,
        "updated_at": answer.updated_at.isoformat() if answer.updated_at else None,
        "updated_by": updated_by,
    }


# --- submit / reopen ------------------------------------------------------------------------------


def submit(session: Session, principal: Principal, round_id: int, section_code: str, *,
           source: EventSource) -> None:
    """提出: the 所属's leader, every item answered (checked under the sheet's lock, so that a save that
    clears an answer lands before it, and is then counted, or after it, and is then refused)."""
    sheet = _lock_for(session, round_id, section_code)
    refusal = scope.why_not_read(session, principal, sheet.unit_id) or permissions.why_not_submit(
        principal, sheet.unit_id, **_states(sheet))
    if refusal:
        raise Forbidden(refusal)
    definition = checklists.get_definition(session, sheet.version_id)
    unanswered = sheet.total - sheet.counts.answered - sheet.counts.not_applicable
    if unanswered:
        missing = unanswered_items(definition, writer.answers(session, sheet.id))
        raise InvalidInput(
            f"未回答の項目が{len(missing)}件あります。すべての項目に回答してから提出してください"
            f"（例:「{missing[0].text}」）。",
            unanswered=[item.key for item in missing],
        )
    if sheet.state == SheetState.SUBMITTED:
        raise Conflict("既に提出されています。")
    writer.set_state(session, sheet, definition, SheetState.SUBMITTED, actor_id=principal.user_id, source=source,
                     now=now_utc())


def reopen(session: Session, principal: Principal, round_id: int, section_code: str, *, source: EventSource,
           reason: str = "") -> None:
    sheet = _lock_for(session, round_id, section_code)
    refusal = scope.why_not_read(session, principal, sheet.unit_id) or permissions.why_not_submit(
        principal, sheet.unit_id, **_states(sheet))
    if refusal:
        raise Forbidden(refusal)
    reason, problem = check_text(reason.strip(), "理由", multiline=True)
    if problem:
        raise InvalidInput(problem, fields={"reason": problem})
    if len(reason) > REOPEN_REASON_MAX:
        raise InvalidInput(f"理由は{REOPEN_REASON_MAX}文字以内にしてください（現在{len(reason)}文字）。",
                           fields={"reason": f"{REOPEN_REASON_MAX}文字以内にしてください。"})
    if sheet.state != SheetState.SUBMITTED:
        raise Conflict("提出されていないため、取り消すものはありません。")
    definition = checklists.get_definition(session, sheet.version_id)
    now = now_utc()
    writer.set_state(session, sheet, definition, SheetState.DRAFT, actor_id=principal.user_id, source=source,
                     now=now, note=reason)
    # The 所属's leaders are told in the same transaction as the reopening.
    unit = session.get(Unit, sheet.unit_id)
    round_ = session.get(Round, round_id)
    notice = notices.sheet_reopened(round_id=round_id, round_title=round_.title, section_code=unit.code,
                                    section_name=unit.name, reason=reason, by=principal.display_name)
    enqueue_mail(session, notice, auth_service.leader_recipients(session, [unit.id]),
                 key=f"sheet_reopened.sh{sheet.id}.{now:%Y%m%dT%H%M%S%f}")


_LEADERS_OF = (
    select(User)
    .join(Membership, Membership.user_id == User.id)
    .where(Membership.unit_id == bindparam("unit_id"), Membership.role == SectionRole.LEADER, User.is_active)
    .order_by(User.display_name)
)


def leaders_of(session: Session, unit_id: int) -> list[User]:
    return list(session.exec(_LEADERS_OF, params={"unit_id": unit_id}).all())


# --- import (admin: answers brought in from Excel files) -------------------------------------------


@dataclass(frozen=True)
class ImportedAnswer:
    """One answer read from a file, already validated against the checklist by the importer."""

    item_key: str
    status: str | None  # canonical symbol
    memo: str
    version: int  # the answer's version when the import was previewed


@dataclass(frozen=True)
class ImportedSheet:
    sheet_id: int
    answers: list[ImportedAnswer]
    entry_on: date | None
    note: str


def import_answers(session: Session, sheets: list[ImportedSheet], *, actor_id: int | None) -> tuple[int, int]:
    """Store imported answers, each with a history event (source=import). Returns (sheets, answers)
    changed. Never commits.

    Every sheet must still be a draft, and each answer still at the version the preview saw, under
    the sheets' locks (taken together, in id order); otherwise Conflict, and the caller's transaction
    (the whole import) is rolled back.
    """
    wanted = {s.sheet_id: s for s in sheets if s.answers}
    locked = writer.lock(session, wanted)
    now = now_utc()
    group = writer.GroupDelta()
    written = 0
    for sheet in locked:
        imported = wanted[sheet.id]
        if sheet.state != SheetState.DRAFT:
            raise Conflict("提出済みのチェックシートには取り込めません。内容を確認して、もう一度やり直してください。")
        definition = checklists.get_definition(session, sheet.version_id)
        stored = writer.answers(session, sheet.id, [a.item_key for a in imported.answers])
        changes = []
        for answer in imported.answers:
            current = stored[answer.item_key]
            if current.version != answer.version:
                raise Conflict("取り込みの確認の後に、チェックシートの回答が変更されました。"
                               "もう一度確認してから取り込んでください。", item_key=answer.item_key)
            changes.append(writer.Change(definition.by_key[answer.item_key], current, answer.status, answer.memo))
        writer.write_answers(session, sheet, definition, changes, actor_id=actor_id, source=EventSource.IMPORT,
                             now=now, entry_on=imported.entry_on or today_jst(), note=imported.note[:500],
                             group=group)
        written += len(changes)
    writer.apply(session, group)
    for sheet in locked:
        writer.closed_round_changed(session, sheet.round_state, sheet.round_id, [sheet.bureau_id])
    return len(locked), written


# --- sheets of a round ------------------------------------------------------------------------------


def create_sheets(session: Session, round_: Round, sections: list[tuple[int, int]]) -> list[int]:
    """Empty sheets (one unanswered answer per item) for ``(所属 id, its 部局's id)`` in a round; their ids."""
    definition = checklists.get_definition(session, round_.checklist_version_id)
    return writer.create(session, round_, definition, [writer.NewSheet(u, b) for u, b in sections], now=now_utc())


def open_round(session: Session, round_: Round, *, on: date, actor: Principal | None = None) -> int:
    """Open a round being prepared: every 所属 in force on ``on`` gets its empty sheet. Returns the count."""
    units = orgs.units_in_force(session, on)
    bureaus = orgs.bureau_map(units)
    sections = [u for u in units if u.kind == UnitKind.SECTION]
    rounds.open_round(session, round_, sheets=len(sections), actor=actor)
    create_sheets(session, round_, [(u.id, bureaus[u.id].id) for u in sections])
    notice = notices.round_opened(round_id=round_.id, round_title=round_.title, opens_on=round_.opens_on,
                                  closes_on=round_.closes_on)
    recipients = auth_service.leader_recipients(session, [u.id for u in sections])
    enqueue_mail(session, notice, recipients, key=f"round_opened.r{round_.id}")
    enqueue_teams(session, notice, DESK, key=f"round_opened.r{round_.id}")
    return len(sections)


def close_round(session: Session, round_: Round, *, actor: Principal | None = None) -> None:
    """締切: the round is closed (after every save in flight, see ``writer.lock``) and its group figures
    are stored, so that pages over many rounds read them instead of recomputing them."""
    rounds.close_round(session, round_, actor=actor)
    figures.materialize(session, round_.id)
    unit_ids = list(session.exec(select(Sheet.unit_id).where(Sheet.round_id == round_.id)).all())
    notice = notices.round_closed(round_id=round_.id, round_title=round_.title, closes_on=round_.closes_on)
    key = f"round_closed.r{round_.id}.{now_utc():%Y%m%dT%H%M%S%f}"  # a round reopened and closed again: a new notice
    enqueue_mail(session, notice, auth_service.leader_recipients(session, unit_ids), key=key)
    enqueue_teams(session, notice, DESK, key=key)


def hand_on(session: Session, round_id: int, from_unit_id: int, to_unit: Unit) -> None:
    """A reorganisation: the sheet of ``from_unit_id`` in a round becomes the sheet of ``to_unit``, filed
    under its 部局."""
    sheet_id = session.exec(select(Sheet.id).where(Sheet.round_id == round_id, Sheet.unit_id == from_unit_id)).one()
    [sheet] = writer.lock(session, [sheet_id])
    writer.move(session, sheet, checklists.get_definition(session, sheet.version_id), unit_id=to_unit.id,
                bureau_id=to_unit.parent_id)


def merge_sheets(session: Session, round_id: int, old_units: Sequence[Unit], to_unit: Unit) -> bool:
    """A merge during an open round: of the sheets of the merged 所属, the one with the most answers (the first
    listed when even) is handed on to the merged 所属 ``to_unit``; each other one is folded into it (its answers
    fill the items still unanswered there, its history goes along) and leaves the round, so the round counts
    each 所属 in force once. False when none of them has a sheet in the round (the caller creates one)."""
    rows = session.exec(select(Sheet.id, Sheet.unit_id).where(Sheet.round_id == round_id,
                                                              Sheet.unit_id.in_([u.id for u in old_units]))).all()
    if not rows:
        return False
    locked = {s.unit_id: s for s in writer.lock(session, [sheet_id for sheet_id, _ in rows])}
    order = [u for u in old_units if u.id in locked]
    keep = max(order, key=lambda u: locked[u.id].counts.answered)  # max keeps the first of equals
    definition = checklists.get_definition(session, locked[keep.id].version_id)
    writer.move(session, locked[keep.id], definition, unit_id=to_unit.id, bureau_id=to_unit.parent_id)
    now = now_utc()
    for unit in order:
        if unit.id == keep.id:
            continue
        # read again: the kept sheet's 部局 and counts have changed since
        kept_id, folded_id = locked[keep.id].id, locked[unit.id].id
        now_locked = {s.id: s for s in writer.lock(session, [kept_id, folded_id])}
        writer.fold(session, now_locked[folded_id], now_locked[kept_id], definition,
                    note=f"統合前の所属「{unit.name}（{unit.code}）」から", now=now, entry_on=today_jst())
    return True


def sheet_counts(session: Session) -> dict[int, int]:
    """Sheets per round."""
    return dict(session.exec(select(Sheet.round_id, func.count()).group_by(Sheet.round_id)).all())
