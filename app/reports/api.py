"""JSON for every desk figure, with the same access rules as the pages (same services), and the scores
of a round per 所属 or per 部局.

* ``submissions`` (and its ``mail-list``), ``heatmap``, ``distribution``: the desk and admins only (403
  otherwise).
* ``weak-items``: the desk for any scope; members and leaders for groups of at least 5 所属.
* ``quick-wins``: the desk for every 所属; members and leaders get their own 所属's rows only.
* ``scope`` (heatmap, weak-items, quick-wins, distribution): which sheets the figures count, ``submitted``
  (提出済の所属のみ), ``confirmed`` (確認済の所属のみ: submitted and every item 確認済 by the desk) or ``all``
  (すべての所属); absent: ``submitted`` while the round is open, ``all`` once it
  is closed. Each response says which (``counted_sheets``). Progress counts (submissions, distribution's
  not_started/in_progress/submitted) always count every 所属.
* ``scores``: everyone signed in; members and leaders see their own 所属, and 部局 figures only for groups
  of at least 5 所属.

Lists are paged (``page``, ``per_page``, and a ``page`` object in the response); the default pages keep
every response under 100 KB at prefecture scale (3,000 所属 × 40 items).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.auth.deps import CurrentPrincipal
from app.reports import service
from app.scoring.rules import Progress, Scope
from app.scoring.schemas import CategoryScore, Score
from app.statuses import Status
from app.web.deps import DbSession, csrf_protect
from app.web.params import BureauQ, PageQ, RoundId, ScopeQ
from app.web.schemas import (
    BureauRef,
    PageOut,
    RoundRef,
    SectionRef,
    bureau_ref,
    page_out,
    round_ref,
    section_ref,
)

router = APIRouter(prefix="/api/v1", tags=["desk"], dependencies=[Depends(csrf_protect)])

_ERRORS = {
    401: {"description": "Not signed in"},
    403: {"description": "Not allowed (only the desk and admins, or a group under 5 所属)"},
    404: {"description": "Unknown round or 部局"},
    422: {"description": "Invalid parameter"},
}

ProgressName = Literal["not_started", "in_progress", "submitted"]
ScopeName = Literal["submitted", "confirmed", "all"]


def _scope_field() -> object:
    return Field(description="which sheets the figures count: submitted (提出済の所属のみ), confirmed (確認済の所属のみ: "
                             "submitted and every item 確認済 by the desk) or all (すべての所属, 入力中・未着手 "
                             "included)", examples=["submitted"])


def _scope(value: str) -> Scope | None:
    return Scope(value) if value else None
SheetStateName = Literal["draft", "submitted"]
PendingFilter = Annotated[Literal["", "not_started", "in_progress"], Query(
    description="only 未着手 (not_started) or only 入力中 (in_progress); empty or absent: both")]


def _per_page(default: int, maximum: int) -> object:
    return Query(ge=1, le=maximum, description=f"rows per page (default {default}, at most {maximum})")


_EXAMPLE_ROUND = {"id": 2, "title": "令和8年度 第1回"}
_EXAMPLE_SECTION = {"code": "1001", "name": "総務課"}
_EXAMPLE_BUREAU = {"code": "10", "name": "経営管理部"}
_EXAMPLE_ITEM = {"item_key": "meeting.internal.no-paper-handouts", "position": 5, "category": "会議",
                 "scene": "庁内の会議", "text": "紙資料を配っていない", "difficulty": 1}


class ItemRefOut(BaseModel):
    """A checklist item, as the figures reference it."""

    item_key: str = Field(description="the item's key: stable across checklist versions",
                          examples=["meeting.internal.no-paper-handouts"])
    position: int = Field(description="place on the sheet (1 = first row)", examples=[5])
    category: str = Field(description="カテゴリ", examples=["会議"])
    scene: str = Field(description="シーン", examples=["庁内の会議"])
    text: str = Field(description="チェック項目", examples=["紙資料を配っていない"])
    difficulty: int = Field(description="難易度: 1 ☆ やりやすい, 2 ☆☆ ちょっと難しい, 3 ☆☆☆ 相手次第", examples=[1])


class ProgressOut(BaseModel):
    sections: int = Field(description="number of 所属 with a sheet in the round", examples=[60])
    not_started: int = Field(description="未着手: nothing answered", examples=[12])
    in_progress: int = Field(description="入力中: something answered, not submitted", examples=[20])
    submitted: int = Field(description="提出済", examples=[28])
    submitted_share: float = Field(description="submitted / sections × 100 (0–100, one decimal)", examples=[46.7])


class BureauProgressOut(ProgressOut):
    bureau: BureauRef = Field(description="the 部局")


class LeaderOut(BaseModel):
    name: str = Field(description="display name of the DX推進リーダー", examples=["富山 太郎"])
    upn: str = Field(description="their sign-in name (mail address)", examples=["taro.toyama@pref.example.jp"])


class PendingOut(BaseModel):
    section: SectionRef = Field(description="the 所属 not yet submitted")
    bureau: BureauRef = Field(description="its 部局")
    progress: Literal["not_started", "in_progress"] = Field(description="未着手 or 入力中")
    completion: float = Field(description="回答率 of its sheet (0–100)", examples=[50.0])
    entry_date: date | None = Field(description="記載日 of its sheet (ISO), null before the first answer")
    leaders: list[LeaderOut] = Field(description="its DX推進リーダー (empty: none registered)")


class SubmissionsOut(BaseModel):
    """The submission board (提出状況): progress overall and per 部局, and one page of the 所属 not yet
    submitted with their leaders. Their leaders' mail list is at ``…/submissions/mail-list``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND,
        "overall": {"sections": 60, "not_started": 12, "in_progress": 20, "submitted": 28, "submitted_share": 46.7},
        "bureaus": [{"bureau": _EXAMPLE_BUREAU, "sections": 6, "not_started": 1, "in_progress": 2, "submitted": 3,
                     "submitted_share": 50.0}],
        "pending": [{"section": _EXAMPLE_SECTION, "bureau": _EXAMPLE_BUREAU, "progress": "in_progress",
                     "completion": 50.0, "entry_date": "2026-11-29",
                     "leaders": [{"name": "富山 太郎", "upn": "taro.toyama@pref.example.jp"}]}],
        "page": {"page": 1, "per_page": 100, "pages": 1, "total": 32},
    }]})
    round: RoundRef = Field(description="the round")
    overall: ProgressOut = Field(description="the whole prefecture")
    bureaus: list[BureauProgressOut] = Field(description="every 部局 of the round, in organisation order")
    pending: list[PendingOut] = Field(description="not submitted (filtered by bureau and progress), one page")
    page: PageOut = Field(description="which page of `pending`")


