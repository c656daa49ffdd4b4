"""Admin pages for checklist versions (/admin/checklists): published versions, files not yet published, the
difference from the previous version, and publishing."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from app.auth import service as auth_service
from app.auth.deps import AdminPrincipal, admin_principal
from app.checklists import publishing
from app.checklists import service as checklists
from app.checklists.diff import CHANGE_LABELS
from app.checklists.loader import ChecklistDefinitionError, LoadedChecklist, load_directory
from app.errors import NotFound
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
    files, problem = _files(settings)
    used_by: dict[int, list] = {}
    for r in rounds.list_rounds(session):
        used_by.setdefault(r.checklist_version_id, []).append(r)
    versions = checklists.list_versions(session)
    return render(request, "checklists/admin.html", {
        "versions": versions,
        "item_counts": {v.id: len(checklists.get_definition(session, v.id).items) for v in versions},
        "used_by": used_by,
        "entries": publishing.file_entries(session, files),
        "problem": problem,
        "published": published,
    })


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


@router.post("/publish")
def publish(session: DbSession, settings: SettingsDep, principal: AdminPrincipal, form: FormDep):
    loaded = _file(settings, str(form.get("path", "")))
    version = publishing.publish_file(session, loaded, actor_id=principal.user_id,
                                      expected_sha256=str(form.get("sha256", "")))
    auth_service.audit(session, "checklist_publish", actor=principal,
                       detail={"checklist": version.checklist_id, "version": version.version, "path": loaded.path})
    session.commit()
    return RedirectResponse(f"/admin/checklists?published={version.id}", status_code=303)
