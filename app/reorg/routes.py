"""Admin pages for the April reorganisation (/admin/reorg): upload a CSV, see what it will change (dry run),
then apply it in one transaction."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.datastructures import UploadFile

from app.auth.deps import AdminPrincipal, admin_principal
from app.db import one_at_a_time
from app.errors import InvalidInput
from app.jpdate import fiscal_year_of, today_jst
from app.reorg import csvfile, service
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.render import render

router = APIRouter(prefix="/admin/reorg", include_in_schema=False,
                   dependencies=[Depends(csrf_protect), Depends(admin_principal)])


def default_effective_on(today: date) -> date:
    """4月1日 of the fiscal year in progress: reorganisations take effect at its start."""
    return date(fiscal_year_of(today), 4, 1)


def _page_context(session: Session, errors: dict | None = None, effective_on: str = "") -> dict:
    return {
        "errors": errors or {},
        "effective_on": effective_on or default_effective_on(today_jst()).isoformat(),
        "recent": service.recent(session),
        "scheduled": service.scheduled(session),
        "done": None,
        "reassign": service.people_to_reassign(session),
        "header": csvfile.HEADER,
        "KIND_LABELS": csvfile.KIND_LABELS,
    }


DONE = {"scheduled": "組織改正を予定として登録しました。効力発生日に適用されます。",
        "cancelled": "組織改正の予定を取り消しました。"}


@router.get("")
def reorg_page(request: Request, session: DbSession, applied: int | None = None, done: str = ""):
    return render(request, "reorg/reorg.html", {**_page_context(session), "applied": applied, "done": DONE.get(done)})


def _effective_on(value) -> date:
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise InvalidInput("効力発生日を確認してください。",
                           fields={"effective_on": "効力発生日を日付で入力してください（例: 2026-04-01）。"}) from None


def _preview(request: Request, session: Session, raw: bytes, filename: str, effective_on: date, *,
             error: str | None = None, status_code: int = 200):
    rows, row_errors = csvfile.parse(raw)
    plan = service.plan(session, rows, effective_on, row_errors)
    context = {
        "plan": plan,
        "filename": filename,
        "data": base64.b64encode(raw).decode("ascii"),
        "future": effective_on > today_jst(),
        "summary": service.summary_lines(plan),
        "KIND_LABELS": csvfile.KIND_LABELS,
    }
    if error:
        context["error"] = error
    return render(request, "reorg/preview.html", context, status_code=status_code if plan.ok else 422)


@router.post("/preview")
async def preview(request: Request, session: DbSession, form: FormDep):
    upload = form.get("file")
    raw_date = form.get("effective_on", "")
    try:
        effective_on = _effective_on(raw_date)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("CSVファイルを選んでください。", fields={"file": "CSVファイルを選んでください。"})
        raw = await upload.read(csvfile.MAX_BYTES + 1)
        return _preview(request, session, raw, upload.filename, effective_on)
    except InvalidInput as exc:
        fields = exc.fields or {"file": exc.message}
        context = {**_page_context(session, fields, str(raw_date)), "applied": None, "error": exc.message}
        return render(request, "reorg/reorg.html", context, status_code=exc.status_code)


def _posted_file(form) -> bytes:
    """The CSV sent back by the preview page (base64 in a hidden field)."""
    try:
        return base64.b64decode(str(form.get("data", "")), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("送信された内容が壊れています。もう一度CSVファイルを選んで確認してください。") from None


@router.post("/apply")
def apply(request: Request, session: DbSession, principal: AdminPrincipal, form: FormDep):
    raw = _posted_file(form)
    filename = str(form.get("filename", ""))[:200]
    effective_on = _effective_on(form.get("effective_on"))
    rows, row_errors = csvfile.parse(raw)
    one_at_a_time(session, "reorg")  # a second admin's apply plans again from what the first one wrote
    plan = service.plan(session, rows, effective_on, row_errors)
    try:
        applied = service.apply(session, plan, today=today_jst(), actor=principal, source=filename)
    except InvalidInput as exc:
        session.rollback()
        return _preview(request, session, raw, filename, effective_on, error=exc.message, status_code=422)
    session.commit()
    return RedirectResponse(f"/admin/reorg?applied={applied.changes}", status_code=303)


@router.post("/schedule")
def schedule(request: Request, session: DbSession, principal: AdminPrincipal, form: FormDep):
    """A reorganisation whose effective date is still to come: kept, and applied on that day."""
    raw = _posted_file(form)
    filename = str(form.get("filename", ""))[:200]
    effective_on = _effective_on(form.get("effective_on"))
    try:
        service.schedule(session, raw, filename, effective_on, today=today_jst(), actor=principal)
    except InvalidInput as exc:
        session.rollback()
        return _preview(request, session, raw, filename, effective_on, error=exc.message, status_code=422)
    session.commit()
    return RedirectResponse("/admin/reorg?done=scheduled", status_code=303)


@router.post("/scheduled/{schedule_id}/cancel")
def cancel(session: DbSession, principal: AdminPrincipal, schedule_id: Annotated[int, Path(ge=1, le=2**31 - 1)]):
    service.cancel(session, schedule_id, actor=principal)
    session.commit()
    return RedirectResponse("/admin/reorg?done=cancelled", status_code=303)