class MailListOut(BaseModel):
    """The DX推進リーダー of every 所属 not yet submitted (all pages, same filters as the board), as one
    mail list to paste into Outlook."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND, "recipients": 2, "without_leader": 1,
        "mail_list": "taro.toyama@pref.example.jp; hanako.toyama@pref.example.jp"}]})
    round: RoundRef = Field(description="the round")
    recipients: int = Field(description="number of distinct leaders in `mail_list`", examples=[2])
    without_leader: int = Field(description="所属 of the list with no DX推進リーダー registered", examples=[1])
    mail_list: str = Field(description="their UPNs, separated by '; ' (Outlook's separator)",
                           examples=["taro.toyama@pref.example.jp; hanako.toyama@pref.example.jp"])


class HeatmapRowOut(BaseModel):
    section: SectionRef = Field(description="the 所属")
    bureau: BureauRef = Field(description="its 部局")
    maturity: float | None = Field(description="成熟度 of its sheet (0–100); null when nothing is answered ◎ ○ △ ×",
                                   examples=[55.6])
    completion: float = Field(description="回答率 of its sheet (0–100)", examples=[75.0])
    progress: ProgressName = Field(description="未着手 / 入力中 / 提出済")
    statuses: list[str | None] = Field(description="one per item, in the order of `items`: ◎ ○ △ × 該当なし, "
                                                   "or null = unanswered", examples=[["◎", "×", None]])


class HeatmapOut(BaseModel):
    """Each 所属's status per item, one page of 所属 at a time."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND, "counted_sheets": "submitted", "sort": "org", "items": [_EXAMPLE_ITEM],
        "rows": [{"section": _EXAMPLE_SECTION, "bureau": _EXAMPLE_BUREAU, "maturity": 66.7, "completion": 100.0,
                  "progress": "submitted", "statuses": ["○"]}],
        "page": {"page": 1, "per_page": 100, "pages": 1, "total": 1},
    }]})
    round: RoundRef = Field(description="the round")
    counted_sheets: ScopeName = _scope_field()
    sort: Literal["org", "asc", "desc", "all_asc", "all_desc"] = Field(
        description="org: organisation order; asc/desc: by maturity within each 部局; all_asc/all_desc: by "
                    "maturity across the prefecture")
    items: list[ItemRefOut] = Field(description="the round's checklist items, in sheet order")
    rows: list[HeatmapRowOut] = Field(description="one page of 所属")
    page: PageOut = Field(description="which page of `rows`")


