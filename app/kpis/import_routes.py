"""The desk's bulk import of figures: upload → column mapping → preview (dry run) → apply. Thin routes; the
file is kept in ``kpi_upload`` between the steps (no process state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from app.auth import permissions
from app.auth.deps import CurrentPrincipal
from app.errors import Conflict, Forbidden, InvalidInput, TooLarge
from app.jpdate import today_jst
from app.kpis import importer
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.params import MAX_ID
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

UploadId = Annotated[int, Path(ge=1, le=MAX_ID, description="取込みのID")]
BASE = "/desk/figures/import"


def _check(principal) -> None:
    refusal = permissions.why_not_import_figures(principal)
    if refusal:
        raise Forbidden(refusal)


@router.get(BASE)
def import_page(request: Request, session: DbSession, principal: CurrentPrincipal):
    _check(principal)
    return render(request, "kpis/import.html", {"uploads": importer.recent_uploads(session), "errors": {},
                                                "max_mb": request.app.state.settings.max_upload_bytes / 1_000_000})


@router.post(BASE)
def upload(request: Request, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    _check(principal)
    settings = request.app.state.settings
    file = form.get("file")
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise InvalidInput("取り込むファイル（.csv か .xlsx）を選んでください。")
        data = file.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise TooLarge(f"ファイルが大きすぎます（{settings.max_upload_bytes // 1_000_000}MBまで）。")
        upload_id = importer.upload(session, principal, file.filename, data,
                                    max_expanded_bytes=settings.import_max_expanded_bytes)
    except (InvalidInput, TooLarge) as exc:
        session.rollback()
        return render(request, "kpis/import.html", {"uploads": importer.recent_uploads(session),
                                                    "errors": {"file": exc.message},
                                                    "max_mb": settings.max_upload_bytes / 1_000_000},
                      status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"{BASE}/{upload_id}", status_code=303)


def _context(request: Request, session, principal, upload_id: int, params) -> tuple[dict, int]:
    settings = request.app.state.settings
    catalogue = request.app.state.kpis
    row = importer.get_upload(session, principal, upload_id)
    table = importer.table_of(row, max_expanded_bytes=settings.import_max_expanded_bytes)
    mapping = importer.column_map(params)
    context = {"upload": row, "table": table, "mapping": mapping, "figures": catalogue.entered, "plan": None,
               "names": {f.key: f.name for f in catalogue.entered},
               "errors": {}, "error": None, "applied": params.get("applied")}
    status = 200
    if params.get("preview") or request.method == "POST":
        try:
            context["plan"] = importer.preview(session, table, mapping, catalogue, today=today_jst())
        except InvalidInput as exc:
            context["errors"], context["error"], status = exc.fields, exc.message, exc.status_code
    return context, status


@router.get(BASE + "/{upload_id}")
def mapping_page(request: Request, upload_id: UploadId, session: DbSession, principal: CurrentPrincipal):
    """The column mapping; with ?preview=1 the dry run of the mapping below it."""
    context, status = _context(request, session, principal, upload_id, request.query_params)
    return render(request, "kpis/import_map.html", context, status_code=status)


@router.post(BASE + "/{upload_id}/apply")
def apply(request: Request, upload_id: UploadId, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    settings = request.app.state.settings
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    row = importer.get_upload(session, principal, upload_id)
    table = importer.table_of(row, max_expanded_bytes=settings.import_max_expanded_bytes)
    try:
        importer.apply(session, principal, row, table, importer.column_map(params), request.app.state.kpis,
                       today=today_jst(), expected_sha256=params.get("sha256", ""))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        context, _status = _context(request, session, principal, upload_id, {**params, "preview": "1"})
        context["error"] = exc.message
        return render(request, "kpis/import_map.html", context, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"{BASE}/{upload_id}?applied=1", status_code=303)
