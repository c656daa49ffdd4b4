"""JSON API for sheets: read a sheet (with the previous round's answers offered), save one answer, submit,
reopen. Same services as the pages; confirming previous answers is in ``previous_api``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import bindparam
from sqlmodel import select

from app.auth.deps import CurrentPrincipal, SignedInDep
from app.auth.models import User
from app.auth.permissions import Principal
from app.db import reads_from_here
from app.jpdate import wareki
from app.scoring.schemas import CategoryScore, Score
from app.sheets import evidence, previous, service
from app.sheets.evidence_api import EvidenceOut, evidence_json
from app.sheets.models import EventSource
from app.sheets.service import AnswerInput, SheetView
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, ItemKey, RoundId
from app.web.schemas import BureauRef, RoundRef, SectionRef, bureau_ref, round_ref, section_ref

router = APIRouter(prefix="/api/v1", tags=["sheets"], dependencies=[Depends(csrf_protect)])


class AnswerOut(BaseModel):
    """One answer as saved."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "item_key": "office.daily.keep-electronic", "status": "◎", "memo": "共有フォルダに保存", "version": 3,
        "updated_at": "2026-11-29T01:23:45Z", "updated_by": "富山 太郎"}]})
    item_key: str = Field(description="the item's key", examples=["office.daily.keep-electronic"])
    status: str | None = Field(description="◎ ○ △ × 該当なし, or null when unanswered", examples=["◎"])
    memo: str = Field(description="メモ (up to 2,000 characters; empty when none)", examples=["共有フォルダに保存"])
    version: int = Field(description="the answer's version: send it back with the next save (0 = never saved)",
                         examples=[3])
    updated_at: datetime | None = Field(description="when it was last saved (UTC), null if never")
    updated_by: str | None = Field(default=None, description="display name of who saved it last", examples=["富山 太郎"])


class Link(BaseModel):
    label: str = Field(description="the link's text", examples=["ペーパーレス会議の進め方"])
    url: str | None = Field(default=None, description="where it points; null for a reference without an address")


class PreviousOut(BaseModel):
    """The previous round's answer offered to an item still unanswered (not counted until confirmed)."""

    status: str = Field(description="◎ ○ △ × 該当なし, as submitted in the previous round", examples=["○"])
    memo: str = Field(description="its メモ (empty when none): confirmed together with the status",
                      examples=["共有フォルダに保存"])


class ItemOut(BaseModel):
    item_key: str = Field(description="the item's key: stable across checklist versions",
                          examples=["office.daily.keep-electronic"])
    position: int = Field(description="place on the sheet (1 = first row)", examples=[1])
    category: str = Field(description="カテゴリ", examples=["所属内"])
    scene: str = Field(description="シーン", examples=["日常業務"])
    text: str = Field(description="チェック項目", examples=["資料を電子で保管している"])
    difficulty: int = Field(description="難易度: 1 ☆ やりやすい, 2 ☆☆ ちょっと難しい, 3 ☆☆☆ 相手次第", examples=[1])
    allows_na: bool = Field(description="whether 該当なし may be answered")
    links: list[Link] = Field(description="参考リンク")
    hints: list[str] = Field(description="improvement hints shown at △ and ×")
    answer: AnswerOut = Field(description="the 所属's answer")
    is_new: bool = Field(default=False, description="「新しい項目」: the previous round's checklist did not have this "
                         "item's key (false when there is no previous round to compare with)")
    previous: PreviousOut | None = Field(default=None, description=(
        "「前回の回答」: the answer this 所属 (or the 所属 it continues after a reorganisation) submitted in the "
        "previous round, joined by item key, offered while this item is unanswered in a draft of an open round; "
        "null otherwise. Not counted in score or progress until confirmed: POST "
        "/api/v1/rounds/{round_id}/sections/{code}/previous-answers/confirm"))
    evidence: list[EvidenceOut] | None = Field(default=None, description=(
        "根拠資料: the answer's links and files, oldest first, for the 所属's staff and the desk; null for others "
        "(an administrator who is not the desk). Add a link: POST "
        "/api/v1/rounds/{round_id}/sections/{code}/answers/{item_key}/evidence; remove one: DELETE "
        ".../evidence/{evidence_id}"))