class StatusCountsOut(BaseModel):
    excellent: int = Field(description="◎ (60%以上)", examples=[10])
    good: int = Field(description="○ (60～30%程度)", examples=[20])
    fair: int = Field(description="△ (30%以下)", examples=[15])
    not_done: int = Field(description="× (未対応)", examples=[8])
    not_applicable: int = Field(description="該当なし", examples=[2])
    unanswered: int = Field(description="未回答 (no answer yet)", examples=[5])


class StatusSharesOut(BaseModel):
    excellent: float = Field(description="◎, % of the 所属 in the scope", examples=[16.7])
    good: float = Field(description="○, %", examples=[33.3])
    fair: float = Field(description="△, %", examples=[25.0])
    not_done: float = Field(description="×, %", examples=[13.3])
    not_applicable: float = Field(description="該当なし, %", examples=[3.3])
    unanswered: float = Field(description="未回答, %", examples=[8.3])


class WeakItemOut(BaseModel):
    rank: int = Field(description="1 = the weakest", examples=[1])
    item: ItemRefOut = Field(description="the item")
    maturity: float | None = Field(description="the item's maturity over the 所属 that answered ◎ ○ △ ×",
                                   examples=[41.2])
    prefecture_maturity: float | None = Field(
        description="the same over the prefecture (with a 部局 scope; null for the prefecture itself)", examples=[48.0])
    suppressed: bool = Field(
        description="true when fewer than 5 所属 answered the item and the caller is not the desk: `maturity`, "
                    "`counts` and `shares` are then null, so that no 所属's answer can be singled out", examples=[False])
    counts: StatusCountsOut | None = Field(description="number of 所属 per status (null when suppressed)")
    shares: StatusSharesOut | None = Field(
        description="percentages (0–100) of all 所属 in the scope (null when suppressed)")


