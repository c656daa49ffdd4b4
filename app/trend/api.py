"""JSON API: a 所属's trend over rounds, what changed per item since the previous round, and its targets
(目標: members, leaders of the 所属, the desk and admins read; only the 所属's leaders set them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.auth import permissions, scope
from app.auth.deps import CurrentPrincipal
from app.orgs.models import Unit
from app.scoring.rules import CHANGE_LABELS, PENDING_ITEM_LABEL, GroupFigure
from app.scoring.schemas import CategoryScore, Score
from app.sheets import figures
from app.sheets.figures import GroupKey
from app.sheets.models import PREFECTURE
from app.trend import service as trend_service
from app.trend import targets as targets_service
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code
from app.web.schemas import (
    BureauRef,
    PriorStatusOut,
    RoundRef,
    SectionRef,
    bureau_ref,
    round_ref,
    section_ref,
)

_STRICT = ConfigDict(extra="forbid")
ItemKey = Annotated[str, Field(min_length=1, max_length=100)]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)])  # one tag per operation, below


class TrendRound(Score):
    round: RoundRef = Field(description="the round")
    fiscal_year: int = Field(description="its fiscal year (年度)", examples=[2026])
    opens_on: date = Field(description="the day it opened")
    section: SectionRef = Field(description="the 所属 whose sheet this is: the 所属 itself, or a predecessor")
    relation: Literal["self", "continued", "merged", "split"] = Field(
        description="self | continued (renamed/moved) | merged (a predecessor) | split (the parent)")
    relation_label: str = Field(description="the relation in Japanese (empty for self)", examples=["統合前の所属"])
    state: Literal["draft", "submitted"] = Field(description="the sheet: draft (入力中) or submitted (提出済)")
    categories: list[CategoryScore] = Field(description="per category, in sheet order")
    bureau: BureauRef | None = Field(default=None, description="the 部局 of the 所属's sheet in that round")
    bureau_sections: int = Field(default=0, description="所属 of that 部局 with a sheet in the round", examples=[6])
    bureau_suppressed: bool = Field(default=True, description="true when fewer than 5 of its 所属 answered: no mean is shown")
    bureau_mean: float | None = Field(default=None, description="mean maturity of the 部局's 所属", examples=[52.3])
    prefecture_sections: int = Field(default=0, description="所属 with a sheet in the round", examples=[60])
    prefecture_suppressed: bool = Field(default=True, description="true when fewer than 5 所属 answered: no median is shown")
    prefecture_median: float | None = Field(default=None, description="median maturity of every 所属", examples=[50.0])


class ItemChangeOut(BaseModel):
    item_key: str = Field(description="the item's key: items are joined by key across checklist versions",
                          examples=["office.daily.keep-electronic"])
    text: str = Field(description="チェック項目 (in the later round's checklist when it has the item)")
    category: str = Field(description="カテゴリ")
    before: list[PriorStatusOut] = Field(description="the earlier round: several entries after a merge")
    after: str | None = Field(description="the status in the later round, null if unanswered", examples=["◎"])
    in_before: bool = Field(description="false when the item did not exist in the earlier round's checklist")
    in_after: bool = Field(description="false when the item does not exist in the later round's checklist")
    change: Literal["improved", "regressed", "unchanged", "not_comparable", "new_item", "removed_item"] | None = Field(
        description="null when there are several predecessors (compare `before` yourself)")
    change_label: str | None = Field(description="the change in Japanese", examples=["改善"])
    pending: bool = Field(default=False, description="true while the later round is open and the 所属's sheet not "
                                                     "submitted, for an item it has not answered yet: 集計中 (change "
                                                     "is then not_comparable)")


class TrendOut(BaseModel):
    """A 所属's maturity per round and, between its two latest rounds, each item's change."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "section": {"code": "1001", "name": "総務課"},
        "rounds": [{"round": {"id": 2, "title": "令和8年度 第1回"}, "fiscal_year": 2026, "opens_on": "2026-10-01",
                    "section": {"code": "1001", "name": "総務課"}, "relation": "self", "relation_label": "",
                    "state": "submitted", "maturity": 55.6, "completion": 100.0, "total": 6, "answered": 6,
                    "not_applicable": 0, "unanswered": 0, "categories": [],
                    "bureau": {"code": "10", "name": "経営管理部"}, "bureau_sections": 6, "bureau_suppressed": False,
                    "bureau_mean": 52.3, "prefecture_sections": 60, "prefecture_suppressed": False,
                    "prefecture_median": 50.0}],
        "compared": [1, 2],
        "changes": [{"item_key": "office.daily.keep-electronic", "text": "資料を電子で保管している", "category": "所属内",
                     "before": [{"section": {"code": "1001", "name": "総務課"}, "status": "△"}], "after": "◎",
                     "in_before": True, "in_after": True, "change": "improved", "change_label": "改善"}],
    }]})
    section: SectionRef = Field(description="the 所属 asked for")
    rounds: list[TrendRound] = Field(description="one entry per round and sheet (predecessors too), oldest first")
    compared: list[int] = Field(description="[earlier round id, later round id] of `changes`, or []")
    changes: list[ItemChangeOut] = Field(description="each item between the two latest rounds")


