"""Sheet pages: the checklist table (htmx saves a row at a time; without JavaScript the whole table is
one form with a save button), submit and reopen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from app.auth import permissions
from app.auth.deps import CurrentPrincipal, SignedInDep
from app.auth.permissions import Principal
from app.checklists.service import Definition, ItemDef
from app.db import end_reads, reads_from_here
from app.errors import AppError, Conflict, InvalidInput
from app.rounds import service as rounds
from app.sheets import evidence, figures, practice, previous, review, row_markup, service
from app.sheets.models import EventSource
from app.sheets.service import AnswerInput, SheetView
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.htmx import wants_fragment
from app.web.params import Code, ItemKey, RoundId
from app.web.render import render
from app.web.urls import sheet_url

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


@dataclass
class RowState:
    """What a row shows besides the stored answer: what the person typed, and why it was not saved."""

    typed_status: dict[str, str | None] = field(default_factory=dict)
    typed_memo: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _page_context(session: Session, view: SheetView, rows: RowState | None = None, saved: int | None = None, *,
                  principal: Principal, fragment: bool = False, only_unanswered: bool = False,
                  submit_refused: bool = False) -> dict:
    practices = practice.hints(session, [k for k, a in view.answers.items() if a.status in practice.NEEDS_WORK],
                               except_unit_id=view.unit.id)
    context = {
        "view": view,
        "score": service.score_of(session, view),
        "rows": rows or RowState(),
        # the rows' status radios, built once per process for each row and answer (app/sheets/row_markup.py)
        "status_options": row_markup.status_options,
        "saved": saved,
        "url": sheet_url(view.round.id, view.unit.code),
        # 「未回答のみ表示」 (?only=unanswered): the rows still without an answer
        "only_unanswered": only_unanswered,
        # a 提出 refused for unanswered items: the submit panel lists them (view.unanswered), each linked to its row
        "submit_refused": submit_refused and view.can_submit and bool(view.unanswered),
        # 「前回の回答」 offered to the items still unanswered, and 「新しい項目」 (app/sheets/previous.py)
        "previous": previous.offer_for(session, principal, view),
        # the desk's review: 差戻し comments beside the items, the desk's panel (app/sheets/review.py)
        "review": review.review_of(session, principal, view),
        # 取組事例 of other 所属 on the items this one answered △ or × (the rows' 改善のヒント)
        "practices": practices,
        # of the items with practices, those whose practices offer 「この所属に聞いてみる」 (at △ or × in the latest
        # round answered; the rows without practices show no button, so they are not asked about)
        "ask_practice_keys": practice.askable(session, principal, view.unit.id, list(practices)),
        # 根拠資料 per item (app/sheets/evidence.py): None for someone who may not read them
        "evidence": evidence.of_view(session, principal, view),
    }
    if not fragment:  # what only the whole page shows
        context["round_choices"] = service.round_choices(session, principal, view)
        context["leaders"] = service.leaders_of(session, view.unit.id)
        # 「支援を記録」 (the desk's support-record form for this 所属)
        context["can_record_support"] = permissions.why_not_manage_support(principal) is None
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
               saved: int | None = None, only: Literal["unanswered"] | None = None,
               submit: Literal["incomplete"] | None = None):
    view = service.get_sheet_for(session, principal, round_id, code)
    return render(request, "sheets/sheet.html", _page_context(
        session, view, saved=saved, principal=principal, only_unanswered=only == "unanswered",
        submit_refused=submit == "incomplete"))


def _inputs_from_form(form, definition: Definition, only: ItemDef | None = None) -> list[AnswerInput]:
    """The rows of the sheet form: fields named by the item's position (s<n> status, m<n> memo, v<n> the
    version it was read at); every row that has a version, or only ``only``."""
    inputs = []
    for item in (only,) if only else definition.items:
        n = item.position
        raw_version = form.get(f"v{n}")
        if raw_version is None:
            continue
        version = int(raw_version) if isinstance(raw_version, str) and raw_version.isdigit() else None
        inputs.append(AnswerInput(item.key, form.get(f"s{n}"), form.get(f"m{n}"), version, _ticked(form.get(f"x{n}"))))
    return inputs


def _ticked(raw) -> bool | None:
    """「取組事例として共有する」: the row sends x<n>=0 (a hidden field) then x<n>=1 when ticked, and the last
    value counts; a row without the field leaves the flag as stored."""
    return None if raw is None else raw == "1"


@router.post("/rounds/{round_id}/sections/{code}")
def save_sheet(request: Request, round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal,
               form: FormDep):
    """The plain form (no JavaScript): every row at once, all or nothing."""
    inputs = _inputs_from_form(form, service.definition_of(session, round_id))
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
    only = "&only=unanswered" if form.get("only") == "unanswered" else ""
    return RedirectResponse(f"{sheet_url(round_id, code)}?saved={saved.changed}{only}", status_code=303)


def _row_errors(exc: AppError) -> dict[str, str]:
    if "item_key" in exc.extra:
        return {exc.extra["item_key"]: exc.message}
    return dict(exc.fields)


@router.post("/rounds/{round_id}/sections/{code}/items/{item_key}")
def save_row(request: Request, round_id: RoundId, code: Code, item_key: ItemKey, session: DbSession,
             who: SignedInDep, form: FormDep):
    """One row, from htmx: answers with the row's save state (and the updated score, out of band)."""
    principal = who.load()  # in this thread (SignedIn: one hop to the thread pool for the person and the save)
    item = service.definition_of(session, round_id).item(item_key)  # 404 for an unknown item
    inputs = _inputs_from_form(form, None, only=item) or [AnswerInput(item_key, None, None, None)]
    try:
        saved = service.save_answers(session, principal, round_id, code, inputs, source=EventSource.PAGE)
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
                      headers={"HX-Retarget": f"#r{view.definition.item(item_key).position}", "HX-Reswap": "outerHTML"})
    session.commit()
    reads_from_here(session)
    view = service.get_sheet_for(session, principal, round_id, code)
    [answer] = saved.answers
    if not wants_fragment(request):  # the page itself (a plain POST without htmx)
        context = _page_context(session, view, principal=principal)
    else:  # what the saved row's fragment shows: its state, the sheet's figures, and the previous panel if it moved
        context = {"view": view, "score": figures.sheet_score(session, view.sheet.id), "rows": RowState(),
                   "url": sheet_url(view.round.id, view.unit.code), "only_unanswered": False,
                   "submit_refused": False,
                   "previous": previous.offer_for(session, principal, view) if saved.answered_moved else None}
    context.update(item=view.definition.item(item_key), answer=answer)
    response = render(request, "sheets/sheet.html", context, block="row_saved")
    end_reads(session)  # the reads' transaction ends in this thread, not in a thread-pool hop of its own afterwards
    return response