class WeakItemsOut(BaseModel):
    """Per item, how the 所属 of the prefecture or of one 部局 answered, weakest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND, "counted_sheets": "submitted", "bureau": None, "sections": 60,
        "items": [{"rank": 1, "item": _EXAMPLE_ITEM, "maturity": 41.2, "prefecture_maturity": None,
                   "suppressed": False,
                   "counts": {"excellent": 10, "good": 20, "fair": 15, "not_done": 8, "not_applicable": 2,
                              "unanswered": 5},
                   "shares": {"excellent": 16.7, "good": 33.3, "fair": 25.0, "not_done": 13.3, "not_applicable": 3.3,
                              "unanswered": 8.3}}],
    }]})
    round: RoundRef = Field(description="the round")
    counted_sheets: ScopeName = _scope_field()
    bureau: BureauRef | None = Field(description="the 部局 of the scope, or null for the whole prefecture")
    sections: int = Field(description="number of 所属 in the scope", examples=[60])
    items: list[WeakItemOut] = Field(description="every item, weakest first")


class QuickWinOut(BaseModel):
    rank: int = Field(description="place in the ranking over all pages (1 = visit first)", examples=[1])
    priority: int = Field(description="ease × gap (☆ at × = 9, ☆ at △ = 6)", examples=[9])
    section: SectionRef = Field(description="the 所属")
    bureau: BureauRef = Field(description="its 部局")
    item: ItemRefOut = Field(description="the ☆ item")
    status: Literal["△", "×"] = Field(description="the 所属's status of the item")
    section_quick_wins: int = Field(description="the 所属's quick wins in all (one visit, several items)",
                                    examples=[3])
    section_maturity: float | None = Field(description="成熟度 of the 所属's sheet", examples=[38.9])


class CounterpartBureauOut(BaseModel):
    bureau: BureauRef = Field(description="the 部局")
    count: int = Field(description="its 所属 at × on the item", examples=[7])
    names: list[SectionRef] = Field(
        description=f"the first {service.COUNTERPART_NAMES_SHOWN} of those 所属, in organisation order "
                    "(`count` tells how many there are in all)")


class CounterpartItemOut(BaseModel):
    item: ItemRefOut = Field(description="the ☆☆☆ (相手次第) item")
    not_done: int = Field(description="所属 at × on it", examples=[12])
    scored: int = Field(description="所属 that answered it ◎ ○ △ ×", examples=[50])
    share: float = Field(description="not_done / scored × 100", examples=[24.0])
    bureaus: list[CounterpartBureauOut] = Field(
        description=f"the {service.COUNTERPART_BUREAUS_SHOWN} 部局 with most 所属 at ×, most first")
    bureaus_not_listed: int = Field(description="further 部局 with 所属 at × (not in `bureaus`)", examples=[3])
    sections_not_listed: int = Field(description="their 所属 at ×", examples=[4])


class QuickWinsOut(BaseModel):
    """Quick wins (☆ items at △ or ×) by visit priority, one page at a time, and the ☆☆☆ items at ×."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND, "counted_sheets": "submitted", "own_sections_only": False,
        "quick_wins": [{"rank": 1, "priority": 9, "section": _EXAMPLE_SECTION, "bureau": _EXAMPLE_BUREAU,
                        "item": _EXAMPLE_ITEM, "status": "×", "section_quick_wins": 3, "section_maturity": 38.9}],
        "page": {"page": 1, "per_page": 50, "pages": 1, "total": 1},
        "counterpart_items": [{
            "item": {**_EXAMPLE_ITEM, "item_key": "meeting.external.advance-or-tablet", "position": 6,
                     "scene": "庁外との会議", "text": "事前送付またはタブレットで資料を共有している", "difficulty": 3},
            "not_done": 12, "scored": 50, "share": 24.0,
            "bureaus": [{"bureau": _EXAMPLE_BUREAU, "count": 7, "names": [_EXAMPLE_SECTION]}],
            "bureaus_not_listed": 3, "sections_not_listed": 5}],
    }]})
    round: RoundRef = Field(description="the round")
    counted_sheets: ScopeName = Field(description="which sheets the figures count: submitted, confirmed or all (members and "
                                                 "leaders: all, their own 所属's sheets whatever their state)",
                                      examples=["submitted"])
    own_sections_only: bool = Field(description="true for members and leaders: only their own 所属's rows")
    quick_wins: list[QuickWinOut] = Field(description="one page of 所属 × item, highest priority first")
    page: PageOut = Field(description="which page of `quick_wins`")
    counterpart_items: list[CounterpartItemOut] = Field(description="☆☆☆ items at ×, most 所属 at × first")


class BinOut(BaseModel):
    lower: int = Field(description="lowest maturity of the bin", examples=[40])
    upper: int = Field(description="exclusive, except 100 in the last bin", examples=[50])
    sections: int = Field(description="number of 所属 whose maturity falls in the bin", examples=[12])


class RollupOut(BaseModel):
    bureau: BureauRef | None = Field(description="the 部局, or null for the prefecture")
    sections: int = Field(description="number of 所属 with a sheet counted (`counted_sheets`)", examples=[6])
    scored: int = Field(description="of them, with a maturity (something answered ◎ ○ △ ×)", examples=[5])
    mean: float | None = Field(description="mean maturity of those 所属", examples=[52.3])
    median: float | None = Field(description="median maturity", examples=[50.0])
    minimum: float | None = Field(description="lowest maturity", examples=[20.0])
    q1: float | None = Field(description="lower quartile (QUARTILE.INC)", examples=[38.9])
    q3: float | None = Field(description="upper quartile (QUARTILE.INC)", examples=[66.7])
    maximum: float | None = Field(description="highest maturity", examples=[88.9])
    completion: float = Field(description="回答率 pooled over every item of the sheets counted (0–100)",
                              examples=[80.0])
    not_started: int = Field(description="所属 未着手 (every 所属, whatever `counted_sheets`)", examples=[1])
    in_progress: int = Field(description="所属 入力中", examples=[2])
    submitted: int = Field(description="所属 提出済", examples=[3])