class SheetOut(BaseModel):
    """A 所属's sheet in a round."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": {"id": 2, "title": "令和8年度 第1回"}, "checklist": "paperless", "checklist_version": 2,
        "section": {"code": "1001", "name": "総務課"}, "bureau": {"code": "10", "name": "経営管理部"},
        "state": "draft", "submitted_at": None, "entry_date": "2026-11-29", "entry_date_wareki": "令和8年11月29日",
        "can_edit": True, "can_submit": False, "can_reopen": False,
        "score": {"maturity": 100.0, "completion": 16.7, "total": 6, "answered": 1, "not_applicable": 0,
                  "unanswered": 5},
        "categories": [{"name": "所属内", "maturity": 100.0, "completion": 50.0, "total": 2, "answered": 1,
                        "not_applicable": 0, "unanswered": 1}],
        "items": [{"item_key": "office.daily.keep-electronic", "position": 1, "category": "所属内",
                   "scene": "日常業務", "text": "資料を電子で保管している", "difficulty": 1, "allows_na": False,
                   "links": [], "hints": [],
                   "answer": {"item_key": "office.daily.keep-electronic", "status": "◎", "memo": "", "version": 1,
                              "updated_at": "2026-11-29T01:23:45Z", "updated_by": "富山 太郎"},
                   "is_new": False, "previous": None,
                   "evidence": [{"id": 12, "kind": "link", "url": "https://pref.sharepoint.com/sites/dx/plan.pdf",
                                 "label": "業務計画", "filename": None, "content_type": None, "size": None,
                                 "added_at": "2026-11-29T01:23:45Z", "added_by": "富山 太郎"},
                                {"id": 13, "kind": "file", "url": "/rounds/2/sections/1001/evidence/13",
                                 "label": None, "filename": "会議資料.pdf", "content_type": "application/pdf",
                                 "size": 182044, "added_at": "2026-11-29T01:25:02Z", "added_by": "富山 太郎"}]}],
        "previous_round": {"id": 1, "title": "令和7年度 第1回"},
    }]})
    round: RoundRef = Field(description="the round")
    checklist: str = Field(description="the checklist's id", examples=["paperless"])
    checklist_version: int = Field(description="the checklist version the round uses", examples=[2])
    section: SectionRef = Field(description="the 所属")
    bureau: BureauRef = Field(description="its 部局 in the round")
    state: Literal["draft", "submitted"] = Field(description="draft (入力中, not submitted) or submitted (提出済)")
    submitted_at: datetime | None = Field(description="when it was submitted (UTC); null while not submitted")
    entry_date: date | None = Field(description="記載日 (ISO): the day of the last change, null before the first")
    entry_date_wareki: str | None = Field(description="記載日 in the Japanese era", examples=["令和8年11月29日"])
    can_edit: bool = Field(description="whether the signed-in person may change answers now")
    can_submit: bool = Field(description="whether they may submit it now (a leader, every item answered)")
    can_reopen: bool = Field(description="whether they may reopen it (a leader, submitted, round open)")
    score: Score = Field(description="the sheet's maturity and completion")
    categories: list[CategoryScore] = Field(description="per category, in sheet order")
    items: list[ItemOut] = Field(description="every item of the checklist version, in sheet order")
    previous_round: RoundRef | None = Field(default=None, description=(
        "the round whose submitted answers are offered as 「前回の回答」 (the latest earlier round in which this "
        "所属 or its predecessor has a sheet, if that sheet was submitted); null when nothing is offered"))


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(max_length=20, description="◎ ○ △ × 該当なし, or null to clear", examples=["◎"])
    memo: str | None = Field(default=None, description="omit to keep the memo as it is. CR LF, CR, vertical tab and "
                             "form feed are stored as a line feed; other control characters are refused (422)",
                             examples=["共有フォルダに保存"])
    version: int = Field(ge=0, le=2**31 - 1, description="the answer's version when it was read", examples=[0])


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=service.REOPEN_REASON_MAX, description="why (kept in the history)",
                        examples=["修正のため"])


_ITEMS = TypeAdapter(list[ItemOut])


def sheet_out(session, view: SheetView, principal: Principal) -> SheetOut:
    score = service.score_of(session, view)
    offered = previous.offer_for(session, principal, view)
    shown = evidence.of_view(session, principal, view)  # None: not theirs to read
    by_item = shown.by_item if shown else {}  # one statement, for those who may read it
    names = _user_names(session, {a.updated_by_id for a in view.answers.values()}
                        | {e.created_by_id for found in by_item.values() for e in found})
    # Validated as one list of plain dicts (in pydantic-core) rather than 40 items and their answers and
    # links built as models one by one.
    items = _ITEMS.validate_python([
        {"item_key": item.key, "position": item.position, "category": item.category, "scene": item.scene,
         "text": item.text, "difficulty": item.difficulty, "allows_na": item.allows_na, "links": list(item.links),
         "hints": list(item.hints), "answer": service.answer_json(answer, names.get(answer.updated_by_id)),
         "is_new": bool(offered and offered.is_new(item.key)),
         "previous": _previous_json(offered.offer(item.key)) if offered else None,
         "evidence": [evidence_json(e, view.round.id, view.unit.code, names) for e in by_item.get(item.key, ())]
         if shown else None}
        for item in view.definition.items for answer in (view.answers[item.key],)])
    return SheetOut(
        round=round_ref(view.round),
        checklist=view.definition.checklist_id,
        checklist_version=view.definition.version,
        section=section_ref(view.unit),
        bureau=bureau_ref(view.bureau),
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
        previous_round=round_ref(offered.round) if offered else None,
    )


def _previous_json(offer: previous.PreviousAnswer | None) -> dict | None:
    return {"status": offer.status, "memo": offer.memo} if offer else None


def _user_names(session, ids: set[int | None]) -> dict[int, str]:
    """Display names of who saved the answers, in one query."""
    ids.discard(None)
    if not ids:
        return {}
    return dict(session.connection().execute(_USER_NAMES, {"ids": list(ids)}).all())


_USER_NAMES = select(User.id, User.display_name).where(User.id.in_(bindparam("ids", expanding=True)))


_ERRORS = {
    401: {"description": "Not signed in"},
    403: {"description": "Not allowed (another 所属, submitted sheet, closed round, missing CSRF token)"},
    404: {"description": "Unknown round, 所属 or item"},
}


@router.get("/rounds/{round_id}/sections/{code}/sheet", response_model=SheetOut, responses=_ERRORS)
def get_sheet(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal) -> Response:
    """A 所属's sheet in a round: every item with its answer, the entry date, state, score and completion."""
    sheet = sheet_out(session, service.get_sheet_for(session, principal, round_id, code), principal)
    # Serialised here by pydantic-core, as put_answer does: returned as a model, FastAPI would validate it again in
    # the thread pool and then encode it in Python (jsonable_encoder, json.dumps), a quarter of the request.
    return Response(sheet.model_dump_json(), media_type="application/json")


