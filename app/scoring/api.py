"""JSON API: scores per 所属 or per 部局 for a round."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.rounds import service as rounds
from app.scoring import queries
from app.scoring.rules import MIN_GROUP_SIZE
from app.sheets.api import CategoryScore, RoundId, Score
from app.web.deps import CurrentPrincipal, DbSession

router = APIRouter(prefix="/api/v1", tags=["scores"])


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
    suppressed: bool = Field(description="true when the group is too small (under 5 所属) to show its average")
    maturity: float | None = Field(description="mean maturity of its 所属 (those with any answer)")
    median: float | None
    completion: float
    categories: dict[str, float | None]


@router.get("/rounds/{round_id}/scores", responses={401: {}, 403: {}, 404: {}})
def scores(round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
           by: Annotated[Literal["section", "bureau"], Query()] = "section"
           ) -> list[SectionScoreOut] | list[BureauScoreOut]:
    """Maturity, completion and category scores per 所属 (``by=section``) or per 部局 (``by=bureau``).

    The desk and admins see every 所属; members and leaders see their own 所属, and 部局 averages
    only for groups of at least five 所属.
    """
    rounds.get_round(session, round_id)
    if by == "bureau":
        return [_bureau_out(g, principal.sees_everything) for g in queries.bureau_scores(session, round_id)]
    visible = None if principal.sees_everything else set(principal.sections)
    bureaus = queries.bureau_codes(session, round_id)
    return [
        SectionScoreOut(
            code=s.code, name=s.name, bureau_code=bureaus[s.bureau_id], state=s.state,
            **Score.of(s.overall).model_dump(),
            categories=[CategoryScore(name=n, **Score.of(t).model_dump()) for n, t in s.categories.items()],
        )
        for s in queries.sheet_scores(session, round_id)
        if visible is None or s.unit_id in visible
    ]


def _bureau_out(group: queries.GroupScore, full: bool) -> BureauScoreOut:
    hide = not full and group.sections < MIN_GROUP_SIZE
    return BureauScoreOut(
        code=group.code, name=group.name, sections=group.sections, suppressed=hide,
        maturity=None if hide else group.maturity, median=None if hide else group.median,
        completion=group.completion, categories={} if hide else group.categories,
    )