class DistributionOut(BaseModel):
    """The histogram of 所属 maturity and every 部局's rollup."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND, "counted_sheets": "submitted",
        "bins": [{"lower": 40, "upper": 50, "sections": 12}],
        "prefecture": {"bureau": None, "sections": 60, "scored": 55, "mean": 52.3, "median": 50.0, "minimum": 0.0,
                       "q1": 38.9, "q3": 66.7, "maximum": 100.0, "completion": 80.0, "not_started": 12,
                       "in_progress": 20, "submitted": 28},
        "bureaus": [{"bureau": _EXAMPLE_BUREAU, "sections": 6, "scored": 5, "mean": 52.3, "median": 50.0,
                     "minimum": 20.0, "q1": 38.9, "q3": 66.7, "maximum": 88.9, "completion": 80.0,
                     "not_started": 1, "in_progress": 2, "submitted": 3}],
    }]})
    round: RoundRef = Field(description="the round")
    counted_sheets: ScopeName = _scope_field()
    bins: list[BinOut] = Field(description="ten bins of 10 points, 0–10 first")
    prefecture: RollupOut = Field(description="the whole prefecture")
    bureaus: list[RollupOut] = Field(description="every 部局 of the round, in organisation order")


def _item(item) -> ItemRefOut:
    return ItemRefOut(item_key=item.key, position=item.position, category=item.category, scene=item.scene,
                      text=item.text, difficulty=item.difficulty)


def _progress(c: service.ProgressCounts) -> dict:
    return {"sections": c.total, "not_started": c.not_started, "in_progress": c.in_progress,
            "submitted": c.submitted, "submitted_share": c.submitted_share}


@router.get("/rounds/{round_id}/submissions", response_model=SubmissionsOut, responses=_ERRORS)
def submissions(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauQ = None,
                progress: PendingFilter = "", page: PageQ = 1,
                per_page: Annotated[int, _per_page(100, 1000)] = 100) -> SubmissionsOut:
    """未着手 / 入力中 / 提出済 overall and per 部局, and one page of the 所属 not yet submitted with their
    DX推進リーダー (names and UPNs). Their mail list: ``…/submissions/mail-list``. Desk and admins only."""
    view = service.board(session, principal, round_id, bureau_code=bureau or None,
                         progress=Progress(progress) if progress else None, page=page, per_page=per_page)
    return SubmissionsOut(
        round=round_ref(view.ctx.round),
        overall=ProgressOut(**_progress(view.counts)),
        bureaus=[BureauProgressOut(bureau=bureau_ref(b.bureau), **_progress(b.counts)) for b in view.by_bureau],
        pending=[PendingOut(section=section_ref(p.section), bureau=bureau_ref(p.bureau),
                            progress=p.section.progress.value, completion=p.section.tally.completion,
                            entry_date=p.section.entry_on,
                            leaders=[LeaderOut(name=x.name, upn=x.upn) for x in p.leaders])
                 for p in view.pending],
        page=page_out(view.pager),
    )


@router.get("/rounds/{round_id}/submissions/mail-list", response_model=MailListOut, responses=_ERRORS)
def submissions_mail_list(round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
                          bureau: BureauQ = None, progress: PendingFilter = "") -> MailListOut:
    """The UPNs of the DX推進リーダー of every 所属 not yet submitted (all of them, not one page), with the
    filters of ``…/submissions``: paste ``mail_list`` into Outlook's recipients. Desk and admins only."""
    view = service.mail_list(session, principal, round_id, bureau_code=bureau or None,
                             progress=Progress(progress) if progress else None)
    return MailListOut(round=round_ref(view.ctx.round), recipients=view.recipients,
                       without_leader=view.without_leader, mail_list=view.mail_list)


