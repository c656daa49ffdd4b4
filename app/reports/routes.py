"""The desk's pages (業務DX相談窓口): submission board, heatmap, weak items, quick wins, distribution.

Each page is a GET form (works without JavaScript); htmx swaps only the ``results`` block when a
filter changes or a page link is followed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse

from app.auth import permissions
from app.auth.deps import CurrentPrincipal
from app.errors import Forbidden
from app.reports import rows, service
from app.scoring.rules import PROGRESS_LABELS, SCOPE_LABELS, Progress, Scope
from app.sheets import practice
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.nav import DESK_PAGES
from app.web.params import BureauQ, ItemKey, PageQ, RoundId, RoundQ, ScopeQ
from app.web.render import render
from app.web.templating import STATUS_CODES

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

ItemKeyQ = Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$",
                                description="チェック項目のキー")]
SheetId = Annotated[int, Path(ge=1, le=2**31 - 1, description="取組事例を共有したチェックシートのID")]



def _base(here: str) -> dict:
    return {"DESK_PAGES": DESK_PAGES, "here": here, "PROGRESS_LABELS": PROGRESS_LABELS, "PROGRESS": Progress,
            "HM": STATUS_CODES, "HM_SYMBOL": rows.HM_SYMBOL, "hm_row": rows.heatmap_row, "SCOPES": SCOPE_LABELS}


def _scope(value: str) -> Scope | None:
    """?scope=: submitted or all; empty: the round's default."""
    return Scope(value) if value else None


@router.get("/rounds/{round_id}")
def round_page(request: Request, session: DbSession, principal: CurrentPrincipal, round_id: RoundId,
               bureau: BureauQ = None, scope: ScopeQ = ""):
    """全所属の状況: every 部局's progress and figures, the 所属 of one 部局, the downloads (desk and admins;
    a 所属's staff are sent home)."""
    if permissions.why_not_see_all_sections(principal) and principal.sections:
        return RedirectResponse("/", status_code=303)
    view = service.round_overview(session, principal, round_id, bureau_code=bureau or None, scope=_scope(scope))
    return render(request, "reports/round.html", {"view": view, "PROGRESS_LABELS": PROGRESS_LABELS,
                                                  "SCOPES": SCOPE_LABELS})


@router.get("/desk")
def desk_home(principal: CurrentPrincipal, round_id: RoundQ = None, scope: ScopeQ = ""):
    refusal = permissions.why_not_see_all_sections(principal)
    if refusal:  # as every desk page: refused here, not sent on to be refused there
        raise Forbidden(refusal)
    query = "&".join(f"{k}={v}" for k, v in (("round", round_id), ("scope", scope)) if v)
    return RedirectResponse("/desk/board" + (f"?{query}" if query else ""), status_code=303)


@router.get("/desk/board")
def board_page(request: Request, session: DbSession, principal: CurrentPrincipal, round_id: RoundQ = None,
               bureau: BureauQ = None, progress: Literal["", "not_started", "in_progress"] = "",
               page: PageQ = 1, scope: ScopeQ = ""):
    view = service.board(session, principal, round_id, bureau_code=bureau or None,
                         progress=Progress(progress) if progress else None, page=page, scope=_scope(scope),
                         order="completion")
    context = {**_base("/desk/board"), "view": view, "PROGRESS_CHOICES": service.PROGRESS_CHOICES,
               "bureau_rows": rows.bureau_rows(view, "/desk/board"), "pending_rows": rows.pending_rows(view)}
    return render(request, "reports/board.html", context, block="results")


@router.get("/desk/board/mail-list")
def board_mail_list_page(request: Request, session: DbSession, principal: CurrentPrincipal,
                         round_id: RoundQ = None, bureau: BureauQ = None,
                         progress: Literal["", "not_started", "in_progress"] = ""):
    """The leaders' mail list of the board's filtered list (every page of it). The board loads it with htmx
    when its 「メールアドレス」 section is opened (the ``mail`` block); without JavaScript it is this page."""
    view = service.mail_list(session, principal, round_id, bureau_code=bureau or None,
                             progress=Progress(progress) if progress else None)
    return render(request, "reports/board_mail_list.html", {**_base("/desk/board"), "view": view,
                  "progress": progress}, block="mail")


@router.get("/desk/heatmap")
def heatmap_page(request: Request, session: DbSession, principal: CurrentPrincipal, round_id: RoundQ = None,
                 bureau: BureauQ = None, sort: Literal["org", "asc", "desc", "all_asc", "all_desc"] = "org",
                 page: PageQ = 1, scope: ScopeQ = ""):
    view = service.heatmap(session, principal, round_id, bureau_code=bureau or None, sort=sort, page=page,
                           scope=_scope(scope))
    return render(request, "reports/heatmap.html", {**_base("/desk/heatmap"), "view": view,
                                                    "SORTS": service.HEATMAP_SORTS}, block="results")


@router.get("/desk/weak-items")
def weak_items_page(request: Request, session: DbSession, principal: CurrentPrincipal,
                    round_id: RoundQ = None, bureau: BureauQ = None, scope: ScopeQ = ""):
    view = service.weak_items(session, principal, round_id, bureau_code=bureau or None, desk_page=True,
                              scope=_scope(scope))
    return render(request, "reports/weak_items.html", {**_base("/desk/weak-items"), "view": view,
                                                       "share_cells": rows.weak_share_cells}, block="results")


@router.get("/desk/practices")
def practices_page(request: Request, session: DbSession, principal: CurrentPrincipal, item: ItemKeyQ,
                   round_id: RoundQ = None):
    """The shared practices (取組事例) of one item: the desk features or hides them."""
    view = service.practices_page(session, principal, round_id, item)
    return render(request, "reports/practices.html", {"view": view, "saved": request.query_params.get("saved")})


@router.post("/desk/practices/{sheet_id}/{item_key}")
def mark_practice(sheet_id: SheetId, item_key: ItemKey, session: DbSession, principal: CurrentPrincipal,
                  form: FormDep):
    practice.mark(session, principal, sheet_id, item_key, form.get("action"))
    session.commit()
    back = form.get("round")
    round_part = f"&round={back}" if isinstance(back, str) and back.isdigit() else ""
    return RedirectResponse(f"/desk/practices?item={item_key}{round_part}&saved=1#p{sheet_id}", status_code=303)


@router.get("/desk/quick-wins")
def quick_wins_page(request: Request, session: DbSession, principal: CurrentPrincipal,
                    round_id: RoundQ = None, bureau: BureauQ = None, page: PageQ = 1, scope: ScopeQ = ""):
    view = service.quick_wins(session, principal, round_id, bureau_code=bureau or None, page=page,
                              desk_page=True, scope=_scope(scope))
    return render(request, "reports/quick_wins.html", {**_base("/desk/quick-wins"), "view": view,
                  "can_record_support": permissions.why_not_manage_support(principal) is None,
                  "quick_win_rows": rows.quick_win_rows, "counterpart_rows": rows.counterpart_rows}, block="results")


@router.get("/desk/distribution")
def distribution_page(request: Request, session: DbSession, principal: CurrentPrincipal,
                      round_id: RoundQ = None, scope: ScopeQ = ""):
    view = service.distribution(session, principal, round_id, scope=_scope(scope))
    return render(request, "reports/distribution.html", {**_base("/desk/distribution"), "view": view,
                                                         "rollup_row": rows.rollup_row})
