"""JSON API: confirm the previous round's answers offered on a sheet (「変更なし」 for one item, 「前回どおりで確認」
for every item still unanswered). The offers themselves are in the sheet's JSON (``items[].previous``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import CurrentPrincipal
from app.sheets import previous, service
from app.sheets.api import SheetOut, sheet_out
from app.sheets.models import EventSource
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, RoundId

router = APIRouter(prefix="/api/v1", tags=["sheets"], dependencies=[Depends(csrf_protect)])


class ConfirmPreviousIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"item_key": "office.daily.keep-electronic", "version": 0}, {}]})
    item_key: str | None = Field(default=None, max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$", description=(
        "one item (「変更なし」); omit to confirm every item still unanswered that has a previous answer "
        "(「前回どおりで確認」)"), examples=["office.daily.keep-electronic"])
    version: int | None = Field(default=None, ge=0, le=2**31 - 1, description=(
        "with item_key: the answer's version when it was read (a stale version gets 409 with what is saved now)"),
        examples=[0])


class ConfirmedOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"confirmed": 1, "sheet": SheetOut.model_config["json_schema_extra"]["examples"][0]}]})
    confirmed: int = Field(description="how many answers were written from the previous round (0: nothing was left "
                           "to confirm)", examples=[6])
    sheet: SheetOut = Field(description="the sheet as it is now")


@router.post(
    "/rounds/{round_id}/sections/{code}/previous-answers/confirm",
    response_model=ConfirmedOut,
    responses={401: {"description": "Not signed in"},
               403: {"description": "Not allowed (another 所属, submitted sheet, closed round, missing CSRF token)"},
               404: {"description": "Unknown round, 所属 or item"},
               409: {"description": "The item was changed since it was read, is answered already, or has no "
                                    "previous answer"},
               422: {"description": "A bad body (item_key without version)"}},
)
def confirm_previous(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
                     body: ConfirmPreviousIn | None = None) -> ConfirmedOut:
    """Answer items with the previous round's answers (status and memo), as offered in ``items[].previous``:
    one item (``item_key`` and the ``version`` read), or every item still unanswered (empty body). Items
    already answered in this round are never overwritten. Recorded in the history with source ``previous``.
    Needs the ``X-CSRF-Token`` header."""
    body = body or ConfirmPreviousIn()
    confirmed = previous.confirm(session, principal, round_id, code, item_key=body.item_key, version=body.version,
                                 source=EventSource.API)
    session.commit()
    return ConfirmedOut(confirmed=confirmed,
                        sheet=sheet_out(session, service.get_sheet_for(session, principal, round_id, code), principal))
