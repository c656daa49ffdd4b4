"""Pages of a 所属's figures (実績値): the month's entry form. Thin: parse → one service call → commit →
render or redirect. Without JavaScript the form posts and redirects (POST-redirect-GET); with htmx only
the form is swapped. A refused form comes back with the messages at the fields and nothing changed."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from app.auth import scope
from app.auth.deps import CurrentPrincipal
from app.errors import Conflict, InvalidInput
from app.jpdate import today_jst
from app.kpis import caps, service
from app.kpis import desk as figures_desk
from app.kpis import page as figures_page
from app.kpis.catalogue import Catalogue
from app.kpis.parse import ParseError, month_iso, parse_month
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.htmx import wants_fragment
from app.web.nav import DESK_PAGES
from app.web.params import Code
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

VALUE = "value:"
VERSION = "version:"
MONTH_MAX = 40


def entry_url(code: str, month: date | None = None) -> str:
    return f"/sections/{code}/figures/entry" + (f"?month={month_iso(month)}" if month else "")


def catalogue_of(request: Request) -> Catalogue:
    return request.app.state.kpis


def default_month(today: date) -> date:
    """The month just ended: figures of a month are entered after it."""
    return date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)


@router.get("/sections/{code}/figures")
def figures(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal,
            fy: Annotated[int | None, Query(ge=2000, le=2100, description="年度（西暦）")] = None):
    """The 所属's figures by month of a fiscal year, last year beside them; the trend page loads the summary
    table alone (htmx)."""
    unit = scope.resolve_section(session, principal, code)
    page = figures_page.build(session, principal, unit, catalogue_of(request), fy=fy, today=today_jst())
    return render(request, "kpis/figures.html", {"page": page, "fmt": figures_page.fmt,
                                                 "min_group": figures_page.MIN_GROUP_SIZE}, block="summary")


@router.get("/sections/{code}/figures/entry")
def entry_page(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal,
               month: str | None = None, saved: int | None = None):
    unit = scope.resolve_section(session, principal, code)
    today = today_jst()
    month_error = None
    chosen = default_month(today)
    if month is not None:
        try:
            chosen = parse_month(month[:MONTH_MAX], today=today)
        except ParseError as exc:
            month_error = exc.message
    form = service.entry(session, principal, unit, chosen, catalogue_of(request))
    return render(request, "kpis/entry.html", {
        "form": form, "month_text": month if month_error else form.month_label, "month_error": month_error,
        "saved": saved, "error": None, "month_iso": month_iso(form.month)},
        status_code=422 if month_error else 200)


@router.post("/sections/{code}/figures/entry")
def save_entry(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    unit = scope.resolve_section(session, principal, code)
    catalogue = catalogue_of(request)
    typed = {name[len(VALUE):]: value for name, value in form.multi_items()
             if name.startswith(VALUE) and isinstance(value, str)}
    versions = {name[len(VERSION):]: value for name, value in form.multi_items()
                if name.startswith(VERSION) and isinstance(value, str)}
    month = _posted_month(form.get("month"))
    try:
        inputs = [service.FigureInput(key, value[:100], _version(versions.get(key))) for key, value in typed.items()]
        saved = service.save_month(session, principal, unit, month, catalogue, inputs)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        entry = service.entry(session, principal, unit, month, catalogue, typed=typed, errors=exc.fields)
        return render(request, "kpis/entry.html", {
            "form": entry, "month_text": entry.month_label, "month_error": None, "saved": None,
            "error": exc.message, "month_iso": month_iso(month)}, block="entry_form", status_code=exc.status_code)
    session.commit()
    if wants_fragment(request):
        entry = service.entry(session, principal, unit, month, catalogue)
        return render(request, "kpis/entry.html", {
            "form": entry, "month_text": entry.month_label, "month_error": None, "saved": saved.changed,
            "error": None, "month_iso": month_iso(month)}, block="entry_form")
    return RedirectResponse(f"{entry_url(unit.code, month)}&saved={saved.changed}#entry-saved", status_code=303)


def _posted_month(raw: object) -> date:
    """The form's hidden month (2026-05); a broken one is refused as a whole (422, nothing saved)."""
    if not isinstance(raw, str):
        raise InvalidInput("対象の月が指定されていません。画面を再読み込みしてください。")
    try:
        return parse_month(raw[:MONTH_MAX], today=today_jst())
    except ParseError as exc:
        raise InvalidInput(exc.message) from None


def _version(raw: str | None) -> int:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return -1  # refused by the service, at the field
    return int(raw)


@router.get("/desk/figures")
def desk_figures(request: Request, session: DbSession, principal: CurrentPrincipal,
                 figure: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$")] = None,
                 fy: Annotated[int | None, Query(ge=2000, le=2100, description="年度（西暦）")] = None,
                 round_id: Annotated[int | None, Query(alias="round", ge=1, le=2**31 - 1)] = None,
                 caps_saved: Annotated[int | None, Query(ge=0, le=10**6)] = None):
    """The desk: 部局 and prefecture totals of one figure, 「評価と実績のずれ」, and the caps per 部局."""
    today = today_jst()
    page = figures_desk.build(session, principal, catalogue_of(request), figure_key=figure, fy=fy, round_id=round_id,
                              today=today)
    table = caps.cap_table(session, principal, catalogue_of(request), page.figure.key, page.fy, today)
    return render(request, "kpis/desk.html", {"page": page, "fmt": figures_page.fmt, "DESK_TABS": DESK_PAGES,
                                              "caps": table, "caps_error": None, "caps_saved": caps_saved})
