"""Rounds: the current round, listing, creating, opening, closing and reopening (opening creates every
所属's sheet: ``app.sheets.service.open_round`` does both). Every change of state is recorded as a RoundEvent (shown on the round's admin page) and in
the audit log."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import case, func
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.auth.models import User
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.errors import Conflict, InvalidInput, NotFound
from app.jpdate import fiscal_year_label, fiscal_year_of, wareki
from app.rounds.models import Round, RoundEvent, RoundEventKind, RoundState
from app.text import check_text

TITLE_MAX = 100
REASON_MAX = 500
# Titles the app suggests: 「令和8年度 第1回」 (a person may write any other title).
SUGGESTED_TITLE = re.compile(r"^(令和|平成|昭和)(元|\d+)年度 第\d+回$")


def get_round(session: Session, round_id: int) -> Round:
    found = session.get(Round, round_id)
    if found is None:
        raise NotFound(f"調査回 {round_id} はありません。")
    return found


def list_rounds(session: Session) -> list[Round]:
    return list(session.exec(select(Round).order_by(Round.opens_on.desc(), Round.id.desc())).all())


def current_round(session: Session) -> Round | None:
    """What people see first: the open round (latest opened), else the latest closed one."""
    state_rank = case((Round.state == RoundState.OPEN, 0), (Round.state == RoundState.CLOSED, 1), else_=2)
    return session.exec(select(Round).order_by(state_rank, Round.opens_on.desc(), Round.id.desc())).first()


def open_rounds(session: Session) -> list[Round]:
    return list(session.exec(select(Round).where(Round.state == RoundState.OPEN).order_by(Round.opens_on)).all())


def suggest_title(session: Session, fiscal_year: int) -> str:
    """「令和8年度 第2回」: the fiscal year in the Japanese era and the next number within that year."""
    count = session.exec(select(func.count()).select_from(Round).where(Round.fiscal_year == fiscal_year)).one()
    return f"{fiscal_year_label(fiscal_year)} 第{count + 1}回"


def validate_new_round(session: Session, *, fiscal_year: int | None, title: str, checklist_version_id: int | None,
                       opens_on: date | None, closes_on: date | None) -> str:
    """The title to use (suggested when left blank), or InvalidInput naming every field that is wrong."""
    errors: dict[str, str] = {}
    if fiscal_year is None or not 2000 <= fiscal_year <= 2100:
        errors["fiscal_year"] = "年度を選んでください。"
    title, problem = check_text(title.strip(), "調査回の名称", multiline=False)
    if problem:
        errors["title"] = problem
    elif len(title) > TITLE_MAX:
        errors["title"] = f"名称は{TITLE_MAX}文字以内にしてください（現在{len(title)}文字）。"
    elif title and session.exec(select(Round.id).where(Round.title == title)).first() is not None:
        errors["title"] = f"「{title}」という調査回は既にあります。別の名称にしてください。"
    if checklist_version_id is None:
        errors["checklist_version_id"] = "チェックシートの版を選んでください。"
    else:
        try:
            checklists.get_definition(session, checklist_version_id)
        except NotFound:
            errors["checklist_version_id"] = "選んだチェックシートの版は公開されていません。"
    if opens_on is None:
        errors["opens_on"] = "開始日を入力してください（例: 2026-05-01）。"
    elif fiscal_year is not None and "fiscal_year" not in errors and fiscal_year_of(opens_on) != fiscal_year:
        errors["opens_on"] = (f"開始日は{fiscal_year_label(fiscal_year)}（{fiscal_year}年4月1日～"
                              f"{fiscal_year + 1}年3月31日）の中の日にしてください。")
    if closes_on is None:
        errors["closes_on"] = "締切日を入力してください（例: 2026-06-30）。"
    elif opens_on is not None and closes_on < opens_on:
        errors["closes_on"] = "締切日は開始日以降の日にしてください。"
    if errors:
        raise InvalidInput("調査回を作成できませんでした。赤く示した項目を直してください。", fields=errors)
    if not title:
        title = suggest_title(session, fiscal_year)
        if session.exec(select(Round.id).where(Round.title == title)).first() is not None:
            raise InvalidInput("名称を入力してください。",
                               fields={"title": f"「{title}」は既にあります。名称を入力してください。"})
    return title


def create_round(
    session: Session, *, fiscal_year: int, title: str, checklist_version_id: int, opens_on: date, closes_on: date,
    actor: Principal | None = None,
) -> Round:
    checklists.get_definition(session, checklist_version_id)  # 404 for an unknown version
    new = Round(
        fiscal_year=fiscal_year,
        title=title,
        checklist_version_id=checklist_version_id,
        opens_on=opens_on,
        closes_on=closes_on,
        state=RoundState.PREPARING,
    )
    session.add(new)
    session.flush()
    _record(session, new, RoundEventKind.CREATE, actor)
    return new


def _lock(session: Session, round_: Round) -> None:
    """Read the round again under its row lock, so that its state is checked where it is changed: of two
    changes at once (two admins, a double click), the second waits for the first and sees its state.
    PostgreSQL: FOR NO KEY UPDATE, which (as the UPDATE after it) waits for the saves that hold the round
    FOR SHARE; SQLite: the write transaction holds the database's write lock already."""
    session.refresh(round_, with_for_update={"key_share": True})


