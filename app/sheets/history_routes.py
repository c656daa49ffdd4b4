"""The history page of a sheet (GET form filtered by item; htmx swaps only the results)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.auth.deps import CurrentPrincipal
from app.sheets import history
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, RoundId
from app.web.render import render
from app.web.urls import sheet_url

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

ItemFilter = Annotated[str, Query(max_length=100, pattern=r"^([a-z0-9][a-z0-9.\-]*)?$")]
PageNo = Annotated[int, Query(ge=1, le=1_000_000)]


@router.get("/rounds/{round_id}/sections/{code}/history")
def history_page(request: Request, round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
                 item: ItemFilter = "", page: PageNo = 1):
    result = history.sheet_history(session, principal, round_id, code, item_key=item or None,
                                   offset=(page - 1) * history.PER_PAGE, clamp=True)
    return render(request, "sheets/history.html",
                  {"history": result, "view": result.view, "url": sheet_url(round_id, code)}, block="results")