@router.get("/sections/{code}/trend", response_model=TrendOut, tags=["trends"], responses={401: {}, 403: {}, 404: {}})
def section_trend(code: Code, session: DbSession, principal: CurrentPrincipal) -> TrendOut:
    """A 所属's maturity per round (following renames, moves, merges and splits), beside its 部局's
    average and the prefecture median for that round (withheld for groups under 5 所属), and, between
    its two latest rounds, each item's change. Desk and admins: any 所属; members and leaders: their own."""
    unit = scope.resolve_section(session, principal, code)
    trend = trend_service.section_trend(session, unit)
    bureau_ids = {p.score.bureau_id for p in trend.points}
    groups = figures.groups(session, principal, [r.id for r in trend.rounds], bureau_ids=bureau_ids)
    bureaus = trend_service.units_by_id(session, bureau_ids)
    # Rounds and changes are validated as lists of plain dicts at once (in pydantic-core): building 20
    # rounds × 10 scores and 40 changes as models one by one cost most of this endpoint.
    rounds = _ROUNDS.validate_python([
        {"round": {"id": p.round.id, "title": p.round.title}, "fiscal_year": p.round.fiscal_year,
         "opens_on": p.round.opens_on, "section": {"code": p.unit.code, "name": p.unit.name},
         "relation": p.relation, "relation_label": p.relation_label, "state": p.score.state,
         **_score(p.score.overall),
         "categories": [{"name": n, **_score(t)} for n, t in p.score.categories.items()],
         **_groups(groups, p.round.id, bureaus.get(p.score.bureau_id), p.score.bureau_id)}
        for p in trend.points
    ])
    ordered = trend.rounds
    changes: list[ItemChangeOut] = []
    compared: list[int] = []
    if len(ordered) >= 2:
        compared = [ordered[-2].id, ordered[-1].id]
        items = trend_service.compare(session, trend, *compared)
        pending = trend_service.pending(trend, items, compared[1])
        changes = _CHANGES.validate_python([
            {"item_key": c.key, "text": c.text, "category": c.category,
             "before": [{"section": {"code": u.code, "name": u.name}, "status": st.value if st else None}
                        for u, st in c.before],
             "after": c.after.value if c.after else None, "in_before": c.in_before, "in_after": c.in_after,
             "change": c.change.value if c.change else None,
             "change_label": PENDING_ITEM_LABEL if c.key in pending else CHANGE_LABELS[c.change] if c.change else None,
             "pending": c.key in pending}
            for c in items])
    return TrendOut(section=section_ref(unit), rounds=rounds, compared=compared, changes=changes)


_ROUNDS = TypeAdapter(list[TrendRound])
_CHANGES = TypeAdapter(list[ItemChangeOut])


def _score(tally) -> dict:
    """The fields of ``Score.of(tally)``, as a dict."""
    return {"maturity": tally.maturity, "completion": tally.completion, "total": tally.total,
            "answered": tally.answered, "not_applicable": tally.not_applicable, "unanswered": tally.unanswered}


def _groups(groups: Mapping[GroupKey, GroupFigure], round_id: int, bureau: Unit | None, bureau_id: int) -> dict:
    figure = groups[GroupKey(round_id, bureau_id)]
    prefecture = groups[GroupKey(round_id, PREFECTURE)]
    return {
        "bureau": bureau_ref(bureau) if bureau else None,
        "bureau_sections": figure.sections,
        "bureau_suppressed": figure.suppressed,
        "bureau_mean": figure.mean,
        "prefecture_sections": prefecture.sections,
        "prefecture_suppressed": prefecture.suppressed,
        "prefecture_median": prefecture.median,
    }


