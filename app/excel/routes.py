"""The admin's import page: choose files → preview (dry run, per file and row) → apply, all or nothing;
and the desk's downloads page (``/desk/downloads``, see ``app.excel.downloads``).

The preview keeps what it read from the files in a signed, compressed hidden field, so the files are
uploaded once; applying checks everything again against the database and writes only if the result
is what the preview showed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.datastructures import UploadFile

from app.auth import directory, permissions
from app.auth.deps import AdminPrincipal, CurrentPrincipal
from app.auth.permissions import Principal
from app.config import Settings
from app.errors import Conflict, Forbidden, InvalidInput, TooLarge
from app.excel import downloads, importer, reader, writer
from app.excel.importer import ImportPlan
from app.jpdate import today_jst
from app.rounds import service as rounds
from app.rounds.models import RoundState
from app.web.deps import DbSession, FormDep, SettingsDep, csrf_protect
from app.web.nav import DESK_PAGES
from app.web.params import BureauQ, PageQ, RoundQ, ScopeQ
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

PAGE = "/admin/import"
MAX_FILES = 200
PLAN_MAX_AGE = 3600  # seconds between preview and apply
PLAN_MAX_CHARS = 900_000  # the hidden field must stay under the form parser's 1 MB part limit
_SALT = "paperless.excel-import"


@router.get("/desk/downloads")
def downloads_page(request: Request, session: DbSession, principal: CurrentPrincipal, round_id: RoundQ = None,
                   bureau: BureauQ = None, q: Annotated[str, Query(max_length=downloads.SEARCH_MAX)] = "",
                   page: PageQ = 1, scope: ScopeQ = ""):
    """「ダウンロード」: the rounds, and the chosen round's 部局 and 所属 (searched and paged; htmx swaps the list).
    ``scope`` (the desk's 集計の対象) does not filter downloads: it is only carried on to the desk's tabs."""
    view = downloads.downloads_page(session, principal, round_id, bureau_code=bureau or None, search=q, page=page,
                                    scope=scope or None)
    return render(request, "excel/downloads.html",
                  {"view": view, "DESK_PAGES": DESK_PAGES, "here": "/desk/downloads"}, block="sections")


@router.get("/admin/audit.csv")
def audit_csv(session: DbSession, principal: AdminPrincipal, kind: str = "", person: str = "",
              date_from: Annotated[str, Query(alias="from")] = "", date_to: Annotated[str, Query(alias="to")] = ""):
    """The audit log as filtered on its page (the same parameters), every row, UTF-8 with BOM."""
    flt = directory.audit_filter(session, kind=kind, person=person, date_from=date_from, date_to=date_to)
    rows = ((r.event.id, r.event.at, r.kind_label, r.event.actor_label,
             "；".join(f"{label}: {text}" for label, text in r.details)) for r in directory.audit_rows(session, flt))
    content = writer.write_audit_csv(rows)
    span = "_".join(d.isoformat() for d in (flt.date_from, flt.date_to) if d) or today_jst().isoformat()
    disposition = f"attachment; filename=\"audit-{span}.csv\"; filename*=UTF-8''{quote(f'監査ログ_{span}.csv', safe='')}"
    return Response(content, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})


def _require_admin(principal: Principal) -> None:
    refusal = permissions.why_not_admin(principal)
    if refusal:
        raise Forbidden(refusal)


def _context(session, *, selected: int | None = None, **extra: Any) -> dict:
    choices = [r for r in rounds.list_rounds(session) if r.state != RoundState.PREPARING]
    current = rounds.current_round(session)
    return {"rounds": choices, "selected": selected or (current.id if current else None), "plan": None,
            "token": None, "error": None, "field_errors": {}, "done": None, **extra}


def _page(request: Request, session, settings: Settings, status: int = 200, **extra: Any):
    context = _context(session, **extra)
    context["max_mb"] = settings.max_upload_bytes / 1_000_000
    context["limits"] = reader.Limits.from_settings(settings)
    return render(request, "excel/import.html", context, status_code=status)


@router.get(PAGE)
def import_page(request: Request, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep,
                round: int | None = None, sections: int | None = None, answers: int | None = None):
    _require_admin(principal)
    done = (sections, answers) if sections is not None and answers is not None else None
    return _page(request, session, settings, selected=round, done=done)


async def _one_import_at_a_time() -> AsyncIterator[None]:
    """Taken before the request's database session (on SQLite a POST first waits for the one writer), and
    let go before the response is sent. A second import meanwhile gets ``importer.ImportRunning`` (503, Retry-After)."""
    with importer.import_slot():
        yield


ONE_IMPORT = Depends(_one_import_at_a_time, scope="function")


@router.post(f"{PAGE}/preview", dependencies=[ONE_IMPORT])
def preview(request: Request, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep, form: FormDep):
    _require_admin(principal)
    raw_round = form.get("round_id")
    round_id = int(raw_round) if isinstance(raw_round, str) and raw_round.isdigit() else None
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    field_errors = {}
    if round_id is None:
        field_errors["round_id"] = "取り込む調査回を選んでください。"
    if not uploads:
        field_errors["files"] = "取り込むファイル（.xlsx）を選んでください。"
    elif len(uploads) > MAX_FILES:
        field_errors["files"] = (f"一度に選べるファイルは{MAX_FILES}個までです（{len(uploads)}個）。"
                                 "分けて取り込んでください。")
    if field_errors:
        return _page(request, session, settings, 422, selected=round_id, field_errors=field_errors,
                     error="入力内容を確認してください。")
    limits = reader.Limits.from_settings(settings)
    try:
        files = reader.read_upload([(u.filename, u.file.read(limits.max_file_bytes + 1)) for u in uploads], limits)
        plan = importer.plan_import(session, round_id, files)
    except (TooLarge, InvalidInput) as exc:  # a limit of the upload (naming the file), or the round
        return _page(request, session, settings, exc.status_code, selected=round_id, error=exc.message)
    return _preview(request, session, settings, principal, plan, files)


def _preview(request, session, settings: Settings, principal: Principal, plan: ImportPlan,
             files: list[reader.ParsedFile], *, status: int | None = None, error: str | None = None):
    token = None
    if plan.ok:
        token = _serializer(settings).dumps(
            {"u": principal.user_id, "r": plan.round.id, "fp": plan.fingerprint(), "f": [f.to_dict() for f in files]})
        if len(token) > PLAN_MAX_CHARS:
            token = None
            error = ("一度に取り込むには内容が多すぎます。ファイルを分けて取り込んでください"
                     "（またはコマンド paperless import xlsx を使ってください）。")
    failed = token is None
    return _page(request, session, settings, status or (422 if failed else 200), selected=plan.round.id, plan=plan,
                 token=token, error=error)


@router.post(f"{PAGE}/apply", dependencies=[ONE_IMPORT])
def apply(request: Request, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep, form: FormDep):
    _require_admin(principal)
    payload = _unsign(settings, form.get("plan"), principal)
    files = [reader.ParsedFile.from_dict(data) for data in payload["f"]]
    plan = importer.plan_import(session, payload["r"], files)
    if not plan.ok:
        return _preview(request, session, settings, principal, plan, files,
                        error="取り込めない内容があります。何も取り込んでいません。")
    if plan.fingerprint() != payload["fp"]:
        return _preview(request, session, settings, principal, plan, files, status=409,
                        error="確認の後にチェックシートの内容が変わりました。変更内容を確認して、もう一度「取り込む」を押してください。")
    try:
        sheets, answers = importer.apply_import(session, plan, actor=principal)
    except Conflict as exc:
        session.rollback()
        plan = importer.plan_import(session, payload["r"], files)
        return _preview(request, session, settings, principal, plan, files, status=409, error=exc.message)
    session.commit()
    return RedirectResponse(f"{PAGE}?round={plan.round.id}&sections={sheets}&answers={answers}", status_code=303)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret(), salt=_SALT)


def _unsign(settings: Settings, token: object, principal: Principal) -> dict:
    again = "もう一度ファイルを選んで「内容を確認する」からやり直してください。何も取り込んでいません。"
    if not isinstance(token, str) or not token:
        raise InvalidInput("確認結果がありません。" + again)
    try:
        payload = _serializer(settings).loads(token, max_age=PLAN_MAX_AGE)
    except SignatureExpired:
        raise InvalidInput(f"確認してから{PLAN_MAX_AGE // 60}分以上たったため、取り込めません。" + again) from None
    except BadSignature:
        raise InvalidInput("確認結果が壊れているか、改ざんされています。" + again) from None
    if payload.get("u") != principal.user_id:
        raise Forbidden("ほかの人が確認した取り込みは実行できません。" + again)
    return payload
