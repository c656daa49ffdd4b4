"""JSON API for the desk's review (issue 14.2): read a sheet's review (each item's mark, comment, who and when,
and the sheet's review state), and, for the desk, mark one item 確認済 or 差戻し or the whole sheet 確認済. Same
services as the sheet page's review panel (``app.sheets.review``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import CurrentPrincipal
from app.auth.permissions import Principal
from app.sheets import review, service
from app.sheets.models import EventSource, ReviewMark
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, ItemKey, RoundId
from app.web.schemas import RoundRef, SectionRef, round_ref, section_ref

router = APIRouter(prefix="/api/v1", tags=["review"], dependencies=[Depends(csrf_protect)])

MarkName = Literal["confirmed", "returned", "resubmitted"]
ReviewStateName = Literal["unreviewed", "reviewing", "confirmed", "returned"]


class ReviewItemOut(BaseModel):
    item_key: str = Field(description="the item's key", examples=["office.daily.keep-electronic"])
    position: int = Field(description="place on the sheet (1 = first row)", examples=[1])
    text: str = Field(description="チェック項目", examples=["資料を電子で保管している"])
    mark: MarkName | None = Field(description="the desk's latest mark: confirmed (確認済), returned (差戻し) or "
                                              "resubmitted (差戻し後に再提出: the desk reviews it again); null: none",
                                  examples=["returned"])
    mark_label: str | None = Field(description="the mark in Japanese", examples=["差戻し"])
    comment: str = Field(description="the desk's comment (required with 差戻し; empty when none)",
                         examples=["根拠の文書名を書いてください"])
    by: str | None = Field(description="display name of who marked it", examples=["窓口 花子"])
    at: datetime | None = Field(description="when it was marked (UTC)")


class ReviewOut(BaseModel):
    """The desk's review of a 所属's sheet in a round."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": {"id": 2, "title": "令和8年度 第1回"}, "section": {"code": "1001", "name": "総務課"},
        "sheet_state": "draft", "state": "returned", "state_label": "差戻し",
        "can_confirm": False, "can_send_back": True,
        "items": [{"item_key": "office.daily.keep-electronic", "position": 1, "text": "資料を電子で保管している",
                   "mark": "returned", "mark_label": "差戻し", "comment": "根拠の文書名を書いてください",
                   "by": "窓口 花子", "at": "2026-11-30T02:00:00Z"},
                  {"item_key": "office.daily.share-online", "position": 2, "text": "資料をオンラインで共有している",
                   "mark": "confirmed", "mark_label": "確認済", "comment": "", "by": "窓口 花子",
                   "at": "2026-11-30T01:58:00Z"}],
    }]})
    round: RoundRef = Field(description="the round")
    section: SectionRef = Field(description="the 所属")
    sheet_state: Literal["draft", "submitted"] = Field(description="the sheet: draft (入力中) or submitted (提出済)")
    state: ReviewStateName | None = Field(description=(
        "the review: unreviewed (未確認), reviewing (確認中), confirmed (確認済: every item), returned (差戻し: "
        "sent back, not yet submitted again); null for a draft that was not sent back"), examples=["returned"])
    state_label: str | None = Field(description="the review state in Japanese", examples=["差戻し"])
    can_confirm: bool = Field(description="whether the signed-in person may mark items 確認済 now (the desk, a "
                                          "submitted sheet)")
    can_send_back: bool = Field(description="whether they may send an item back (差戻し) now")
    items: list[ReviewItemOut] = Field(description="every item of the sheet, in sheet order, with its mark")


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"mark": "returned", "comment": "根拠の文書名を書いてください"}, {"mark": "confirmed"}]})
    mark: str = Field(max_length=20, description="confirmed (確認済) or returned (差戻し)", examples=["returned"])
    comment: str = Field(default="", max_length=2000, description=(
        f"required with returned (up to {review.COMMENT_MAX} characters); line breaks kept, other control "
        "characters refused (422)"), examples=["根拠の文書名を書いてください"])


def review_out(session, principal: Principal, round_id: int, code: str) -> ReviewOut:
    view = service.get_sheet_for(session, principal, round_id, code)
    summary = review.review_of(session, principal, view)
    details = review.mark_details(session, view)
    items = []
    for item in view.definition.items:
        d = details.get(item.key)
        items.append(ReviewItemOut(
            item_key=item.key, position=item.position, text=item.text, mark=d.mark if d else None,
            mark_label=review.MARK_LABELS[ReviewMark(d.mark)] if d else None,
            comment=d.comment if d else "", by=d.by if d else None, at=d.at if d else None))
    return ReviewOut(round=round_ref(view.round), section=section_ref(view.unit), sheet_state=view.sheet.state,
                     state=summary.state.value if summary.state else None, state_label=summary.state_label,
                     can_confirm=summary.why_not_confirm is None, can_send_back=summary.why_not_send_back is None,
                     items=items)


_ERRORS = {
    401: {"description": "Not signed in"},
    403: {"description": "Not allowed: another 所属's sheet; marking: not the desk or an admin, a sheet not "
                         "submitted, a closed round (差戻し), an API token, or a missing CSRF token"},
    404: {"description": "Unknown round, 所属 or item"},
}


@router.get("/rounds/{round_id}/sections/{code}/review", response_model=ReviewOut, responses=_ERRORS)
def get_review(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal) -> ReviewOut:
    """The desk's review of a sheet: each item's mark (確認済 / 差戻し / 差戻し後に再提出) with its comment, who and
    when, and the sheet's review state. The 所属's staff read their own sheet's; the desk and admins any."""
    return review_out(session, principal, round_id, code)


@router.post("/rounds/{round_id}/sections/{code}/review/items/{item_key}", response_model=ReviewOut,
             responses={**_ERRORS, 422: {"description": "No comment with returned, a comment too long, or a mark "
                                                        "other than confirmed or returned"}})
def mark_item(round_id: RoundId, code: Code, item_key: ItemKey, body: MarkIn, session: DbSession,
              principal: CurrentPrincipal) -> ReviewOut:
    """Mark one item 確認済 (``confirmed``) or send it back (``returned``, a comment required): the desk and
    admins, on a submitted sheet. A 差戻し reopens the sheet for the 所属 and mails its DX推進リーダー. Needs the
    ``X-CSRF-Token`` header (from ``/api/v1/me``)."""
    review.review_item(session, principal, round_id, code, item_key, mark=body.mark, comment=body.comment,
                       source=EventSource.API)
    session.commit()
    return review_out(session, principal, round_id, code)


@router.post("/rounds/{round_id}/sections/{code}/review/confirm-all", response_model=ReviewOut,
             responses={**_ERRORS, 409: {"description": "Every item is already 確認済"}})
def confirm_all(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal) -> ReviewOut:
    """「シート全体を確認済にする」: every item 確認済 (one history event): the desk and admins, on a submitted
    sheet. Needs the ``X-CSRF-Token`` header."""
    review.confirm_all(session, principal, round_id, code, source=EventSource.API)
    session.commit()
    return review_out(session, principal, round_id, code)
