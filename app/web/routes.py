"""Home (sends each person where they work) and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from app.orgs.models import Unit
from app.rounds import service as rounds
from app.sheets.models import Sheet
from app.web.deps import CurrentPrincipal, DbSession
from app.web.render import render
from app.web.urls import sheet_url

router = APIRouter()


@router.get("/healthz", tags=["health"], responses={503: {"description": "The database does not answer"}})
async def healthz(request: Request) -> JSONResponse:
    """200 ``{"status": "ok"}`` when the database answers, 503 otherwise."""

    def ping() -> None:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        async with request.app.state.db_gate.admit(write=False):
            await run_in_threadpool(ping)
    except SQLAlchemyError:
        body = {"status": "unavailable", "detail": "データベースに接続できません。"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ok"})


@router.get("/", include_in_schema=False)
def home(request: Request, session: DbSession, principal: CurrentPrincipal):
    current = rounds.current_round(session)
    if current is not None and principal.sees_everything:
        return RedirectResponse(f"/desk/board?round={current.id}", status_code=303)
    sheets = []
    if current is not None and principal.sections:
        sheets = session.exec(
            select(Sheet, Unit)
            .join(Unit, Unit.id == Sheet.unit_id)
            .where(Sheet.round_id == current.id, Sheet.unit_id.in_(list(principal.sections)))
            .order_by(Unit.code)
        ).all()
    if len(sheets) == 1:
        return RedirectResponse(sheet_url(current.id, sheets[0][1].code), status_code=303)
    return render(request, "home.html", {"current": current, "sheets": sheets})
