"""The desk's review on the sheet page (app/sheets/review.py): one item 確認済 or 差戻し, or the whole sheet
確認済. Plain forms that go back to the sheet's review panel; htmx (boosted forms) swaps the panel alone."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from app.auth.deps import CurrentPrincipal
from app.errors import Conflict, InvalidInput
from app.sheets import review, service
from app.sheets.routes import _page_context
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.params import Code, ItemKey, RoundId
from app.web.render import render
from app.web.urls import sheet_url

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _text(form, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.post("/rounds/{round_id}/sections/{code}/review/items/{item_key}")
def review_item(request: Request, round_id: RoundId, code: Code, item_key: ItemKey, session: DbSession,
                principal: CurrentPrincipal, form: FormDep):
    mark, comment = _text(form, "mark"), _text(form, "comment")
    try:
        done = review.review_item(session, principal, round_id, code, item_key, mark=mark, comment=comment)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        view = service.get_sheet_for(session, principal, round_id, code)
        context = {**_page_context(session, view, principal=principal), "review_error": exc.message,
                   "review_error_item": item_key, "review_typed": comment}
        return render(request, "sheets/sheet.html", context, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"{sheet_url(round_id, code)}?reviewed={done.value}#review-panel", status_code=303)


@router.post("/rounds/{round_id}/sections/{code}/review/confirm-all")
def confirm_all(request: Request, round_id: RoundId, code: Code, session: DbSession, principal: CurrentPrincipal):
    try:
        review.confirm_all(session, principal, round_id, code)
    except Conflict as exc:
        session.rollback()
        view = service.get_sheet_for(session, principal, round_id, code)
        context = {**_page_context(session, view, principal=principal), "review_error": exc.message}
        return render(request, "sheets/sheet.html", context, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"{sheet_url(round_id, code)}?reviewed=all#review-panel", status_code=303)
