"""「変更なし」 and 「前回どおりで確認」 on the sheet page (app/sheets/previous.py): one item (htmx swaps its row;
without JavaScript the sheet form is sent here and the browser goes back to the row), or every item still
unanswered (a plain form after a confirmation step on the page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from app.auth.deps import CurrentPrincipal
from app.errors import Conflict, InvalidInput
from app.sheets import previous, service
from app.sheets.models import EventSource
from app.sheets.routes import RowState, _inputs_from_form, _page_context, _row_errors
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.htmx import wants_fragment
from app.web.params import Code, ItemKey, RoundId
from app.web.render import render
from app.web.urls import sheet_url

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


@router.post("/rounds/{round_id}/sections/{code}/previous")
def confirm_all(round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal):
    """「前回どおりで確認」: every item still unanswered takes its previous answer."""
    confirmed = previous.confirm(session, principal, round_id, code, source=EventSource.PAGE)
    session.commit()
    return RedirectResponse(f"{sheet_url(round_id, code)}?confirmed={confirmed}#previous-panel", status_code=303)


@router.get("/rounds/{round_id}/sections/{code}/previous")
def offered_list(request: Request, round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal):
    """The items 「前回どおりで確認」 would answer, each with its previous answer: the sheet page's confirmation step
    loads this list when it is opened (htmx, the ``list`` block), so the page does not carry it twice (the rows
    show each offer); without JavaScript its link opens this page, with the confirm button."""
    view = service.get_sheet_for(session, principal, round_id, code)
    url = sheet_url(round_id, code)
    context = {"view": view, "previous": previous.offer_for(session, principal, view), "url": url,
               "at": "" if wants_fragment(request) else url}
    return render(request, "sheets/previous_list.html", context, block="list")


@router.post("/rounds/{round_id}/sections/{code}/items/{item_key}/previous")
def confirm_one(request: Request, round_id: RoundId, code: Code, item_key: ItemKey, session: DbSession,
                principal: CurrentPrincipal, form: FormDep):
    """「変更なし」: one item takes its previous answer, if it is still unanswered at the version the page read."""
    definition = service.definition_of(session, round_id)
    item = definition.item(item_key)  # 404 for an unknown item
    raw = form.get(f"v{item.position}")
    version = int(raw) if isinstance(raw, str) and raw.isdigit() else None
    url = sheet_url(round_id, code)
    # Without JavaScript the whole sheet form comes here: what was typed in the other rows is saved with it
    # (in the same transaction), as 「まとめて保存する」 would, so that nothing typed is lost.
    others = [] if wants_fragment(request) else [i for i in _inputs_from_form(form, definition) if i.item_key != item.key]
    try:
        if others:
            service.save_answers(session, principal, round_id, code, others, source=EventSource.PAGE)
        previous.confirm(session, principal, round_id, code, item_key=item.key, version=version,
                         source=EventSource.PAGE)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        view = service.get_sheet_for(session, principal, round_id, code)
        rows = RowState(errors=_row_errors(exc) if others else {item.key: exc.message})
        if not wants_fragment(request):
            rows.typed_status = {i.item_key: i.status for i in others}
            rows.typed_memo = {i.item_key: i.memo for i in others if i.memo is not None}
            context = {**_page_context(session, view, rows, principal=principal), "error": exc.message}
            return render(request, "sheets/sheet.html", context, status_code=exc.status_code)
        context = {**_page_context(session, view, rows, principal=principal, fragment=True), "item": item}
        return render(request, "sheets/sheet.html", context, block="row_error", status_code=exc.status_code,
                      headers={"HX-Retarget": f"#r{item.position}", "HX-Reswap": "outerHTML"})
    session.commit()
    if not wants_fragment(request):
        return RedirectResponse(f"{url}?confirmed=1#r{item.position}", status_code=303)
    view = service.get_sheet_for(session, principal, round_id, code)
    context = {**_page_context(session, view, principal=principal, fragment=True), "item": item,
               "confirmed": item.key}
    return render(request, "sheets/_previous_confirmed.html", context)
