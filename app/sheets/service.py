"""Sheets: the scoped getter (load + authorise in one step), saving answers, submitting, reopening.

Services never commit: the route owns the transaction, so a use case that fails changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, exists, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from app.auth import permissions
from app.auth.models import Membership, SectionRole, User
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.checklists.service import Definition, ItemDef
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc, today_jst
from app.orgs import service as orgs
from app.orgs.models import Unit
from app.rounds import service as rounds
from app.rounds.models import Round, RoundState
from app.scoring import queries as scoring_queries
from app.sheets.models import Answer, EventKind, EventSource, Sheet, SheetEvent, SheetState
from app.statuses import Status, parse_status

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
    answers: dict[str, Answer]
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

    def status_of(self, key: str) -> Status | None:
        answer = self.answers.get(key)
        return Status(answer.status) if answer and answer.status else None


@dataclass(frozen=True)
class AnswerInput:
    """One row as a person sent it: raw text, validated by ``save_answers``."""

    item_key: str
    status: str | None
    memo: str | None
    version: int | None


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


def get_sheet_for(session: Session, principal: Principal, round_id: int, section_code: str) -> SheetView:
    """Load a sheet and check that ``principal`` may read it (403 otherwise, 404 if none)."""
    round_ = rounds.get_round(session, round_id)
    row = session.exec(
        select(Sheet, Unit)
        .join(Unit, Unit.id == Sheet.unit_id)
        .where(Sheet.round_id == round_id, Unit.code == section_code)
    ).first()
    if row is None:
        raise NotFound(f"所属コード「{section_code}」のチェックシートはこの調査回にありません。")
    sheet, unit = row
    refusal = permissions.why_not_read_sheet(principal, unit.id)
    if refusal and principal.sections:  # the staff of a 所属 may read its predecessors' sheets
        refusal = permissions.why_not_read_sheet(principal, unit.id, continued_by=orgs.successor_ids(session, unit.id))
    if refusal:
        raise Forbidden(refusal)
    return _view(session, principal, round_, sheet, unit)


@dataclass(frozen=True)
class RoundChoice:
    """A round in which this 所属 (or one of its predecessors or successors) has a sheet the person may read."""

    round: Round
    code: str
    unit_name: str
    current: bool


def round_choices(session: Session, principal: Principal, view: SheetView) -> list[RoundChoice]:
    """For the round switcher on the sheet page: newest round first."""
    family = orgs.family_ids(session, view.unit.id)
    rows = session.exec(
        select(Round, Unit)
        .join(Sheet, Sheet.round_id == Round.id)
        .join(Unit, Unit.id == Sheet.unit_id)
        .where(Sheet.unit_id.in_(family), Round.state != RoundState.DRAFT)
        .order_by(Round.opens_on.desc(), Round.id.desc(), Unit.code)
    ).all()
    if not principal.sees_everything:
        readable = set(principal.sections)
        for uid in principal.sections:
            readable |= {a.unit.id for a in orgs.lineage(session, uid)}
        rows = [(r, u) for r, u in rows if u.id in readable]
    return [RoundChoice(r, u.code, u.name, r.id == view.round.id and u.id == view.unit.id) for r, u in rows]


def _view(session: Session, principal: Principal, round_: Round, sheet: Sheet, unit: Unit) -> SheetView:
    definition = checklists.get_definition(session, round_.checklist_version_id)
    answers = {a.item_key: a for a in session.exec(select(Answer).where(Answer.sheet_id == sheet.id)).all()}
    states = {
        "sheet_submitted": sheet.state == SheetState.SUBMITTED,
        "round_open": round_.state == RoundState.OPEN,
    }
    return SheetView(
        round=round_,
        sheet=sheet,
        unit=unit,
        bureau=session.get(Unit, sheet.bureau_id),
        definition=definition,
        answers=answers,
        why_not_edit=permissions.why_not_edit_sheet(principal, unit.id, **states),
        why_not_submit=permissions.why_not_submit(principal, unit.id, **states),
        why_not_export=permissions.why_not_export(principal, [unit.id]),
    )


# --- saving ---------------------------------------------------------------------------------------


def validate_answer(item: ItemDef, raw: AnswerInput, current: Answer) -> tuple[Status | None, str]:
    """The status and memo to store, or InvalidInput with a message per field."""
    errors: dict[str, str] = {}
    status: Status | None = None
    try:
        status = parse_status(raw.status)
    except ValueError as exc:
        errors["status"] = str(exc)
    if status is Status.NOT_APPLICABLE and not item.allows_na:
        errors["status"] = "この項目では「該当なし」は選べません。◎ ○ △ × のいずれかを選んでください。"
    memo = current.memo if raw.memo is None else raw.memo.replace("\r\n", "\n").replace("\r", "\n")
    if len(memo) > MEMO_MAX:
        errors["memo"] = f"メモは{MEMO_MAX:,}文字以内にしてください（現在{len(memo):,}文字）。"
    elif "\x00" in memo:  # PostgreSQL cannot store it; refused on every database alike
        errors["memo"] = "メモに使えない制御文字（NUL）が含まれています。取り除いてから保存してください。"
    if raw.version is None:
        errors["version"] = "version（読み込んだときの版番号）を指定してください。"
    elif raw.version < 0:
        errors["version"] = "version は0以上の整数です。"
    if errors:
        raise InvalidInput(f"「{item.text}」: " + " ".join(errors.values()), fields=errors, item_key=item.key)
    return status, memo


def save_answers(
    session: Session,
    principal: Principal,
    round_id: int,
    section_code: str,
    inputs: list[AnswerInput],
    *,
    source: EventSource,
) -> list[Answer]:
    """Save one or more rows in one transaction: all are saved, or (on any error) none.

    Each row carries the version it was read at; a row someone else changed since gets 409 with
    what they saved. Rows sent unchanged are left alone (no new version, no history entry).
    """
    view = get_sheet_for(session, principal, round_id, section_code)
    if view.why_not_edit:
        raise Forbidden(view.why_not_edit)
    planned = []
    errors: dict[str, str] = {}
    for raw in inputs:
        item = view.definition.item(raw.item_key)
        current = view.answers[item.key]
        try:
            status, memo = validate_answer(item, raw, current)
        except InvalidInput as exc:
            if len(inputs) == 1:
                raise
            errors[item.key] = exc.message
            continue
        if (status.value if status else None) == current.status and memo == current.memo:
            continue  # unchanged: nothing to write, whatever version the page had
        planned.append((item, current, status, memo, raw.version))
    if errors:
        raise InvalidInput(f"{len(errors)}件の項目に誤りがあります。赤く示した項目を直してください。", fields=errors)
    if not planned:
        return [view.answers[raw.item_key] for raw in inputs]
    now = now_utc()
    _touch_draft_sheet(session, view, now)
    saved = []
    for item, current, status, memo, expected in planned:
        saved.append(_write_answer(session, principal, view, item, current, status, memo, expected, now, source))
    scoring_queries.refresh_tallies(session, sheet_ids=[view.sheet.id])
    return saved


def _touch_draft_sheet(session: Session, view: SheetView, now: datetime) -> None:
    """Mark the sheet as changed today, only while it is a draft of an open round.

    This UPDATE also serialises writers of one sheet (row lock), so a save racing a submission
    either lands before it or is refused after it — never after a sheet was submitted.
    """
    result = session.execute(
        update(Sheet)
        .where(
            Sheet.id == view.sheet.id,
            Sheet.state == SheetState.DRAFT,
            exists().where(and_(Round.id == Sheet.round_id, Round.state == RoundState.OPEN)),
        )
        .values(updated_at=now, entry_on=today_jst())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Forbidden("提出済みか受付期間外のため、変更できません。画面を再読み込みしてください。")


def _write_answer(session, principal, view, item, current, status, memo, expected, now, source) -> Answer:
    new_status = status.value if status else None
    result = session.execute(
        update(Answer)
        .where(Answer.id == current.id, Answer.version == expected)
        .values(status=new_status, memo=memo, version=Answer.version + 1, updated_at=now,
                updated_by_id=principal.user_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(current)
        raise _conflict(session, item, current)
    session.add(
        SheetEvent(
            sheet_id=view.sheet.id,
            at=now,
            actor_id=principal.user_id,
            kind=EventKind.ANSWER,
            source=source,
            item_key=item.key,
            old_status=current.status,
            new_status=new_status,
            old_memo=current.memo if current.memo != memo else None,
            new_memo=memo if current.memo != memo else None,
        )
    )
    # The row now holds exactly what the conditional UPDATE wrote: set it without reading it back.
    for name, value in (("status", new_status), ("memo", memo), ("version", expected + 1), ("updated_at", now),
                        ("updated_by_id", principal.user_id)):
        set_committed_value(current, name, value)
    return current


def _conflict(session: Session, item: ItemDef, current: Answer) -> Conflict:
    who = session.get(User, current.updated_by_id) if current.updated_by_id else None
    name = who.display_name if who else "他の方"
    shown = current.status or "未回答"
    return Conflict(
        f"「{item.text}」は、読み込んだ後に{name}さんが変更しました（現在: {shown}）。"
        "内容を確認して、必要ならもう一度選んでください。",
        item_key=item.key,
        current=answer_json(current, name),
    )


def answer_json(answer: Answer, updated_by: str | None = None) -> dict:
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
           source: EventSource) -> Sheet:
    view = get_sheet_for(session, principal, round_id, section_code)
    if view.why_not_submit:
        raise Forbidden(view.why_not_submit)
    missing = [item.text for item in view.definition.items if view.answers[item.key].status is None]
    if missing:
        raise InvalidInput(
            f"未回答の項目が{len(missing)}件あります。すべての項目に回答してから提出してください"
            f"（例:「{missing[0]}」）。"
        )
    now = now_utc()
    _set_state(session, view, SheetState.DRAFT, SheetState.SUBMITTED,
               {"submitted_at": now, "submitted_by_id": principal.user_id, "updated_at": now},
               "既に提出されています。")
    session.add(SheetEvent(sheet_id=view.sheet.id, at=now, actor_id=principal.user_id, kind=EventKind.SUBMIT,
                           source=source))
    session.refresh(view.sheet)
    return view.sheet


def reopen(session: Session, principal: Principal, round_id: int, section_code: str, *, source: EventSource,
           reason: str = "") -> Sheet:
    view = get_sheet_for(session, principal, round_id, section_code)
    if view.why_not_submit:
        raise Forbidden(view.why_not_submit)
    reason = reason.strip()
    if "\x00" in reason:
        raise InvalidInput("理由に使えない制御文字（NUL）が含まれています。", fields={"reason": "制御文字（NUL）は使えません。"})
    if len(reason) > REOPEN_REASON_MAX:
        raise InvalidInput(f"理由は{REOPEN_REASON_MAX}文字以内にしてください（現在{len(reason)}文字）。",
                           fields={"reason": f"{REOPEN_REASON_MAX}文字以内にしてください。"})
    now = now_utc()
    _set_state(session, view, SheetState.SUBMITTED, SheetState.DRAFT,
               {"submitted_at": None, "submitted_by_id": None, "updated_at": now},
               "提出されていないため、取り消すものはありません。")
    session.add(SheetEvent(sheet_id=view.sheet.id, at=now, actor_id=principal.user_id, kind=EventKind.REOPEN,
                           source=source, note=reason))
    session.refresh(view.sheet)
    return view.sheet


def _set_state(session, view: SheetView, from_: SheetState, to: SheetState, values: dict, refusal: str) -> None:
    result = session.execute(
        update(Sheet)
        .where(Sheet.id == view.sheet.id, Sheet.state == from_)
        .values(state=to, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(refusal)


def leaders_of(session: Session, unit_id: int) -> list[User]:
    return list(
        session.exec(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.unit_id == unit_id, Membership.role == SectionRole.LEADER, User.is_active)
            .order_by(User.display_name)
        ).all()
    )


# --- import (admin: answers brought in from Excel files) -------------------------------------------


@dataclass(frozen=True)
class ImportedAnswer:
    """One answer read from a file, already validated against the checklist by the importer."""

    item_key: str
    status: str | None  # canonical symbol
    memo: str
    version: int  # the answer's version when the import was previewed


def write_imported_answers(session: Session, *, sheet_id: int, answers: list[ImportedAnswer], actor_id: int | None,
                           note: str, entry_on: date | None) -> int:
    """Store imported answers of one sheet, each with a history event (source=import). Never commits.

    The sheet must still be a draft, and each answer still at the version the preview saw; otherwise
    Conflict, and the caller's transaction (the whole import) is rolled back.
    """
    if not answers:
        return 0
    now = now_utc()
    touched = session.execute(
        update(Sheet)
        .where(Sheet.id == sheet_id, Sheet.state == SheetState.DRAFT)
        .values(updated_at=now, entry_on=entry_on or today_jst())
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount != 1:
        raise Conflict("提出済みのチェックシートには取り込めません。内容を確認して、もう一度やり直してください。")
    current = {a.item_key: a for a in session.exec(select(Answer).where(Answer.sheet_id == sheet_id)).all()}
    for imported in answers:
        answer = current[imported.item_key]
        old_status, old_memo = answer.status, answer.memo
        result = session.execute(
            update(Answer)
            .where(Answer.id == answer.id, Answer.version == imported.version)
            .values(status=imported.status, memo=imported.memo, version=Answer.version + 1, updated_at=now,
                    updated_by_id=actor_id)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict("取り込みの確認の後に、チェックシートの回答が変更されました。"
                           "もう一度確認してから取り込んでください。",
                           item_key=imported.item_key)
        memo_changed = old_memo != imported.memo
        session.add(SheetEvent(
            sheet_id=sheet_id, at=now, actor_id=actor_id, kind=EventKind.ANSWER, source=EventSource.IMPORT,
            item_key=imported.item_key, old_status=old_status, new_status=imported.status,
            old_memo=old_memo if memo_changed else None, new_memo=imported.memo if memo_changed else None,
            note=note[:500],
        ))
    scoring_queries.refresh_tallies(session, sheet_ids=[sheet_id])
    return len(answers)