def open_round(session: Session, round_: Round, *, sheets: int, actor: Principal | None = None) -> None:
    """Mark a round being prepared open (its ``sheets`` are created by ``app.sheets.service.open_round``, which
    calls this)."""
    _lock(session, round_)
    if round_.state != RoundState.PREPARING:
        raise Conflict("準備中の調査回だけを開始できます。")
    round_.state = RoundState.OPEN
    session.add(round_)
    session.flush()
    _record(session, round_, RoundEventKind.OPEN, actor, detail={"sheets": sheets})


def close_round(session: Session, round_: Round, *, actor: Principal | None = None) -> None:
    _lock(session, round_)
    if round_.state != RoundState.OPEN:
        raise Conflict("受付中の調査回だけを締め切れます。")
    round_.state = RoundState.CLOSED
    session.add(round_)
    session.flush()
    _record(session, round_, RoundEventKind.CLOSE, actor)


def reopen_round(session: Session, round_: Round, *, reason: str, actor: Principal | None) -> None:
    """Reopen a closed round (an admin action): the reason is required and kept with the round."""
    reason = (reason or "").strip()
    _lock(session, round_)
    if round_.state != RoundState.CLOSED:
        raise Conflict("締切済の調査回だけを再開できます。")
    if not reason:
        raise InvalidInput("再開する理由を入力してください。",
                           fields={"reason": "再開する理由を入力してください（例: 提出漏れの所属があるため）。"})
    reason, problem = check_text(reason, "理由", multiline=True)
    if problem:
        raise InvalidInput(problem, fields={"reason": problem})
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"理由は{REASON_MAX}文字以内にしてください。",
                           fields={"reason": f"理由は{REASON_MAX}文字以内にしてください（現在{len(reason)}文字）。"})
    round_.state = RoundState.OPEN
    session.add(round_)
    session.flush()
    _record(session, round_, RoundEventKind.REOPEN, actor, note=reason)


def change_deadline(session: Session, round_: Round, closes_on: date | None, *, actor: Principal | None) -> None:
    """Move a round's deadline (締切日), before it is closed; recorded in the round's history."""
    if closes_on is None:
        raise InvalidInput("締切日を入力してください。", fields={"closes_on": "締切日を入力してください（例: 2026-06-30）。"})
    _lock(session, round_)
    if round_.state == RoundState.CLOSED:
        raise Conflict("締切済の調査回の締切日は変更できません（再開してから変更してください）。")
    if closes_on < round_.opens_on:
        raise InvalidInput("締切日は開始日以降の日にしてください。",
                           fields={"closes_on": f"締切日は開始日（{wareki(round_.opens_on)}）以降の日にしてください。"})
    if closes_on == round_.closes_on:
        return
    note = f"{wareki(round_.closes_on)} → {wareki(closes_on)}"
    round_.closes_on = closes_on
    session.add(round_)
    session.flush()
    _record(session, round_, RoundEventKind.DEADLINE, actor, note=note)


def _record(session: Session, round_: Round, kind: RoundEventKind, actor: Principal | None, *, note: str = "",
            detail: dict | None = None) -> None:
    session.add(RoundEvent(round_id=round_.id, actor_id=actor.user_id if actor else None, kind=kind, note=note))
    if actor is not None:
        auth_service.audit(session, f"round_{kind.value}", actor=actor,
                           detail={"round_id": round_.id, "title": round_.title, **({"reason": note} if note else {}),
                                   **(detail or {})})
    session.flush()


def round_events(session: Session, round_id: int) -> list[tuple[RoundEvent, str]]:
    """The round's history, oldest first, with who did it."""
    rows = session.exec(
        select(RoundEvent, User.display_name)
        .outerjoin(User, User.id == RoundEvent.actor_id)
        .where(RoundEvent.round_id == round_id)
        .order_by(RoundEvent.at, RoundEvent.id)
    ).all()
    return [(event, name or "システム") for event, name in rows]
