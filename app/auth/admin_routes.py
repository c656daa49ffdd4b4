"""Admin pages: the admin index, the user directory (list, add, change, disable, CSV import) and the
audit log. Admins only (``permissions.why_not_admin``)."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse

from app.auth import directory
from app.auth.deps import AdminPrincipal
from app.errors import InvalidInput
from app.web.deps import DbSession, csrf_protect
from app.web.nav import ADMIN_PAGES
from app.web.params import PageQ
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

DONE_MESSAGES = {
    "created": "利用者を追加しました。",
    "saved": "変更を保存しました。",
    "disabled": "利用停止にしました。この利用者はサインインできなくなりました。",
    "enabled": "利用を再開しました。",
    "sessions_ended": "この利用者のセッションをすべて終了しました。次の操作からサインインし直しが必要です。",
    "imported": "CSVを取り込みました。",
}


@router.get("/admin")
def admin_index(request: Request, principal: AdminPrincipal):
    return render(request, "admin/index.html", {"pages": ADMIN_PAGES})


@router.get("/admin/users")
def users_page(request: Request, session: DbSession, principal: AdminPrincipal, q: str = "", unit: str = "",
               role: str = "", active: str = "", page: int = 1, done: str = ""):
    result = directory.list_users(session, q=q, unit_code=unit, role=role, active=active, page=page)
    filters = {"q": q, "unit": unit, "role": role, "active": active}
    return render(request, "admin/users.html", {
        "result": result, "filters": filters, "sections": directory.sections(session),
        "ROLE_FILTERS": directory.ROLE_FILTERS, "done": DONE_MESSAGES.get(done, ""),
    }, block="results")


def _form_context(session, row, data: directory.UserInput, errors: dict | None = None, message: str = "") -> dict:
    return {"row": row, "data": data, "errors": errors or {}, "error": message,
            "sections": directory.sections(session), "ROLE_LABELS": directory.ROLE_LABELS}


@router.get("/admin/users/new")
def new_user_page(request: Request, session: DbSession, principal: AdminPrincipal):
    return render(request, "admin/user_form.html", _form_context(session, None, directory.UserInput()))


def user_form(upn: Annotated[str, Form()] = "", display_name: Annotated[str, Form()] = "",
              unit_code: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "member",
              is_desk: Annotated[str | None, Form()] = None,
              is_admin: Annotated[str | None, Form()] = None) -> directory.UserInput:
    """The add / change form as typed (checkboxes: present means on)."""
    return directory.UserInput(upn=upn, display_name=display_name, unit_code=unit_code, role=role,
                               is_desk=is_desk is not None, is_admin=is_admin is not None)


UserForm = Annotated[directory.UserInput, Depends(user_form)]


@router.post("/admin/users")
def create_user(request: Request, session: DbSession, principal: AdminPrincipal, data: UserForm):
    try:
        user = directory.add_user(session, principal, data)
    except InvalidInput as exc:
        session.rollback()
        return render(request, "admin/user_form.html", _form_context(session, None, data, exc.fields, exc.message),
                      status_code=422)
    session.commit()
    return RedirectResponse(f"/admin/users/{user.id}?done=created", status_code=303)


@router.get("/admin/users/{user_id}")
def edit_user_page(request: Request, user_id: int, session: DbSession, principal: AdminPrincipal, done: str = ""):
    row = directory.get_user(session, user_id)
    first = row.memberships[0] if row.memberships else None
    data = directory.UserInput(upn=row.user.upn, display_name=row.user.display_name,
                               unit_code=first[0].code if first else "",
                               role=first[1].value if first else "member",
                               is_desk=row.user.is_desk, is_admin=row.user.is_admin)
    return render(request, "admin/user_form.html",
                  {**_form_context(session, row, data), "done": DONE_MESSAGES.get(done, "")})


@router.post("/admin/users/{user_id}")
def update_user(request: Request, user_id: int, session: DbSession, principal: AdminPrincipal, data: UserForm):
    try:
        directory.update_user(session, principal, user_id, data)
    except InvalidInput as exc:
        session.rollback()
        row = directory.get_user(session, user_id)
        return render(request, "admin/user_form.html", _form_context(session, row, data, exc.fields, exc.message),
                      status_code=422)
    session.commit()
    return RedirectResponse(f"/admin/users/{user_id}?done=saved", status_code=303)


@router.post("/admin/users/{user_id}/disable")
def disable_user(user_id: int, session: DbSession, principal: AdminPrincipal):
    directory.set_active(session, principal, user_id, False)
    session.commit()
    return RedirectResponse(f"/admin/users/{user_id}?done=disabled", status_code=303)


@router.post("/admin/users/{user_id}/enable")
def enable_user(user_id: int, session: DbSession, principal: AdminPrincipal):
    directory.set_active(session, principal, user_id, True)
    session.commit()
    return RedirectResponse(f"/admin/users/{user_id}?done=enabled", status_code=303)


@router.post("/admin/users/{user_id}/end-sessions")
def end_user_sessions(user_id: int, session: DbSession, principal: AdminPrincipal):
    directory.end_user_sessions(session, principal, user_id)
    session.commit()
    return RedirectResponse(f"/admin/users/{user_id}?done=sessions_ended", status_code=303)


@router.get("/admin/users-import")
def import_page(request: Request, principal: AdminPrincipal):
    return render(request, "admin/import.html", {"preview": None, "error": "", "errors": {}})


@router.post("/admin/users-import")
def import_preview(request: Request, session: DbSession, principal: AdminPrincipal,
                   file: Annotated[UploadFile | None, File()] = None):
    """Dry run: check the uploaded file and show what would change (nothing is written)."""
    raw = file.file.read() if file is not None else b""
    try:
        text, encoding = directory.decode_csv(raw)
        preview = directory.preview_import(session, text, encoding)
    except InvalidInput as exc:
        return render(request, "admin/import.html", {"preview": None, "error": exc.message, "errors": exc.fields},
                      status_code=422)
    return render(request, "admin/import.html", {"preview": preview, "error": "", "errors": {}},
                  status_code=200 if preview.ok else 422)


@router.post("/admin/users-import/apply")
def import_apply(request: Request, session: DbSession, principal: AdminPrincipal,
                 payload: Annotated[str, Form()] = ""):
    """Apply a previewed file: every row or none (checked again, since the directory may have changed)."""
    try:
        directory.apply_import(session, principal, directory.text_of_payload(payload))
    except InvalidInput as exc:
        session.rollback()
        preview = None
        with contextlib.suppress(InvalidInput):  # the payload itself was unreadable
            preview = directory.preview_import(session, directory.text_of_payload(payload))
        return render(request, "admin/import.html", {"preview": preview, "error": exc.message, "errors": {}},
                      status_code=422)
    session.commit()
    return RedirectResponse("/admin/users?done=imported", status_code=303)


AuditFrom = Annotated[str, Query(alias="from", description="期間の始まり（YYYY-MM-DD、日本時間）")]
AuditTo = Annotated[str, Query(alias="to", description="期間の終わり（YYYY-MM-DD、その日を含む）")]


@router.get("/admin/audit")
def audit_page(request: Request, session: DbSession, principal: AdminPrincipal, kind: str = "", person: str = "",
               date_from: AuditFrom = "", date_to: AuditTo = "", page: PageQ = 1):
    typed = {"kind": kind, "person": person, "from": date_from, "to": date_to}
    context = {"kinds": directory.audit_kinds(session), "typed": typed, "errors": {}, "error": ""}
    try:
        flt = directory.audit_filter(session, kind=kind, person=person, date_from=date_from, date_to=date_to)
    except InvalidInput as exc:
        context.update(result=None, filter=None, errors=exc.fields, error=exc.message)
        return render(request, "admin/audit.html", context, block="audit", status_code=exc.status_code)
    context.update(result=directory.list_audit(session, flt, page=page), filter=flt)
    return render(request, "admin/audit.html", context, block="audit")
