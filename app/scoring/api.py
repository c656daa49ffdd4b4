"""JSON API: scores per 所属 or per 部局 for a round."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.auth import permissions
from app.auth.deps import CurrentPrincipal
from app.auth.permissions import Principal
from app.rounds import service as rounds
from app.scoring import queries
from app.scoring.rules import MIN_GROUP_SIZE
from app.scoring.schemas import CategoryScore, Score
from app.web.deps import DbSession
from app.web.params import RoundId

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
    rounds.get_round(session, round_id)
    if by == "bureau":
        return [_bureau_out(g, principal) for g in queries.bureau_scores(session, round_id)]
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


def _bureau_out(group: queries.GroupScore, principal: Principal) -> BureauScoreOut:
    # Every group figure is withheld under MIN_GROUP_SIZE 所属 (completion too: in a 部局 of two 所属,
    # the 部局's completion and one's own give away the other's).
    hide = permissions.why_not_see_group(principal, group.sections, MIN_GROUP_SIZE) is not None
    return BureauScoreOut(
        code=group.code, name=group.name, sections=group.sections, suppressed=hide,
        maturity=None if hide else group.maturity, median=None if hide else group.median,
        completion=None if hide else group.completion, categories={} if hide else group.categories,
    )
