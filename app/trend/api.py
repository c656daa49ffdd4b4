"""JSON API: a 所属's trend over rounds, what changed per item since the previous round, and its targets
(目標: members, leaders of the 所属, the desk and admins read; only the 所属's leaders set them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from app.auth import permissions, scope
from app.auth.deps import CurrentPrincipal
from app.orgs.models import Unit
from app.scoring.rules import CHANGE_LABELS, GroupFigure
from app.scoring.schemas import CategoryScore, Score
from app.sheets import figures
from app.sheets.figures import GroupKey
from app.sheets.models import PREFECTURE
from app.trend import service as trend_service
from app.trend import targets as targets_service
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code

_STRICT = ConfigDict(extra="forbid")
ItemKey = Annotated[str, Field(min_length=1, max_length=100)]

router = APIRouter(prefix="/api/v1", tags=["trends", "targets"], dependencies=[Depends(csrf_protect)])


class TrendRound(Score):
    round_id: int
    round_title: str
    fiscal_year: int
    opens_on: date
    section_code: str
    section_name: str
    relation: str = Field(description="self | continued (renamed/moved) | merged (a predecessor) | split (the parent)")
    relation_label: str
    state: str
    categories: list[CategoryScore]
    bureau_code: str | None = Field(default=None, description="the 部局 of the 所属's sheet in that round")
    bureau_name: str | None = None
    bureau_sections: int = Field(default=0, description="所属 of that 部局 with a sheet in the round")
    bureau_suppressed: bool = Field(default=True, description="true under 5 所属: no average is shown")
    bureau_average: float | None = Field(default=None, description="mean maturity of the 部局's 所属")
    prefecture_sections: int = 0
    prefecture_suppressed: bool = True
    prefecture_median: float | None = Field(default=None, description="median maturity of every 所属")


class ItemChangeOut(BaseModel):
    key: str
    text: str
    category: str
    before: list[dict[str, str | None]] = Field(description="[{section, status}] — several after a merge")
    after: str | None
    in_before: bool = Field(description="false when the item did not exist in the earlier round's checklist")
    in_after: bool = Field(description="false when the item does not exist in the later round's checklist")
    change: str | None = Field(
        description="improved | regressed | unchanged | not_comparable | new_item | removed_item")
    change_label: str | None


class TrendOut(BaseModel):
    section_code: str
    section_name: str
    rounds: list[TrendRound]
    compared: list[int] = Field(description="[earlier round id, later round id] of `changes`, or []")
    changes: list[ItemChangeOut]


@router.get("/sections/{code}/trend", response_model=TrendOut, responses={401: {}, 403: {}, 404: {}})
def section_trend(code: Code, session: DbSession, principal: CurrentPrincipal) -> TrendOut:
    """A 所属's maturity per round (following renames, moves, merges and splits), beside its 部局's
    average and the prefecture median for that round (withheld for groups under 5 所属), and, between
    its two latest rounds, each item's change. Desk and admins: any 所属; members and leaders: their own."""
    unit = scope.resolve_section(session, principal, code)
    trend = trend_service.section_trend(session, unit)
    bureau_ids = {p.score.bureau_id for p in trend.points}
    groups = figures.groups(session, principal, [r.id for r in trend.rounds], bureau_ids=bureau_ids)
    bureaus = {u.id: u for u in session.exec(select(Unit).where(Unit.id.in_(bureau_ids)))} if bureau_ids else {}
    rounds = [
        TrendRound(
            round_id=p.round.id, round_title=p.round.title, fiscal_year=p.round.fiscal_year,
            opens_on=p.round.opens_on, section_code=p.unit.code, section_name=p.unit.name, relation=p.relation,
            relation_label=p.relation_label, state=p.score.state, **Score.of(p.score.overall).model_dump(),
            categories=[CategoryScore(name=n, **Score.of(t).model_dump()) for n, t in p.score.categories.items()],
            **_groups(groups, p.round.id, bureaus.get(p.score.bureau_id), p.score.bureau_id),
        )
        for p in trend.points
    ]
    ordered = trend.rounds
    changes, compared = [], []
    if len(ordered) >= 2:
        compared = [ordered[-2].id, ordered[-1].id]
        for c in trend_service.compare(session, trend, *compared):
            changes.append(ItemChangeOut(
                key=c.key, text=c.text, category=c.category,
                before=[{"section": name, "status": s.value if s else None} for name, s in c.before],
                after=c.after.value if c.after else None, in_before=c.in_before, in_after=c.in_after,
                change=c.change.value if c.change else None,
                change_label=CHANGE_LABELS[c.change] if c.change else None,
            ))
    return TrendOut(section_code=unit.code, section_name=unit.name, rounds=rounds, compared=compared,
                    changes=changes)