@router.put(
    "/rounds/{round_id}/sections/{code}/answers/{item_key}",
    response_model=AnswerOut,
    responses={**_ERRORS, 409: {"description": "Someone saved this answer since it was read"},
               422: {"description": "Invalid status, memo over 2,000 characters, bad version or body"}},
)
def put_answer(round_id: RoundId, code: Code, item_key: ItemKey, body: AnswerIn, session: DbSession,
               who: SignedInDep) -> Response:
    """Save one answer. Send the ``version`` you read; a stale version gets 409 with what is saved now.
    Needs the ``X-CSRF-Token`` header (from ``/api/v1/me``)."""
    principal = who.load()  # in this thread (SignedIn: one hop to the thread pool for the person and the save)
    [answer] = service.save_answers(
        session, principal, round_id, code,
        [AnswerInput(item_key, body.status, body.memo, body.version)], source=EventSource.API,
    ).answers
    session.commit()
    reads_from_here(session)
    by = principal.display_name if answer.updated_by_id == principal.user_id else (
        _user_names(session, {answer.updated_by_id}).get(answer.updated_by_id))  # unchanged row: last writer
    # Validated here and sent as it is: FastAPI would validate a returned model again in the thread pool (a
    # hop to a thread and back, for every save).
    return Response(AnswerOut(**service.answer_json(answer, by)).model_dump_json(), media_type="application/json")


_STATE_ERRORS = {**_ERRORS, 409: {"description": "Already submitted (submit) or not submitted (reopen)"},
                 422: {"description": "Items still unanswered (submit), or a bad body"}}


@router.post("/rounds/{round_id}/sections/{code}/submit", response_model=SheetOut, responses=_STATE_ERRORS)
def submit(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal) -> SheetOut:
    """Submit (提出) the sheet: DX推進リーダー only; every item must be answered."""
    service.submit(session, principal, round_id, code, source=EventSource.API)
    session.commit()
    return sheet_out(session, service.get_sheet_for(session, principal, round_id, code), principal)


@router.post("/rounds/{round_id}/sections/{code}/reopen", response_model=SheetOut, responses=_STATE_ERRORS)
def reopen(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
           body: ReopenIn | None = None) -> SheetOut:
    """Reopen a submitted sheet so members can change it again: DX推進リーダー only."""
    service.reopen(session, principal, round_id, code, source=EventSource.API, reason=body.reason if body else "")
    session.commit()
    return sheet_out(session, service.get_sheet_for(session, principal, round_id, code), principal)
