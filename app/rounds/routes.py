"""Round overview page: every 所属's progress and score (desk and admins)."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from app.auth import permissions
from app.auth.deps import CurrentPrincipal
from app.errors import Forbidden
from app.rounds import service
from app.scoring import queries as scoring
from app.scoring.rules import PROGRESS_LABELS, progress
from app.web.deps import DbSession
from app.web.params import RoundId
from app.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/rounds/{round_id}")
def round_page(request: Request, round_id: RoundId, session: DbSession, principal: CurrentPrincipal):
    round_ = service.get_round(session, round_id)
    refusal = permissions.why_not_see_all_sections(principal)
    if refusal:
        if principal.sections:
            return RedirectResponse("/", status_code=303)
        raise Forbidden(refusal)
    sheets = scoring.sheet_scores(session, round_id)
    bureaus = scoring.bureau_scores(session, round_id)
    states = {s.sheet_id: progress(s.state == "submitted", s.overall) for s in sheets}
    counts = Counter(states.values())
    return render(request, "rounds/round.html", {
        "round": round_, "rounds": service.list_rounds(session), "bureaus": bureaus, "sheets": sheets,
        "states": states, "counts": counts, "PROGRESS_LABELS": PROGRESS_LABELS,
    })
