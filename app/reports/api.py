"""JSON for every desk figure, with the same access rules as the pages (same services), and the scores
of a round per 所属 or per 部局.

* ``submissions``, ``heatmap``, ``distribution``: the desk and admins only (403 otherwise).
* ``weak-items``: the desk for any scope; members and leaders for groups of at least 5 所属.
* ``quick-wins``: the desk for every 所属; members and leaders get their own 所属's rows only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from app.auth.deps import CurrentPrincipal
from app.reports import service
from app.reports.queries import BureauRef
from app.scoring.rules import Progress
from app.scoring.schemas import CategoryScore, Score
from app.sheets.figures import SheetTotal
from app.statuses import Status
from app.web.deps import DbSession, csrf_protect
from app.web.params import BureauQ, PageQ, RoundId

router = APIRouter(prefix="/api/v1", tags=["desk"], dependencies=[Depends(csrf_protect)])

_ERRORS = {
    401: {"description": "Not signed in"},
    403: {"description": "Not allowed (only the desk and admins, or a group under 5 所属)"},
    404: {"description": "Unknown round or 部局"},
    422: {"description": "Invalid parameter"},
}


class UnitOut(BaseModel):
    code: str
    name: str


class ItemRefOut(BaseModel):
    key: str
    position: int
    category: str
    scene: str
    text: str
    difficulty: int = Field(description="1 ☆ やりやすい, 2 ☆☆ ちょっと難しい, 3 ☆☆☆ 相手次第")


class PageOut(BaseModel):
    page: int
    per_page: int
    pages: int
    total: int


class ProgressOut(BaseModel):
    sections: int
    not_started: int = Field(description="未着手: nothing answered")
    in_progress: int = Field(description="入力中: something answered, not submitted")
    submitted: int = Field(description="提出済")
    submitted_share: float = Field(description="submitted / sections × 100")


class BureauProgressOut(ProgressOut):
    bureau: UnitOut


class LeaderOut(BaseModel):
    name: str
    upn: str


class PendingOut(BaseModel):
    section: UnitOut
    bureau: UnitOut
    progress: Literal["not_started", "in_progress"]
    completion: float
    entry_date: date | None
    leaders: list[LeaderOut]


class SubmissionsOut(BaseModel):
    round_id: int
    overall: ProgressOut
    bureaus: list[BureauProgressOut]
    pending: list[PendingOut] = Field(description="not submitted (filtered by bureau and progress), one page")
    page: PageOut
    mail_list: str = Field(
        description="UPNs of the leaders of every pending 所属 (all pages), separated by '; '")


class HeatmapRowOut(BaseModel):
    section: UnitOut
    bureau: UnitOut
    maturity: float | None
    completion: float
    progress: str
    statuses: list[str | None] = Field(description="one per item, in the order of `items`; null = unanswered")


class HeatmapOut(BaseModel):
    round_id: int
    sort: str
    items: list[ItemRefOut]
    rows: list[HeatmapRowOut]
    page: PageOut


class StatusCountsOut(BaseModel):
    excellent: int = Field(description="◎")
    good: int = Field(description="○")
    fair: int = Field(description="△")
    not_done: int = Field(description="×")
    not_applicable: int = Field(description="該当なし")
    unanswered: int


class StatusSharesOut(BaseModel):
    excellent: float
    good: float
    fair: float
    not_done: float
    not_applicable: float
    unanswered: float


class WeakItemOut(BaseModel):
    rank: int
    item: ItemRefOut
    maturity: float | None = Field(description="the item's maturity over the 所属 that answered ◎ ○ △ ×")
    prefecture_maturity: float | None = Field(description="the same over the prefecture (with a 部局 scope)")
    counts: StatusCountsOut
    shares: StatusSharesOut = Field(description="percentages (0–100) of all 所属 in the scope")


class WeakItemsOut(BaseModel):
    round_id: int
    scope: UnitOut | None = Field(description="the 部局, or null for the whole prefecture")
    sections: int
    items: list[WeakItemOut] = Field(description="weakest first")


class QuickWinOut(BaseModel):
    rank: int
    priority: int = Field(description="ease × gap (☆ at × = 9, ☆ at △ = 6)")
    section: UnitOut
    bureau: UnitOut
    item: ItemRefOut
    status: str
    section_quick_wins: int
    section_maturity: float | None


class CounterpartBureauOut(BaseModel):
    bureau: UnitOut
    sections: list[UnitOut]


class CounterpartItemOut(BaseModel):
    item: ItemRefOut
    not_done: int
    scored: int
    share: float = Field(description="× / 所属 that answered ◎ ○ △ × × 100")
    bureaus: list[CounterpartBureauOut]


class QuickWinsOut(BaseModel):
    round_id: int
    own_sections_only: bool
    quick_wins: list[QuickWinOut]
    page: PageOut
    counterpart_items: list[CounterpartItemOut] = Field(description="☆☆☆ items at ×, most first")


class BinOut(BaseModel):
    lower: int
    upper: int = Field(description="exclusive, except 100 in the last bin")
    sections: int


class RollupOut(BaseModel):
    bureau: UnitOut | None = Field(description="null for the prefecture")
    sections: int
    scored: int
    mean: float | None
    median: float | None
    minimum: float | None
    q1: float | None
    q3: float | None
    maximum: float | None
    completion: float
    not_started: int
    in_progress: int
    submitted: int


class DistributionOut(BaseModel):
    round_id: int
    bins: list[BinOut]
    prefecture: RollupOut
    bureaus: list[RollupOut]


def _unit(ref: BureauRef | SheetTotal) -> UnitOut:
    return UnitOut(code=ref.code, name=ref.name)


def _item(item) -> ItemRefOut:
    return ItemRefOut(key=item.key, position=item.position, category=item.category, scene=item.scene,
                      text=item.text, difficulty=item.difficulty)


def _page(p: service.Pager) -> PageOut:
    return PageOut(page=p.page, per_page=p.per_page, pages=p.pages, total=p.total)


def _progress(c: service.ProgressCounts) -> dict:
    return {"sections": c.total, "not_started": c.not_started, "in_progress": c.in_progress,
            "submitted": c.submitted, "submitted_share": c.submitted_share}


@router.get("/rounds/{round_id}/submissions", response_model=SubmissionsOut, responses=_ERRORS)
def submissions(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauQ = None,
                progress: Literal["", "not_started", "in_progress"] = "", page: PageQ = 1,
                per_page: Annotated[int, Query(ge=1, le=1000)] = 1000) -> SubmissionsOut:
    """未着手 / 入力中 / 提出済 overall and per 部局, and the 所属 not yet submitted with their
    DX推進リーダー (names and UPNs, and a mail list). Desk and admins only."""
    view = service.board(session, principal, round_id, bureau_code=bureau or None,
                         progress=Progress(progress) if progress else None, page=page, per_page=per_page)
    return SubmissionsOut(
        round_id=view.ctx.round.id,
        overall=ProgressOut(**_progress(view.counts)),
        bureaus=[BureauProgressOut(bureau=_unit(b.bureau), **_progress(b.counts)) for b in view.by_bureau],
        pending=[PendingOut(section=_unit(p.section), bureau=_unit(p.bureau),
                            progress=p.section.progress.value, completion=p.section.tally.completion,
                            entry_date=p.section.entry_on,
                            leaders=[LeaderOut(name=x.name, upn=x.upn) for x in p.leaders])
                 for p in view.pending],
        page=_page(view.pager),
        mail_list=view.mail_list,
    )


@router.get("/rounds/{round_id}/heatmap", response_model=HeatmapOut, responses=_ERRORS)
def heatmap(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauQ = None,
            sort: Literal["org", "asc", "desc", "all_asc", "all_desc"] = "org", page: PageQ = 1,
            per_page: Annotated[int, Query(ge=1, le=500)] = 100) -> HeatmapOut:
    """Each 所属's status per item (rows grouped by 部局 unless sorted across the prefecture),
    one page at a time. Desk and admins only."""
    view = service.heatmap(session, principal, round_id, bureau_code=bureau or None, sort=sort, page=page,
                           per_page=per_page)
    return HeatmapOut(
        round_id=view.ctx.round.id,
        sort=view.sort,
        items=[_item(i) for i in view.items],
        rows=[HeatmapRowOut(section=_unit(r.section), bureau=_unit(r.bureau), maturity=r.section.maturity,
                            completion=r.section.tally.completion, progress=r.section.progress.value,
                            statuses=r.statuses) for r in view.rows],
        page=_page(view.pager),
    )


_COUNT_FIELDS = {"excellent": Status.EXCELLENT, "good": Status.GOOD, "fair": Status.FAIR,
                 "not_done": Status.NOT_DONE, "not_applicable": Status.NOT_APPLICABLE,
                 "unanswered": None}


@router.get("/rounds/{round_id}/weak-items", response_model=WeakItemsOut, responses=_ERRORS)
def weak_items(round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
               bureau: BureauQ = None) -> WeakItemsOut:
    """Per item, how many 所属 answered ◎ ○ △ × 該当なし or nothing, and the shares, weakest first
    (lowest item maturity; see docs/scoring-additions.md). The prefecture, or one 部局 with
    ``bureau``. Members and leaders: groups of 5 所属 or more only."""
    view = service.weak_items(session, principal, round_id, bureau_code=bureau or None, charts=False)
    return WeakItemsOut(
        round_id=view.ctx.round.id,
        scope=_unit(view.ctx.bureau) if view.ctx.bureau else None,
        sections=view.sections,
        items=[WeakItemOut(
            rank=w.rank, item=_item(w.item), maturity=w.maturity, prefecture_maturity=w.prefecture_maturity,
            counts=StatusCountsOut(**{k: w.counts.count(s) for k, s in _COUNT_FIELDS.items()}),
            shares=StatusSharesOut(**{k: w.share(s) for k, s in _COUNT_FIELDS.items()}),
        ) for w in view.items],
    )


@router.get("/rounds/{round_id}/quick-wins", response_model=QuickWinsOut, responses=_ERRORS)
def quick_wins(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauQ = None,
               page: PageQ = 1, per_page: Annotated[int, Query(ge=1, le=1000)] = 100) -> QuickWinsOut:
    """所属 × ☆ item at △ or ×, by priority (ease × gap, see docs/scoring-additions.md), and the
    ☆☆☆ items at × grouped by item. Members and leaders get their own 所属 only."""
    view = service.quick_wins(session, principal, round_id, bureau_code=bureau or None, page=page,
                              per_page=per_page)
    return QuickWinsOut(
        round_id=view.ctx.round.id,
        own_sections_only=view.own_only,
        quick_wins=[QuickWinOut(rank=q.rank, priority=q.priority, section=UnitOut(code=q.code, name=q.name),
                                bureau=_unit(q.bureau), item=_item(q.item), status=q.status,
                                section_quick_wins=q.section_quick_wins, section_maturity=q.section_maturity)
                    for q in view.rows],
        page=_page(view.pager),
        counterpart_items=[CounterpartItemOut(
            item=_item(c.item), not_done=c.not_done, scored=c.counts.scored, share=c.share,
            bureaus=[CounterpartBureauOut(bureau=_unit(b.bureau),
                                          sections=[UnitOut(code=code, name=name) for code, name in b.names])
                     for b in c.bureaus],
        ) for c in view.counterpart],
    )


def _rollup(r: service.Rollup) -> RollupOut:
    five = r.five
    return RollupOut(
        bureau=_unit(r.bureau) if r.bureau else None, sections=r.sections, scored=r.scored, mean=r.mean,
        median=r.median, minimum=five.minimum if five else None, q1=five.q1 if five else None,
        q3=five.q3 if five else None, maximum=five.maximum if five else None, completion=r.completion,
        not_started=r.progress.not_started, in_progress=r.progress.in_progress,
        submitted=r.progress.submitted,
    )


@router.get("/rounds/{round_id}/distribution", response_model=DistributionOut, responses=_ERRORS)
def distribution(round_id: RoundId, session: DbSession, principal: CurrentPrincipal) -> DistributionOut:
    """The histogram of 所属 maturity (10-point bins) and every 部局's rollup (mean, median,
    quartiles, completion, progress counts). Desk and admins only."""
    view = service.distribution(session, principal, round_id, charts=False)
    return DistributionOut(
        round_id=view.ctx.round.id,
        bins=[BinOut(lower=b.lower, upper=b.upper, sections=b.count) for b in view.bins],
        prefecture=_rollup(view.prefecture),
        bureaus=[_rollup(r) for r in view.bureaus],
    )


# --- scores per 所属 or per 部局 -------------------------------------------------------------------------


class SectionScoreOut(Score):
    code: str
    name: str
    bureau_code: str
    state: str
    categories: list[CategoryScore]


class BureauScoreOut(BaseModel):
    code: str
    name: str
    sections: int
    suppressed: bool = Field(description="true when the group is too small (under 5 所属) to show its figures: "
                                         "maturity, median, completion and categories are then null / empty")
    maturity: float | None = Field(description="mean maturity of its 所属 (those with any answer)")
    median: float | None
    completion: float | None = Field(description="pooled completion of its 所属; null when suppressed")
    categories: dict[str, float | None]


@router.get("/rounds/{round_id}/scores", responses={401: {}, 403: {}, 404: {}})
def scores(round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
           by: Annotated[Literal["section", "bureau"], Query()] = "section"
           ) -> list[SectionScoreOut] | list[BureauScoreOut]:
    """Maturity, completion and category scores per 所属 (``by=section``) or per 部局 (``by=bureau``).

    The desk and admins see every 所属; members and leaders see their own 所属, and 部局 averages
    only for groups of at least five 所属.
    """
    view = service.scores(session, principal, round_id)
    if by == "bureau":
        return [BureauScoreOut(
            code=b.bureau.code, name=b.bureau.name, sections=b.figure.sections, suppressed=b.figure.suppressed,
            maturity=b.figure.mean, median=b.figure.median, completion=b.figure.completion,
            categories={name: g.mean for name, g in b.categories.items()}) for b in view.bureaus]
    names = {b.bureau.id: b.bureau for b in view.bureaus}
    return [
        SectionScoreOut(
            code=s.code, name=s.name, bureau_code=names[s.score.bureau_id].code, state=s.score.state,
            **Score.of(s.score.overall).model_dump(),
            categories=[CategoryScore(name=n, **Score.of(t).model_dump()) for n, t in s.score.categories.items()],
        )
        for s in view.sections
    ]