_HEATMAP_ROWS = TypeAdapter(list[HeatmapRowOut])


@router.get("/rounds/{round_id}/heatmap", response_model=HeatmapOut, responses=_ERRORS)
def heatmap(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauQ = None,
            sort: Annotated[Literal["org", "asc", "desc", "all_asc", "all_desc"], Query(
                description="org: organisation order; asc/desc: by maturity within each 部局; all_asc/all_desc: "
                            "across the prefecture")] = "org",
            page: PageQ = 1, per_page: Annotated[int, _per_page(100, 500)] = 100, scope: ScopeQ = "") -> HeatmapOut:
    """Each 所属's status per item (rows grouped by 部局 unless sorted across the prefecture), one page at a
    time; only submitted sheets with ``scope=submitted`` (the default while the round is open), only sheets the
    desk confirmed with ``scope=confirmed``. Desk and
    admins only."""
    view = service.heatmap(session, principal, round_id, bureau_code=bureau or None, sort=sort, page=page,
                           per_page=per_page, scope=_scope(scope))
    return HeatmapOut(
        round=round_ref(view.ctx.round),
        counted_sheets=view.ctx.scope.value,
        sort=view.sort,
        items=[_item(i) for i in view.items],
        # Validated as one list of plain dicts (in pydantic-core) rather than 300 models built one by one.
        rows=_HEATMAP_ROWS.validate_python([
            {"section": {"code": r.section.code, "name": r.section.name},
             "bureau": {"code": r.bureau.code, "name": r.bureau.name}, "maturity": r.section.maturity,
             "completion": r.section.tally.completion, "progress": r.section.progress.value, "statuses": r.statuses}
            for r in view.rows]),
        page=page_out(view.pager),
    )


_COUNT_FIELDS = {"excellent": Status.EXCELLENT, "good": Status.GOOD, "fair": Status.FAIR,
                 "not_done": Status.NOT_DONE, "not_applicable": Status.NOT_APPLICABLE,
                 "unanswered": None}


@router.get("/rounds/{round_id}/weak-items", response_model=WeakItemsOut, responses=_ERRORS)
def weak_items(round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
               bureau: BureauQ = None, scope: ScopeQ = "") -> WeakItemsOut:
    """Per item, how many 所属 answered ◎ ○ △ × 該当なし or nothing, and the shares, weakest first
    (lowest item maturity; see docs/scoring-additions.md). The prefecture, or one 部局 with
    ``bureau``. Members and leaders: only items that 5 所属 or more answered (the others come last,
    ``suppressed``). ``scope``: over submitted sheets only (the default while the round is open), confirmed sheets only, or all."""
    view = service.weak_items(session, principal, round_id, bureau_code=bureau or None, charts=False,
                              scope=_scope(scope))
    return WeakItemsOut(
        round=round_ref(view.ctx.round),
        counted_sheets=view.ctx.scope.value,
        bureau=bureau_ref(view.ctx.bureau) if view.ctx.bureau else None,
        sections=view.sections,
        items=[WeakItemOut(
            rank=w.rank, item=_item(w.item), maturity=w.maturity, prefecture_maturity=w.prefecture_maturity,
            suppressed=w.suppressed,
            counts=None if w.suppressed else StatusCountsOut(**{k: w.counts.count(s) for k, s in _COUNT_FIELDS.items()}),
            shares=None if w.suppressed else StatusSharesOut(**{k: w.share(s) for k, s in _COUNT_FIELDS.items()}),
        ) for w in view.items],
    )


