"""Evidence on the sheet page (根拠資料, app/sheets/evidence.py): add a link or a file to an item, remove one, and
download a file. The item's form is multipart, outside the sheet's form (its fields point at it with ``form=``):
without JavaScript it posts and comes back to the item; htmx swaps the item's evidence box alone. The page ships
closed boxes without their fields and forms: 「追加・削除」 asks for one box (GET, the same address as the changes),
htmx swaps it in with its forms, without JavaScript the link reloads the page with that box open. The add route
lives under ``/evidence/`` (an upload prefix of the body limit, app/main.py)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from app.auth.deps import CurrentPrincipal
from app.errors import InvalidInput
from app.sheets import evidence, service
from app.sheets.routes import _page_context
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.htmx import wants_fragment
from app.web.params import MAX_ID, Code, ItemKey, RoundId
from app.web.render import render
from app.web.urls import sheet_url

EvidenceId = Annotated[int, Path(ge=1, le=MAX_ID, description="根拠資料のID")]
router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

UPLOAD_PREFIX = "/evidence/"


def evidence_url(round_id: int, code: str, item_key: str) -> str:
    return f"{UPLOAD_PREFIX}rounds/{round_id}/sections/{code}/items/{item_key}"


def _text(form, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.get(UPLOAD_PREFIX + "rounds/{round_id}/sections/{code}/items/{item_key}")
def evidence_box(request: Request, round_id: RoundId, code: Code, item_key: ItemKey, session: DbSession,
                 principal: CurrentPrincipal):
    """「追加・削除」: the item's box with its fields, and its forms out of band (into #evidence-forms, outside the
    sheet's form); for whoever may change the evidence, as the changes themselves."""
    view = service.get_sheet_for(session, principal, round_id, code)
    evidence.check_edit(session, principal, view)
    item = view.definition.item(item_key)
    if not wants_fragment(request):
        return RedirectResponse(f"{sheet_url(round_id, code)}?evidence={item.position}#evb{item.position}",
                                status_code=303)
    context = {**_page_context(session, view, principal=principal, fragment=True), "item": item,
               "evidence_forms_oob": True}
    return render(request, "sheets/sheet.html", context, block="evidence_box")


@router.post(UPLOAD_PREFIX + "rounds/{round_id}/sections/{code}/items/{item_key}")
def change_evidence(request: Request, round_id: RoundId, code: Code, item_key: ItemKey, session: DbSession,
                    principal: CurrentPrincipal, form: FormDep):
    """「リンクを追加」 (do=link: url, label), 「ファイルを添付」 (do=file: file) or 「削除」 (remove=<id>)."""
    limits = evidence.limits_of(request.app.state.settings)
    done = ""
    try:
        removing = _text(form, "remove")
        if removing:
            if not removing.isdigit():
                raise InvalidInput("削除する根拠資料が正しく指定されていません。")
            name = evidence.remove(session, principal, round_id, code, item_key, int(removing))
            done = f"削除しました: {name}"
        elif _text(form, "do") == "file":
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise InvalidInput("添付するファイルを選んでください。", fields={"file": "ファイルを選んでください。"})
            data = upload.file.read(limits.max_file_bytes + 1)
            evidence.add_file(session, principal, round_id, code, item_key, filename=upload.filename, data=data,
                              limits=limits)
            done = "ファイルを添付しました。"
        else:
            evidence.add_link(session, principal, round_id, code, item_key, url=_text(form, "url"),
                              label=_text(form, "label"), limits=limits)
            done = "リンクを追加しました。"
    except InvalidInput as exc:
        session.rollback()
        return _answer(request, session, principal, round_id, code, item_key, error=exc.message,
                       typed=(_text(form, "url"), _text(form, "label")), status_code=exc.status_code)
    session.commit()
    return _answer(request, session, principal, round_id, code, item_key, done=done)


def _answer(request: Request, session, principal, round_id: int, code: str, item_key: str, *, done: str = "",
            error: str = "", typed: tuple[str, str] = ("", ""), status_code: int = 200):
    view = service.get_sheet_for(session, principal, round_id, code)
    item = view.definition.item(item_key)
    if not wants_fragment(request) and not error:  # the plain form: back to the item, its box open
        return RedirectResponse(f"{sheet_url(round_id, code)}?evidence={item.position}#evb{item.position}",
                                status_code=303)
    context = {**_page_context(session, view, principal=principal, fragment=wants_fragment(request)),
               "item": item, "evidence_done": done, "evidence_error": error, "evidence_item": item.key,
               "evidence_typed": typed}
    if wants_fragment(request):
        return render(request, "sheets/sheet.html", context, block="evidence_box", status_code=status_code)
    return render(request, "sheets/sheet.html", context, status_code=status_code)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one in RFC 5987 form (Japanese names)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/rounds/{round_id}/sections/{code}/evidence/{evidence_id}")
def download(round_id: RoundId, code: Code, evidence_id: EvidenceId, session: DbSession, principal: CurrentPrincipal):
    """A file, always as an attachment: its sniffed type, never rendered by the browser (nosniff, sandbox)."""
    view = service.get_sheet_for(session, principal, round_id, code)
    found = evidence.file_for(session, principal, view, evidence_id)
    return Response(found.data, media_type=found.content_type, headers={
        "Content-Disposition": content_disposition(found.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    })

