"""JSON API: the list of rounds."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.auth import permissions
from app.auth.deps import CurrentPrincipal
from app.checklists import service as checklists
from app.jpdate import fiscal_year_label
from app.rounds import service
from app.rounds.models import RoundState
from app.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["rounds"])


class RoundOut(BaseModel):
    """A round (調査回)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 2, "title": "令和8年度 第1回", "fiscal_year": 2026, "fiscal_year_label": "令和8年度", "state": "open",
        "opens_on": "2026-10-01", "closes_on": "2026-12-25", "checklist": "paperless", "checklist_version": 2,
        "current": True}]})
    id: int = Field(description="調査回のID (the {round_id} of the URLs)", examples=[2])
    title: str = Field(description="調査回の名称", examples=["令和8年度 第1回"])
    fiscal_year: int = Field(description="fiscal year (年度, April to March) as a western year", examples=[2026])
    fiscal_year_label: str = Field(description="the fiscal year in the Japanese era", examples=["令和8年度"])
    state: Literal["preparing", "open", "closed"] = Field(
        description="preparing (準備中: not open yet; listed for the desk and admins only), open (受付中), "
                    "closed (締切済)")
    opens_on: date = Field(description="開始日")
    closes_on: date = Field(description="締切日")
    checklist: str = Field(description="the checklist's id", examples=["paperless"])
    checklist_version: int = Field(description="the checklist version the round uses", examples=[2])
    current: bool = Field(description="whether it is the current round (the one 所属 fill in)")


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