@router.get("/rounds/{round_id}/quick-wins", response_model=QuickWinsOut, responses=_ERRORS)
def quick_wins(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauQ = None,
               page: PageQ = 1, per_page: Annotated[int, _per_page(50, 1000)] = 50,
               scope: ScopeQ = "") -> QuickWinsOut:
    """所属 × ☆ item at △ or ×, by priority (ease × gap, see docs/scoring-additions.md), and the
    ☆☆☆ items at × grouped by item, over the sheets of ``scope``. Members and leaders get their own 所属
    only (whatever ``scope``)."""
    view = service.quick_wins(session, principal, round_id, bureau_code=bureau or None, page=page,
                              per_page=per_page, scope=_scope(scope))
    # Validated as lists of plain dicts (in pydantic-core) rather than a few hundred models built one by one.
    return QuickWinsOut(
        round=round_ref(view.ctx.round),
        counted_sheets=view.ctx.scope.value,
        own_sections_only=view.own_only,
        quick_wins=_QUICK_WINS.validate_python([
            {"rank": q.rank, "priority": q.priority, "section": _ref(q.sheet.section), "bureau": _ref(q.bureau),
             "item": _item_dict(q.item), "status": q.status, "section_quick_wins": q.section_quick_wins,
             "section_maturity": q.section_maturity}
            for q in view.rows]),
        page=page_out(view.pager),
        counterpart_items=_COUNTERPART_ITEMS.validate_python([
            {"item": _item_dict(c.item), "not_done": c.not_done, "scored": c.counts.scored, "share": c.share,
             "bureaus": [{"bureau": _ref(b.bureau), "count": b.count,
                          "names": [{"code": code, "name": name} for code, name in b.names]} for b in c.shown],
             "bureaus_not_listed": c.hidden_bureaus, "sections_not_listed": c.hidden_sections}
            for c in view.counterpart]),
    )


_QUICK_WINS = TypeAdapter(list[QuickWinOut])
_COUNTERPART_ITEMS = TypeAdapter(list[CounterpartItemOut])


def _ref(unit) -> dict:
    """A 所属's or 部局's ``{code, name}`` (SectionRef, BureauRef) as a plain dict."""
    return {"code": unit.code, "name": unit.name}


def _item_dict(item) -> dict:
    return {"item_key": item.key, "position": item.position, "category": item.category, "scene": item.scene,
            "text": item.text, "difficulty": item.difficulty}


def _rollup(r: service.Rollup) -> dict:
    """A rollup as the plain dict of a ``RollupOut`` (validated in one list with the others)."""
    five = r.five
    return {
        "bureau": {"code": r.bureau.code, "name": r.bureau.name} if r.bureau else None, "sections": r.sections,
        "scored": r.scored, "mean": r.mean, "median": r.median, "minimum": five.minimum if five else None,
        "q1": five.q1 if five else None, "q3": five.q3 if five else None, "maximum": five.maximum if five else None,
        "completion": r.completion, "not_started": r.progress.not_started, "in_progress": r.progress.in_progress,
        "submitted": r.progress.submitted,
    }


_ROLLUPS = TypeAdapter(list[RollupOut])


@router.get("/rounds/{round_id}/distribution", response_model=DistributionOut, responses=_ERRORS)
def distribution(round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
                 scope: ScopeQ = "") -> DistributionOut:
    """The histogram of 所属 maturity (10-point bins) and every 部局's rollup (mean, median,
    quartiles, completion over the sheets of ``scope``; progress counts over every 所属). Desk and admins
    only."""
    view = service.distribution(session, principal, round_id, charts=False, scope=_scope(scope))
    # The prefecture and every 部局 (a hundred and more) validated as one list of plain dicts.
    prefecture, *bureaus = _ROLLUPS.validate_python([_rollup(view.prefecture), *map(_rollup, view.bureaus)])
    return DistributionOut(
        round=round_ref(view.ctx.round),
        counted_sheets=view.ctx.scope.value,
        bins=[BinOut(lower=b.lower, upper=b.upper, sections=b.count) for b in view.bins],
        prefecture=prefecture,
        bureaus=bureaus,
    )


# --- scores per 所属 or per 部局 -------------------------------------------------------------------------


class SectionScoreOut(Score):
    section: SectionRef = Field(description="the 所属")
    bureau: BureauRef = Field(description="its 部局 in the round")
    state: SheetStateName = Field(description="its sheet: draft (入力中, not submitted) or submitted (提出済)")
    categories: list[CategoryScore] = Field(description="per category, in sheet order")


class CategoryMeanOut(BaseModel):
    name: str = Field(description="カテゴリ", examples=["会議"])
    mean: float | None = Field(description="mean of the 所属's maturity in the category", examples=[61.1])