@router.post("/rounds/{round_id}/sections/{code}/submit")
def submit(request: Request, round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal):
    """提出. Refused for unanswered items, it answers with the sheet itself listing every one of them: htmx
    swaps the submit panel in place; without JavaScript the browser is sent back to the sheet
    (``?submit=incomplete#submit-error``), a URL that reloads cleanly and lists what is unanswered then."""
    url = sheet_url(round_id, code)
    try:
        service.submit(session, principal, round_id, code, source=EventSource.PAGE)
    except InvalidInput as exc:
        if "unanswered" not in exc.extra:
            raise
        session.rollback()
        if not wants_fragment(request):
            return RedirectResponse(f"{url}?submit=incomplete#submit-error", status_code=303)
        view = service.get_sheet_for(session, principal, round_id, code)
        context = _page_context(session, view, principal=principal, fragment=True, submit_refused=True)
        return render(request, "sheets/sheet.html", context, block="submit_panel", status_code=exc.status_code,
                      headers={"HX-Retarget": "#submit-panel", "HX-Reswap": "outerHTML"})
    session.commit()
    if wants_fragment(request):
        return Response(headers={"HX-Redirect": f"{url}?submitted=1"})
    return RedirectResponse(f"{url}?submitted=1", status_code=303)


@router.post("/rounds/{round_id}/sections/{code}/reopen")
def reopen(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    reason = form.get("reason")
    service.reopen(session, principal, round_id, code, source=EventSource.PAGE,
                   reason=reason if isinstance(reason, str) else "")
    session.commit()
    return RedirectResponse(sheet_url(round_id, code), status_code=303)

