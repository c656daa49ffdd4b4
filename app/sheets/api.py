"""JSON API for sheets: read a sheet, save one answer, submit, reopen. Same services as the pages."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import CurrentPrincipal
from app.auth.models import User
from app.jpdate import wareki
from app.scoring.schemas import CategoryScore, Score
from app.sheets import figures, service
from app.sheets.models import EventSource
from app.sheets.service import AnswerInput, SheetView
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, ItemKey, RoundId

router = APIRouter(prefix="/api/v1", tags=["sheets"], dependencies=[Depends(csrf_protect)])



class AnswerOut(BaseModel):
    item_key: str
    status: str | None = Field(description="◎ ○ △ × 該当なし, or null when unanswered")
    memo: str
    version: int
    updated_at: datetime | None
    updated_by: str | None = None


class Link(BaseModel):
    label: str
    url: str | None = None


class ItemOut(BaseModel):
    key: str
    position: int
    category: str
    scene: str
    text: str
    difficulty: int
    allows_na: bool
    links: list[Link]
    hints: list[str]
    answer: AnswerOut


class UnitRef(BaseModel):
    code: str
    name: str


class SheetOut(BaseModel):
    round_id: int
    round_title: str
    checklist: str
    checklist_version: int
    section: UnitRef
    bureau: UnitRef
    state: str = Field(description="draft or submitted")
    submitted_at: datetime | None
    entry_date: date | None = Field(description="記載日 (ISO)")
    entry_date_wareki: str | None = Field(description="記載日 in the Japanese era, e.g. 令和7年11月29日")
    can_edit: bool
    can_submit: bool
    can_reopen: bool
    score: Score
    categories: list[CategoryScore]
    items: list[ItemOut]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(max_length=20, description="◎ ○ △ × 該当なし, or null to clear")
    memo: str | None = Field(default=None, description="omit to keep the memo as it is")
    version: int = Field(ge=0, le=2**31 - 1, description="the answer's version when it was read")


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=service.REOPEN_REASON_MAX)


def sheet_out(session, view: SheetView) -> SheetOut:
    score = figures.sheet_score(session, view.sheet.id)
    names = _user_names(session, {a.updated_by_id for a in view.answers.values()})
    items = []
    for item in view.definition.items:
        answer = view.answers[item.key]
        items.append(ItemOut(
            key=item.key, position=item.position, category=item.category, scene=item.scene, text=item.text,
            difficulty=item.difficulty, allows_na=item.allows_na, links=[Link(**link) for link in item.links],
            hints=list(item.hints), answer=AnswerOut(**service.answer_json(answer, names.get(answer.updated_by_id))),
        ))
    return SheetOut(
        round_id=view.round.id,
        round_title=view.round.title,
        checklist=view.definition.checklist_id,
        checklist_version=view.definition.version,
        section=UnitRef(code=view.unit.code, name=view.unit.name),
        bureau=UnitRef(code=view.bureau.code, name=view.bureau.name),
        state=view.sheet.state,
        submitted_at=view.sheet.submitted_at,
        entry_date=view.sheet.entry_on,
        entry_date_wareki=wareki(view.sheet.entry_on) or None,
        can_edit=view.can_edit,
        can_submit=view.can_submit,
        can_reopen=view.can_reopen,
        score=Score.of(score.overall),
        categories=[CategoryScore(name=name, **Score.of(t).model_dump()) for name, t in score.categories.items()],
        items=items,
    )


def _user_names(session, ids: set[int | None]) -> dict[int, str]:
    ids.discard(None)
    return {uid: session.get(User, uid).display_name for uid in ids}


_ERRORS = {
    401: {"description": "Not signed in"},
    403: {"description": "Not allowed (another 所属, submitted sheet, closed round, missing CSRF token)"},
    404: {"description": "Unknown round, 所属 or item"},
}


@router.get("/rounds/{round_id}/sections/{code}/sheet", response_model=SheetOut, responses=_ERRORS)
def get_sheet(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal) -> SheetOut:
    """A 所属's sheet in a round: every item with its answer, the entry date, state, score and completion."""
    return sheet_out(session, service.get_sheet_for(session, principal, round_id, code))


@router.put(
    "/rounds/{round_id}/sections/{code}/answers/{item_key}",
    response_model=AnswerOut,
    responses={**_ERRORS, 409: {"description": "Someone saved this answer since it was read"},
               422: {"description": "Invalid status, memo over 2,000 characters, bad version or body"}},
)
def put_answer(round_id: RoundId, code: Code, item_key: ItemKey, body: AnswerIn, session: DbSession,
               principal: CurrentPrincipal) -> AnswerOut:
    """Save one answer. Send the ``version`` you read; a stale version gets 409 with what is saved now.
    Needs the ``X-CSRF-Token`` header (from ``/api/v1/me``)."""
    [answer] = service.save_answers(
        session, principal, round_id, code,
        [AnswerInput(item_key, body.status, body.memo, body.version)], source=EventSource.API,
    ).answers
    session.commit()
    by = principal.display_name if answer.updated_by_id == principal.user_id else (
        _user_names(session, {answer.updated_by_id}).get(answer.updated_by_id))  # unchanged row: last writer
    return AnswerOut(**service.answer_json(answer, by))


_STATE_ERRORS = {**_ERRORS, 409: {"description": "Already submitted (submit) or not submitted (reopen)"},
                 422: {"description": "Items still unanswered (submit), or a bad body"}}


@router.post("/rounds/{round_id}/sections/{code}/submit", response_model=SheetOut, responses=_STATE_ERRORS)
def submit(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal) -> SheetOut:
    """Submit (提出) the sheet: DX推進リーダー only; every item must be answered."""
    service.submit(session, principal, round_id, code, source=EventSource.API)
    session.commit()
    return sheet_out(session, service.get_sheet_for(session, principal, round_id, code))


@router.post("/rounds/{round_id}/sections/{code}/reopen", response_model=SheetOut, responses=_STATE_ERRORS)
def reopen(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
           body: ReopenIn | None = None) -> SheetOut:
    """Reopen a submitted sheet so members can change it again: DX推進リーダー only."""
    service.reopen(session, principal, round_id, code, source=EventSource.API, reason=body.reason if body else "")
    session.commit()
    return sheet_out(session, service.get_sheet_for(session, principal, round_id, code))
