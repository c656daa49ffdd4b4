"""JSON API: the list of rounds."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel

from app.auth import permissions
from app.auth.deps import CurrentPrincipal
from app.checklists import service as checklists
from app.jpdate import fiscal_year_label
from app.rounds import service
from app.rounds.models import RoundState
from app.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["rounds"])


class RoundOut(BaseModel):
    id: int
    title: str
    fiscal_year: int
    fiscal_year_label: str
    state: str
    opens_on: date
    closes_on: date
    checklist: str
    checklist_version: int
    current: bool


@router.get("/rounds", response_model=list[RoundOut], responses={401: {"description": "Not signed in"}})
def list_rounds(session: DbSession, principal: CurrentPrincipal) -> list[RoundOut]:
    """Every round, newest first, with its fiscal year, state and checklist version (rounds still being
    prepared, state ``preparing``, for the desk and admins only)."""
    current = service.current_round(session)
    preparing = permissions.sees_preparing_rounds(principal)
    out = []
    for r in service.list_rounds(session):
        if r.state == RoundState.PREPARING and not preparing:
            continue
        definition = checklists.get_definition(session, r.checklist_version_id)
        out.append(RoundOut(
            id=r.id, title=r.title, fiscal_year=r.fiscal_year, fiscal_year_label=fiscal_year_label(r.fiscal_year),
            state=r.state, opens_on=r.opens_on, closes_on=r.closes_on, checklist=definition.checklist_id,
            checklist_version=definition.version, current=current is not None and r.id == current.id,
        ))
    return out
