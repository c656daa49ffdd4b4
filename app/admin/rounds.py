"""Admin pages for rounds (/admin/rounds): create, open (which creates every 所属's sheet), close, reopen
with a reason."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from app.auth.deps import AdminPrincipal, admin_principal
from app.checklists import service as checklists
from app.errors import InvalidInput
from app.jpdate import fiscal_year_label, fiscal_year_of, today_jst
from app.rounds import service
from app.rounds.models import ROUND_EVENT_LABELS, Round
from app.sheets import service as sheets
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.params import RoundId
from app.web.render import render

router = APIRouter(prefix="/admin/rounds", include_in_schema=False,
                   dependencies=[Depends(csrf_protect), Depends(admin_principal)])


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _fiscal_year(value) -> int | None:
    year = _int(value)
    return year if year is not None and 2000 <= year <= 2100 else None


def _date(value) -> date | None:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _versions(session: Session) -> list[tuple[int, str]]:
    return [(v.id, f"第{v.version}版（{len(checklists.get_definition(session, v.id).items)}項目）{v.title}"
             + ("" if v.checklist_id == "paperless" else f"（{v.checklist_id}）"))
            for v in checklists.list_versions(session)]


def _list_context(session: Session, form: dict, errors: dict[str, str] | None = None) -> dict:
    this_fy = fiscal_year_of(today_jst())
    years = [(fy, f"{fiscal_year_label(fy)}（{fy}年度）") for fy in range(this_fy - 1, this_fy + 3)]
    rounds = service.list_rounds(session)
    return {
        "rounds": rounds,
        "definitions": {r.checklist_version_id: checklists.get_definition(session, r.checklist_version_id)
                        for r in rounds},
        "sheet_counts": sheets.sheet_counts(session),
        "open_rounds": service.open_rounds(session),
        "years": years,
        "versions": _versions(session),
        "form": form,
        "errors": errors or {},
        "example_title": service.suggest_title(session, _fiscal_year(form.get("fiscal_year")) or this_fy),
    }


def _default_form(session: Session, fiscal_year: int | None = None) -> dict:
    today = today_jst()
    fy = fiscal_year or fiscal_year_of(today)
    opens = today if fiscal_year_of(today) == fy else date(fy, 4, 1)
    versions = checklists.list_versions(session)
    newest = max(versions, key=lambda v: v.published_at, default=None)
    return {"fiscal_year": fy, "title": service.suggest_title(session, fy), "opens_on": opens.isoformat(),
            "closes_on": (opens + timedelta(days=45)).isoformat(),
            "checklist_version_id": newest.id if newest else ""}


@router.get("")
def rounds_page(request: Request, session: DbSession, fiscal_year: str | None = None, title: str | None = None):
    """The list of rounds and the form to create one. With ?fiscal_year (htmx, when the year changes) the
    form comes back with the title suggested for that year, unless the person typed their own."""
    form = _default_form(session, _fiscal_year(fiscal_year))
    if title is not None and title.strip() and not service.SUGGESTED_TITLE.match(title.strip()):
        form["title"] = title
    return render(request, "rounds/admin_list.html", _list_context(session, form), block="create_form")


@router.post("")
def create(request: Request, session: DbSession, principal: AdminPrincipal, form: FormDep):
    values = {k: form.get(k, "") for k in ("fiscal_year", "title", "checklist_version_id", "opens_on", "closes_on")}
    fiscal_year = _fiscal_year(values["fiscal_year"])
    version_id = _int(values["checklist_version_id"])
    opens_on, closes_on = _date(values["opens_on"]), _date(values["closes_on"])
    try:
        title = service.validate_new_round(session, fiscal_year=fiscal_year, title=str(values["title"]),
                                           checklist_version_id=version_id, opens_on=opens_on, closes_on=closes_on)
    except InvalidInput as exc:
        errors = dict(exc.fields)
        if values["opens_on"] and opens_on is None:
            errors["opens_on"] = "開始日の形式が正しくありません（例: 2026-05-01）。"
        if values["closes_on"] and closes_on is None:
            errors["closes_on"] = "締切日の形式が正しくありません（例: 2026-06-30）。"
        context = {**_list_context(session, values, errors), "error": exc.message}
        return render(request, "rounds/admin_list.html", context, status_code=exc.status_code)
    new = service.create_round(session, fiscal_year=fiscal_year, title=title, checklist_version_id=version_id,
                               opens_on=opens_on, closes_on=closes_on, actor=principal)
    session.commit()
    return RedirectResponse(f"/admin/rounds/{new.id}?done=created", status_code=303)


def _detail_context(session: Session, round_: Round, errors: dict | None = None, reason: str = "") -> dict:
    others_open = [r for r in service.open_rounds(session) if r.id != round_.id]
    return {
        "round": round_,
        "definition": checklists.get_definition(session, round_.checklist_version_id),
        "sheets": sheets.sheet_counts(session).get(round_.id, 0),
        "events": service.round_events(session, round_.id),
        "EVENT_LABELS": {k.value: v for k, v in ROUND_EVENT_LABELS.items()},
        "others_open": others_open,
        "errors": errors or {},
        "reason": reason,
        "today": today_jst(),
        "closes_on": round_.closes_on.isoformat(),
    }


@router.get("/{round_id}")
def round_page(request: Request, round_id: RoundId, session: DbSession, done: str | None = None):
    round_ = service.get_round(session, round_id)
    return render(request, "rounds/admin_round.html", {**_detail_context(session, round_), "done": done})


@router.post("/{round_id}/open")
def open_(round_id: RoundId, session: DbSession, principal: AdminPrincipal):
    round_ = service.get_round(session, round_id)
    sheets.open_round(session, round_, on=max(round_.opens_on, today_jst()), actor=principal)
    session.commit()
    return RedirectResponse(f"/admin/rounds/{round_id}?done=opened", status_code=303)


@router.post("/{round_id}/close")
def close(round_id: RoundId, session: DbSession, principal: AdminPrincipal):
    sheets.close_round(session, service.get_round(session, round_id), actor=principal)
    session.commit()
    return RedirectResponse(f"/admin/rounds/{round_id}?done=closed", status_code=303)


@router.post("/{round_id}/deadline")
def change_deadline(request: Request, round_id: RoundId, session: DbSession, principal: AdminPrincipal,
                    form: FormDep):
    round_ = service.get_round(session, round_id)
    raw = str(form.get("closes_on", ""))
    closes_on = _date(raw)
    try:
        if raw.strip() and closes_on is None:
            raise InvalidInput("締切日の形式が正しくありません。",
                               fields={"closes_on": "締切日の形式が正しくありません（例: 2026-06-30）。"})
        service.change_deadline(session, round_, closes_on, actor=principal)
    except InvalidInput as exc:
        session.rollback()
        context = {**_detail_context(session, round_, exc.fields), "done": None, "error": exc.message,
                   "closes_on": raw}
        return render(request, "rounds/admin_round.html", context, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"/admin/rounds/{round_id}?done=deadline", status_code=303)


@router.post("/{round_id}/reopen")
def reopen(request: Request, round_id: RoundId, session: DbSession, principal: AdminPrincipal, form: FormDep):
    round_ = service.get_round(session, round_id)
    reason = str(form.get("reason", ""))
    try:
        service.reopen_round(session, round_, reason=reason, actor=principal)
    except InvalidInput as exc:
        session.rollback()
        context = {**_detail_context(session, round_, exc.fields, reason), "done": None, "error": exc.message}
        return render(request, "rounds/admin_round.html", context, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"/admin/rounds/{round_id}?done=reopened", status_code=303)

