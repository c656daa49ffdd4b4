"""Rounds: the current round, listing, creating, opening (which creates every 所属's sheet) and closing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import case, insert
from sqlmodel import Session, select

from app.checklists import service as checklists
from app.errors import Conflict, NotFound
from app.orgs import service as orgs
from app.orgs.models import UnitKind
from app.rounds.models import Round, RoundState
from app.sheets.models import Answer, Sheet


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


def create_round(
    session: Session, *, fiscal_year: int, title: str, checklist_version_id: int, opens_on: date, closes_on: date
) -> Round:
    checklists.get_definition(session, checklist_version_id)  # 404 for an unknown version
    new = Round(
        fiscal_year=fiscal_year,
        title=title,
        checklist_version_id=checklist_version_id,
        opens_on=opens_on,
        closes_on=closes_on,
        state=RoundState.DRAFT,
    )
    session.add(new)
    session.flush()
    return new


def open_round(session: Session, round_: Round, *, on: date) -> int:
    """Open a draft round: every 所属 in force on ``on`` gets its (empty) sheet. Returns the count."""
    if round_.state is not RoundState.DRAFT:
        raise Conflict("準備中の調査回だけを開始できます。")
    units = orgs.units_in_force(session, on)
    bureaus = orgs.bureau_map(units)
    sections = [u for u in units if u.kind == UnitKind.SECTION]
    definition = checklists.get_definition(session, round_.checklist_version_id)
    now = round_.created_at
    if sections:
        session.execute(
            insert(Sheet),
            [
                {"round_id": round_.id, "unit_id": u.id, "bureau_id": bureaus[u.id].id, "state": "draft",
                 "updated_at": now}
                for u in sections
            ],
        )
        sheet_ids = session.exec(select(Sheet.id).where(Sheet.round_id == round_.id)).all()
        rows = [
            {"sheet_id": sid, "item_key": item.key, "memo": "", "version": 0}
            for sid in sheet_ids
            for item in definition.items
        ]
        for start in range(0, len(rows), 5000):
            session.execute(insert(Answer), rows[start : start + 5000])
    round_.state = RoundState.OPEN
    session.add(round_)
    session.flush()
    return len(sections)


def close_round(session: Session, round_: Round) -> None:
    if round_.state is not RoundState.OPEN:
        raise Conflict("受付中の調査回だけを締め切れます。")
    round_.state = RoundState.CLOSED
    session.add(round_)
    session.flush()