# --- targets --------------------------------------------------------------------------------------------


class TargetIn(BaseModel):
    model_config = _STRICT
    item_key: ItemKey = Field(description="the item's key", examples=["office.daily.keep-electronic"])
    status: str = Field(max_length=8, description="◎ ○ △ (the status aimed for in the next round)", examples=["◎"])


class TargetsIn(BaseModel):
    model_config = _STRICT
    round_id: int = Field(ge=1, le=2**31 - 1, description="the 所属's latest round (`latest_round.id` of GET)",
                          examples=[2])
    targets: list[TargetIn] = Field(max_length=100, description="replaces the targets set from that round")


class TargetOut(BaseModel):
    item_key: str = Field(description="the item's key", examples=["office.daily.keep-electronic"])
    text: str = Field(description="チェック項目")
    category: str = Field(description="カテゴリ")
    target: str = Field(description="the status aimed for: ◎ ○ △", examples=["◎"])
    base_status: str | None = Field(description="the 所属's status when the target was set", examples=["△"])
    result_status: str | None = Field(description="status in the result round (null: unanswered or none yet)")
    result: Literal["met", "not_met", "pending", "not_comparable"] | None = Field(
        description="met | not_met | pending | not_comparable; null until the next round")
    result_label: str = Field(description="the result in Japanese", examples=["達成"])
    set_by_section: SectionRef = Field(description="the 所属 that set it (a predecessor after a reorganisation)")
    set_at: datetime = Field(description="when it was set (UTC)")


class TargetSetOut(BaseModel):
    base_round: RoundRef = Field(description="the round the targets were set from")
    result_round: RoundRef | None = Field(description="the next round, whose answers judge them; null until it exists")
    met: int = Field(description="targets met", examples=[2])
    targets: list[TargetOut] = Field(description="the targets, in the order they were set")


class TargetsOut(BaseModel):
    """A 所属's targets (目標) per base round."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "section": {"code": "1001", "name": "総務課"}, "latest_round": {"id": 2, "title": "令和8年度 第1回"},
        "can_set": True,
        "sets": [{"base_round": {"id": 1, "title": "令和7年度 第1回"},
                  "result_round": {"id": 2, "title": "令和8年度 第1回"}, "met": 1,
                  "targets": [{"item_key": "office.daily.keep-electronic", "text": "資料を電子で保管している",
                               "category": "所属内", "target": "◎", "base_status": "△", "result_status": "◎",
                               "result": "met", "result_label": "達成",
                               "set_by_section": {"code": "1001", "name": "総務課"},
                               "set_at": "2025-12-01T00:00:00Z"}]}],
    }]})
    section: SectionRef = Field(description="the 所属")
    latest_round: RoundRef | None = Field(description="the 所属's latest round: targets can be set from it only")
    can_set: bool = Field(description="whether the signed-in person may set targets now (the 所属's leader)")
    sets: list[TargetSetOut] = Field(description="newest base round first")


def _targets_out(session, principal, unit) -> TargetsOut:
    trend = trend_service.section_trend(session, unit)
    sets = targets_service.target_sets(session, trend)
    return TargetsOut(
        section=section_ref(unit),
        latest_round=round_ref(trend.rounds[-1]) if trend.rounds else None,
        can_set=permissions.why_not_set_targets(principal, unit.id) is None and bool(trend.rounds),
        sets=[TargetSetOut(
            base_round=round_ref(s.base_round),
            result_round=round_ref(s.result_round) if s.result_round else None, met=s.met,
            targets=[TargetOut(
                item_key=r.item_key, text=r.text, category=r.category, target=r.target.value,
                base_status=r.base_status.value if r.base_status else None,
                result_status=r.result_status.value if r.result_status else None,
                result=r.result.value if r.result else None, result_label=r.result_label,
                set_by_section=section_ref(r.set_by_unit), set_at=r.set_at,
            ) for r in s.rows],
        ) for s in sets],
    )


@router.get("/sections/{code}/targets", response_model=TargetsOut, tags=["targets"], responses={401: {}, 403: {}, 404: {}})
def get_targets(code: Code, session: DbSession, principal: CurrentPrincipal) -> TargetsOut:
    """The 所属's targets per base round, with target against result once the next round has answers."""
    unit = scope.resolve_section(session, principal, code)
    return _targets_out(session, principal, unit)


@router.put("/sections/{code}/targets", response_model=TargetsOut, tags=["targets"],
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