def _groups(groups: Mapping[GroupKey, GroupFigure], round_id: int, bureau: Unit | None, bureau_id: int) -> dict:
    figure = groups[GroupKey(round_id, bureau_id)]
    prefecture = groups[GroupKey(round_id, PREFECTURE)]
    return {
        "bureau_code": bureau.code if bureau else None,
        "bureau_name": bureau.name if bureau else None,
        "bureau_sections": figure.sections,
        "bureau_suppressed": figure.suppressed,
        "bureau_average": figure.mean,
        "prefecture_sections": prefecture.sections,
        "prefecture_suppressed": prefecture.suppressed,
        "prefecture_median": prefecture.median,
    }


# --- targets --------------------------------------------------------------------------------------------


class TargetIn(BaseModel):
    model_config = _STRICT
    item_key: ItemKey
    status: str = Field(max_length=8, description="◎ ○ △ (the status aimed for in the next round)")


class TargetsIn(BaseModel):
    model_config = _STRICT
    round_id: int = Field(ge=1, le=2**31 - 1, description="the 所属's latest round (the base of the targets)")
    targets: list[TargetIn] = Field(max_length=100, description="replaces the targets set from that round")


class TargetOut(BaseModel):
    item_key: str
    text: str
    category: str
    target: str
    base_status: str | None = Field(description="the 所属's status when the target was set")
    result_status: str | None = Field(description="status in the result round (null: unanswered or none yet)")
    result: str | None = Field(description="met | not_met | pending | not_comparable; null until the next round")
    result_label: str
    set_by_section: str
    set_at: datetime


class TargetSetOut(BaseModel):
    base_round_id: int
    base_round_title: str
    result_round_id: int | None
    result_round_title: str | None
    met: int
    targets: list[TargetOut]


class TargetsOut(BaseModel):
    section_code: str
    section_name: str
    latest_round_id: int | None = Field(description="targets can be set from this round only")
    can_set: bool
    sets: list[TargetSetOut] = Field(description="newest base round first")


def _targets_out(session, principal, unit) -> TargetsOut:
    trend = trend_service.section_trend(session, unit)
    sets = targets_service.target_sets(session, trend)
    return TargetsOut(
        section_code=unit.code, section_name=unit.name,
        latest_round_id=trend.rounds[-1].id if trend.rounds else None,
        can_set=permissions.why_not_set_targets(principal, unit.id) is None and bool(trend.rounds),
        sets=[TargetSetOut(
            base_round_id=s.base_round.id, base_round_title=s.base_round.title,
            result_round_id=s.result_round.id if s.result_round else None,
            result_round_title=s.result_round.title if s.result_round else None, met=s.met,
            targets=[TargetOut(
                item_key=r.item_key, text=r.text, category=r.category, target=r.target.value,
                base_status=r.base_status.value if r.base_status else None,
                result_status=r.result_status.value if r.result_status else None,
                result=r.result.value if r.result else None, result_label=r.result_label,
                set_by_section=r.set_by_unit, set_at=r.set_at,
            ) for r in s.rows],
        ) for s in sets],
    )


@router.get("/sections/{code}/targets", response_model=TargetsOut, responses={401: {}, 403: {}, 404: {}})
def get_targets(code: Code, session: DbSession, principal: CurrentPrincipal) -> TargetsOut:
    """The 所属's targets per base round, with target against result once the next round has answers."""
    unit = scope.resolve_section(session, principal, code)
    return _targets_out(session, principal, unit)


@router.put("/sections/{code}/targets", response_model=TargetsOut,
            responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}})
def put_targets(code: Code, body: TargetsIn, session: DbSession, principal: CurrentPrincipal) -> TargetsOut:
    """Replace the targets set from the 所属's latest round (the 所属's DX推進リーダー only; at most five
    items; ◎ ○ △, not below the current status)."""
    unit = scope.resolve_section(session, principal, code)
    trend = trend_service.section_trend(session, unit)
    wanted: dict[str, str] = {}
    for t in body.targets:
        wanted[t.item_key] = t.status
    targets_service.set_targets(session, principal, unit, trend, body.round_id, wanted)
    session.commit()
    return _targets_out(session, principal, unit)
