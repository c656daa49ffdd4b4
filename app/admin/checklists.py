"""Admin pages for checklist versions (/admin/checklists): published versions, files not yet published, the
difference from the previous version, and publishing."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from app.auth import service as auth_service
from app.auth.deps import AdminPrincipal, admin_principal
from app.checklists import publishing
from app.checklists import service as checklists
from app.checklists.diff import CHANGE_LABELS
from app.checklists.loader import ChecklistDefinitionError, LoadedChecklist, load_directory
from app.errors import InvalidInput, NotFound
from app.rounds import service as rounds
from app.web.deps import DbSession, FormDep, SettingsDep, csrf_protect
from app.web.render import render

router = APIRouter(prefix="/admin/checklists", include_in_schema=False,
                   dependencies=[Depends(csrf_protect), Depends(admin_principal)])


def _files(settings) -> tuple[list[LoadedChecklist], ChecklistDefinitionError | None]:
    """The files as they are now (read on every request, so a file added since start-up shows up)."""
    try:
        return load_directory(settings.checklists_dir), None
    except ChecklistDefinitionError as exc:
        return [], exc


@router.get("")
def checklists_page(request: Request, session: DbSession, settings: SettingsDep, published: int | None = None):
    return render(request, "checklists/admin.html", _page_context(session, settings, published=published))


def _page_context(session, settings, *, published: int | None = None, upload_error: str = "",
                  upload_problems: list[str] | None = None) -> dict:
    files, problem = _files(settings)
    used_by: dict[int, list] = {}
    for r in rounds.list_rounds(session):
        used_by.setdefault(r.checklist_version_id, []).append(r)
    versions = checklists.list_versions(session)
    return {
        "versions": versions,
        "item_counts": {v.id: len(checklists.get_definition(session, v.id).items) for v in versions},
        "used_by": used_by,
        "entries": publishing.file_entries(session, files),
        "problem": problem,
        "published": published,
        "upload_error": upload_error,
        "upload_problems": upload_problems or [],
        "upload_max_kb": publishing.UPLOAD_MAX_BYTES // 1000,
    }


def _file(settings, path: str) -> LoadedChecklist:
    files, problem = _files(settings)
    found = publishing.find_file(files, path)
    if found is None:
        if problem is not None:
            raise NotFound(f"チェックシートのファイルに誤りがあるため読み込めません: {problem}")
        raise NotFound(f"ファイル「{path}」は checklists フォルダにありません。")
    return found


@router.get("/preview")
def preview_page(request: Request, session: DbSession, settings: SettingsDep, path: str = ""):
    preview = publishing.preview(session, _file(settings, path))
    return render(request, "checklists/preview.html", {"preview": preview, "d": preview.diff,
                                                       "CHANGE_LABELS": CHANGE_LABELS})


@router.post("/upload")
def upload_preview(request: Request, session: DbSession, settings: SettingsDep, form: FormDep):
    """A definition file from the browser: checked, then the same preview (differences) as a file on the server."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        context = _page_context(session, settings, upload_error="YAMLファイルを選んでください。")
        return render(request, "checklists/admin.html", context, status_code=422)
    raw = upload.file.read(publishing.UPLOAD_MAX_BYTES + 1)
    try:
        loaded = publishing.parse_upload(raw, upload.filename)
    except ChecklistDefinitionError as exc:
        context = _page_context(session, settings, upload_problems=exc.problems,
                                upload_error=f"「{exc.path}」は公開できる形になっていません。次の点を直してください。")
        return render(request, "checklists/admin.html", context, status_code=422)
    preview = publishing.preview(session, loaded)
    return render(request, "checklists/preview.html", {
        "preview": preview, "d": preview.diff, "CHANGE_LABELS": CHANGE_LABELS,
        "upload": {"data": base64.b64encode(raw).decode("ascii"), "filename": upload.filename}})


@router.post("/publish-upload")
def publish_upload(session: DbSession, principal: AdminPrincipal, form: FormDep):
    """Publish the uploaded file as previewed (sent back whole; its SHA-256 must be the one previewed)."""
    try:
        raw = base64.b64decode(str(form.get("data", "")), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("送信された内容が壊れています。もう一度ファイルを選んで確認してください。") from None
    try:
        loaded = publishing.parse_upload(raw, str(form.get("filename", "")))
    except ChecklistDefinitionError as exc:
        raise InvalidInput(f"{exc.path}: {'、'.join(exc.problems)}") from None
    return _publish(session, principal, loaded, str(form.get("sha256", "")))


def _publish(session, principal, loaded: LoadedChecklist, sha256: str) -> RedirectResponse:
    version = publishing.publish_file(session, loaded, actor_id=principal.user_id, expected_sha256=sha256)
    auth_service.audit(session, "checklist_publish", actor=principal,
                       detail={"checklist": version.checklist_id, "version": version.version, "path": loaded.path})
    session.commit()
    return RedirectResponse(f"/admin/checklists?published={version.id}", status_code=303)


@router.post("/publish")
def publish(session: DbSession, settings: SettingsDep, principal: AdminPrincipal, form: FormDep):
    return _publish(session, principal, _file(settings, str(form.get("path", ""))), str(form.get("sha256", "")))
