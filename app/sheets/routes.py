"""Sheet pages: the checklist table (htmx saves a row at a time; without JavaScript the whole table is
one form with a save button), submit and reopen."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from app.auth.deps import CurrentPrincipal
from app.auth.permissions import Principal
from app.errors import AppError, Conflict, InvalidInput
from app.rounds import service as rounds
from app.sheets import figures, service
from app.sheets.models import EventSource
from app.sheets.service import AnswerInput, SheetView
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.htmx import wants_fragment
from app.web.params import Code, ItemKey, RoundId
from app.web.render import render
from app.web.templating import dom_id
from app.web.urls import sheet_url

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


@dataclass
class RowState:
    """What a row shows besides the stored answer: what the person typed, and why it was not saved."""

    typed_status: dict[str, str | None] = field(default_factory=dict)
    typed_memo: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _page_context(session: Session, view: SheetView, rows: RowState | None = None, saved: int | None = None, *,
                  principal: Principal, fragment: bool = False) -> dict:
    context = {
        "view": view,
        "score": figures.sheet_score(session, view.sheet.id),
        "rows": rows or RowState(),
        "saved": saved,
        "url": sheet_url(view.round.id, view.unit.code),
    }
    if not fragment:  # what only the whole page shows
        context["round_choices"] = service.round_choices(session, principal, view)
        context["leaders"] = service.leaders_of(session, view.unit.id)
    return context


@router.get("/")
def home(request: Request, session: DbSession, principal: CurrentPrincipal):
    """Sends each person where they work: the desk to its board, a 所属's staff to their sheet."""
    current = rounds.current_round(session)
    if current is not None and principal.sees_everything:
        return RedirectResponse(f"/desk/board?round={current.id}", status_code=303)
    sheets = service.own_sheets(session, principal, current.id) if current is not None else []
    if len(sheets) == 1:
        return RedirectResponse(sheet_url(current.id, sheets[0][1].code), status_code=303)
    return render(request, "home.html", {"current": current, "sheets": sheets})


@router.get("/rounds/{round_id}/sections/{code}")
def sheet_page(request: Request, round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
               saved: int | None = None):
    view = service.get_sheet_for(session, principal, round_id, code)
    return render(request, "sheets/sheet.html", _page_context(session, view, saved=saved, principal=principal))


def _inputs_from_form(form, only: str | None = None) -> list[AnswerInput]:
    """The rows of the sheet form (every row with a ``version:<item key>`` field, or only one)."""
    inputs = []
    for name in form:
        if not name.startswith("version:"):
            continue
        key = name.removeprefix("version:")
        if only is not None and key != only:
            continue
        raw_version = form.get(name)
        version = int(raw_version) if isinstance(raw_version, str) and raw_version.isdigit() else None
        inputs.append(AnswerInput(key, form.get(f"status:{key}"), form.get(f"memo:{key}"), version))
    return inputs


@router.post("/rounds/{round_id}/sections/{code}")
def save_sheet(request: Request, round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
               form: FormDep):
    """The plain form (no JavaScript): every row at once, all or nothing."""
    inputs = _inputs_from_form(form)
    try:
        saved = service.save_answers(session, principal, round_id, code, inputs, source=EventSource.PAGE)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        view = service.get_sheet_for(session, principal, round_id, code)
        rows = RowState(
            typed_status={i.item_key: i.status for i in inputs},
            typed_memo={i.item_key: i.memo for i in inputs if i.memo is not None},
            errors=_row_errors(exc),
        )
        context = {**_page_context(session, view, rows, principal=principal), "error": exc.message}
        return render(request, "sheets/sheet.html", context, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"{sheet_url(round_id, code)}?saved={saved.changed}", status_code=303)


def _row_errors(exc: AppError) -> dict[str, str]:
    if "item_key" in exc.extra:
        return {exc.extra["item_key"]: exc.message}
    return dict(exc.fields)


@router.post("/rounds/{round_id}/sections/{code}/items/{item_key}")
def save_row(request: Request, round_id: RoundId, code: Code, item_key: ItemKey, session: DbSession,
             principal: CurrentPrincipal, form: FormDep):
    """One row, from htmx: answers with the row's save state (and the updated score, out of band)."""
    inputs = _inputs_from_form(form, only=item_key) or [AnswerInput(item_key, None, None, None)]
    try:
        [answer] = service.save_answers(session, principal, round_id, code, inputs, source=EventSource.PAGE).answers
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        view = service.get_sheet_for(session, principal, round_id, code)
        typed = inputs[0]
        rows = RowState(
            typed_status={item_key: typed.status} if isinstance(exc, InvalidInput) else {},
            typed_memo={item_key: typed.memo} if isinstance(exc, InvalidInput) and typed.memo is not None else {},
            errors={item_key: exc.message},
        )
        context = {**_page_context(session, view, rows, principal=principal, fragment=wants_fragment(request)),
                   "item": view.definition.item(item_key)}
        return render(request, "sheets/sheet.html", context, block="row_error", status_code=exc.status_code,
                      headers={"HX-Retarget": f"#row-{dom_id(item_key)}", "HX-Reswap": "outerHTML"})
    session.commit()
    view = service.get_sheet_for(session, principal, round_id, code)
    context = {**_page_context(session, view, principal=principal, fragment=wants_fragment(request)),
               "item": view.definition.item(item_key), "answer": answer}
    return render(request, "sheets/sheet.html", context, block="row_saved")


@router.post("/rounds/{round_id}/sections/{code}/submit")
def submit(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal):
    service.submit(session, principal, round_id, code, source=EventSource.PAGE)
    session.commit()
    return RedirectResponse(f"{sheet_url(round_id, code)}?submitted=1", status_code=303)


@router.post("/rounds/{round_id}/sections/{code}/reopen")
def reopen(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    reason = form.get("reason")
    service.reopen(session, principal, round_id, code, source=EventSource.PAGE,
                   reason=reason if isinstance(reason, str) else "")
    session.commit()
    return RedirectResponse(sheet_url(round_id, code), status_code=303)

