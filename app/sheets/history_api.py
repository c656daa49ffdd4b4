"""JSON API: a sheet's history (Power BI / Power Query read it with an API token too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import CurrentPrincipal
from app.sheets import history
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, RoundId
from app.web.schemas import RoundRef, SectionRef, round_ref, section_ref

router = APIRouter(prefix="/api/v1", tags=["history"], dependencies=[Depends(csrf_protect)])


class EventOut(BaseModel):
    id: int = Field(description="the event's id (increases with time)", examples=[1234])
    at: datetime = Field(description="when (UTC)")
    actor: str | None = Field(description="display name of who did it; null if not recorded", examples=["富山 太郎"])
    kind: Literal["answer", "submit", "reopen", "review_ok", "review_back", "review_all", "evidence_add",
                  "evidence_remove"] = Field(
        description="answer (an answer changed), submit, reopen, the desk's review marks (review_*), or evidence "
                    "added to or removed from an answer (evidence_*, note: what)")
    source: Literal["page", "api", "import", "demo", "previous", "reorg"] = Field(
        description="where the change came from (previous: the previous round's answer confirmed unchanged; "
                    "reorg: a merge folded the sheet of a 所属 merged away into its successor's)")
    item_key: str | None = Field(description="the item of an answer change; null for submit and reopen",
                                 examples=["office.daily.keep-electronic"])
    item_text: str | None = Field(description="its text in the round's checklist", examples=["資料を電子で保管している"])
    old_status: str | None = Field(description="the status before (null: unanswered)", examples=["△"])
    new_status: str | None = Field(description="the status after (null: cleared)", examples=["◎"])
    memo_changed: bool = Field(description="whether the memo changed")
    old_memo: str | None = Field(description="the memo before, when it changed")
    new_memo: str | None = Field(description="the memo after, when it changed")
    note: str = Field(description="reason of a reopening, the file and worksheet of an import, or the comment of "
                                  "a 差戻し")


class HistoryOut(BaseModel):
    """A sheet's history, newest first, ``limit`` events from ``offset``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": {"id": 2, "title": "令和8年度 第1回"}, "section": {"code": "1001", "name": "総務課"},
        "total": 1, "offset": 0, "limit": 100,
        "events": [{"id": 1234, "at": "2026-11-29T01:23:45Z", "actor": "富山 太郎", "kind": "answer", "source": "page",
                    "item_key": "office.daily.keep-electronic", "item_text": "資料を電子で保管している",
                    "old_status": "△", "new_status": "◎", "memo_changed": False, "old_memo": None,
                    "new_memo": None, "note": ""}],
    }]})
    round: RoundRef = Field(description="the round")
    section: SectionRef = Field(description="the 所属")
    total: int = Field(description="events in all (with the `item` filter)", examples=[1])
    offset: int = Field(description="events skipped, as asked for", examples=[0])
    limit: int = Field(description="at most this many events, as asked for", examples=[100])
    events: list[EventOut] = Field(description="newest first")


@router.get("/rounds/{round_id}/sections/{code}/history", response_model=HistoryOut,
            responses={401: {"description": "Not signed in"}, 403: {"description": "Another 所属's sheet"},
                       404: {"description": "Unknown round, 所属 or item"}})
def get_history(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
                item: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$",
                                                  description="only this item's changes (its key)")] = None,
                offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="events to skip (newest first)")] = 0,
                limit: Annotated[int, Query(ge=1, le=history.MAX_LIMIT,
                                            description=f"at most this many (default 100, at most "
                                                        f"{history.MAX_LIMIT})")] = 100) -> HistoryOut:
    """Every change of every answer, submissions, reopenings and imports of a sheet, newest first.
    ``item`` narrows to one item; page with ``offset`` and ``limit`` (an offset past the end gives [])."""
    result = history.sheet_history(session, principal, round_id, code, item_key=item, offset=offset, limit=limit)
    return HistoryOut(
        round=round_ref(result.view.round), section=section_ref(result.view.unit), total=result.total,
        offset=result.offset, limit=result.limit,
        events=[EventOut(id=e.id, at=e.at, actor=e.actor, kind=e.kind, source=e.source, item_key=e.item_key,
                         item_text=e.item_text, old_status=e.old_status, new_status=e.new_status,
                         memo_changed=e.memo_changed, old_memo=e.old_memo, new_memo=e.new_memo, note=e.note)
                for e in result.entries],
    )
