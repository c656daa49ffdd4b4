"""JSON API: a sheet's history (Power BI / Power Query read it with an API token too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from app.auth.deps import CurrentPrincipal
from app.sheets import history
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, RoundId

router = APIRouter(prefix="/api/v1", tags=["history"], dependencies=[Depends(csrf_protect)])


class EventOut(BaseModel):
    id: int
    at: datetime
    actor: str | None = Field(description="display name of who did it; null if not recorded")
    kind: str = Field(description="answer, submit or reopen")
    source: str = Field(description="page, api, import or demo")
    item_key: str | None
    item_text: str | None
    old_status: str | None
    new_status: str | None
    memo_changed: bool
    old_memo: str | None = Field(description="the memo before, when it changed")
    new_memo: str | None = Field(description="the memo after, when it changed")
    note: str = Field(description="reason of a reopening, or the file and worksheet of an import")


class HistoryOut(BaseModel):
    round_id: int
    section_code: str
    total: int
    offset: int
    limit: int
    events: list[EventOut]


@router.get("/rounds/{round_id}/sections/{code}/history", response_model=HistoryOut,
            responses={401: {"description": "Not signed in"}, 403: {"description": "Another 所属's sheet"},
                       404: {"description": "Unknown round, 所属 or item"}})
def get_history(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
                item: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$")] = None,
                offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
                limit: Annotated[int, Query(ge=1, le=history.MAX_LIMIT)] = 100) -> HistoryOut:
    """Every change of every answer, submissions, reopenings and imports of a sheet, newest first.
    ``item`` narrows to one item; page with ``offset`` and ``limit`` (an offset past the end gives [])."""
    result = history.sheet_history(session, principal, round_id, code, item_key=item, offset=offset, limit=limit)
    return HistoryOut(
        round_id=round_id, section_code=result.view.unit.code, total=result.total, offset=result.offset,
        limit=result.limit,
        events=[EventOut(id=e.id, at=e.at, actor=e.actor, kind=e.kind, source=e.source, item_key=e.item_key,
                         item_text=e.item_text, old_status=e.old_status, new_status=e.new_status,
                         memo_changed=e.memo_changed, old_memo=e.old_memo, new_memo=e.new_memo, note=e.note)
                for e in result.entries],
    )