class BureauScoreOut(BaseModel):
    bureau: BureauRef = Field(description="the 部局")
    sections: int = Field(description="number of its 所属 with a sheet in the round", examples=[6])
    suppressed: bool = Field(description="true when fewer than 5 of its 所属 answered (and the caller is not the desk): "
                                         "mean, median, completion and categories are then null / empty")
    mean: float | None = Field(description="mean maturity of its 所属 (those with any answer)", examples=[52.3])
    median: float | None = Field(description="median maturity of its 所属", examples=[50.0])
    completion: float | None = Field(description="pooled completion of its 所属; null when suppressed",
                                     examples=[80.0])
    categories: list[CategoryMeanOut] = Field(description="per category: the mean of its 所属 (empty when suppressed)")


_EXAMPLE_SCORE = {"maturity": 55.6, "completion": 100.0, "total": 6, "answered": 6, "not_applicable": 0,
                  "unanswered": 0}


class SectionScoresOut(BaseModel):
    """``by=section``: one page of 所属 with their scores."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND, "by": "section",
        "rows": [{"section": _EXAMPLE_SECTION, "bureau": _EXAMPLE_BUREAU, "state": "submitted", **_EXAMPLE_SCORE,
                  "categories": [{"name": "会議", **_EXAMPLE_SCORE, "total": 2, "answered": 2}]}],
        "page": {"page": 1, "per_page": 50, "pages": 1, "total": 1},
    }]})
    round: RoundRef = Field(description="the round")
    by: Literal["section"] = Field(description="what each row is: a 所属")
    rows: list[SectionScoreOut] = Field(description="one page of 所属, in organisation order")
    page: PageOut = Field(description="which page of `rows`")


class BureauScoresOut(BaseModel):
    """``by=bureau``: one page of 部局 with their figures."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "round": _EXAMPLE_ROUND, "by": "bureau",
        "rows": [{"bureau": _EXAMPLE_BUREAU, "sections": 6, "suppressed": False, "mean": 52.3, "median": 50.0,
                  "completion": 80.0, "categories": [{"name": "会議", "mean": 61.1}]}],
        "page": {"page": 1, "per_page": 50, "pages": 1, "total": 1},
    }]})
    round: RoundRef = Field(description="the round")
    by: Literal["bureau"] = Field(description="what each row is: a 部局")
    rows: list[BureauScoreOut] = Field(description="one page of 部局 (those with 所属 in the round), in "
                                                   "organisation order")
    page: PageOut = Field(description="which page of `rows`")


@router.get("/rounds/{round_id}/scores", response_model=SectionScoresOut | BureauScoresOut,
            responses={401: {}, 403: {}, 404: {}})
def scores(round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
           by: Annotated[Literal["section", "bureau"], Query(description="rows per 所属 or per 部局")] = "section",
           page: PageQ = 1, per_page: Annotated[int, _per_page(50, 1000)] = 50,
           ) -> SectionScoresOut | BureauScoresOut:
    """Maturity, completion and category scores per 所属 (``by=section``) or per 部局 (``by=bureau``),
    one page at a time (50 rows by default: a 所属's row with its categories is about 1.4 KB).

    The desk and admins see every 所属; members and leaders see their own 所属, and 部局 figures
    only for groups of at least five 所属.
    """
    view = service.scores(session, principal, round_id, by=by, page=page, per_page=per_page)
    if by == "bureau":
        return BureauScoresOut(round=round_ref(view.round), by="bureau", page=page_out(view.pager), rows=[
            BureauScoreOut(
                bureau=bureau_ref(b.bureau), sections=b.figure.sections, suppressed=b.figure.suppressed,
                mean=b.figure.mean, median=b.figure.median, completion=b.figure.completion,
                categories=[CategoryMeanOut(name=name, mean=g.mean) for name, g in b.categories.items()])
            for b in view.bureaus])
    return SectionScoresOut(round=round_ref(view.round), by="section", page=page_out(view.pager), rows=[
        SectionScoreOut(
            section=section_ref(s.section), bureau=bureau_ref(s.bureau), state=s.score.state,
            **Score.of(s.score.overall).model_dump(),
            categories=[CategoryScore(name=n, **Score.of(t).model_dump()) for n, t in s.score.categories.items()],
        )
        for s in view.sections
    ])
