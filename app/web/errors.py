"""One renderer for every error: a JSON body for the API, an inline message for htmx, a page otherwise."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError, Busy, Conflict, InvalidInput, LoginRequired, Unavailable
from app.text import check_text
from app.web.htmx import is_api, wants_fragment
from app.web.middleware import BodyTooLarge
from app.web.render import base_context

log = logging.getLogger("paperless")
RETRY_AFTER_SECONDS = "5"  # on every 503: the database is down or busy; a browser or client may retry

_HTTP_MESSAGES = {
    400: "リクエストの形式が正しくありません。",
    401: "サインインしてください。",
    403: "この操作を行う権限がありません。",
    404: "お探しのページは見つかりません。URLを確認してください。",
    405: "この操作はこのURLでは行えません。",
    415: "この形式のデータは受け付けられません。",
    422: "入力内容を確認してください。",
}


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _db_unavailable)
    app.add_exception_handler(PoolTimeout, _db_busy)  # no connection free within PAPERLESS_DB_WAIT_SECONDS
    app.add_exception_handler(DataError, _db_data_error)
    app.add_exception_handler(IntegrityError, _db_integrity_error)
    app.add_exception_handler(DBAPIError, _db_error)
    app.add_exception_handler(Exception, _unexpected)


# The ``code`` of an API error body by HTTP status, when no AppError names its own (see ApiError).
STATUS_CODES = {400: "bad_request", 401: "login_required", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_input",
                500: "internal", 503: "unavailable"}


def error_code(status: int) -> str:
    return STATUS_CODES.get(status, "bad_request" if status < 500 else "internal")


def render_error(request: Request, status: int, message: str, *, fields: dict | None = None,
                 extra: dict | None = None, code: str | None = None) -> Response:
    if is_api(request):
        body = {"code": code or error_code(status), "detail": message}
        if fields:
            body["errors"] = fields
        if extra:
            body.update(extra)
        return JSONResponse(body, status_code=status)
    templates = request.app.state.templates
    context = {**base_context(request), "status": status, "message": message, "fields": fields or {}}
    if wants_fragment(request):
        response = templates.TemplateResponse(request, "errors/_inline.html", context, status_code=status)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return templates.TemplateResponse(request, "errors/error.html", context, status_code=status)


async def _app_error(request: Request, exc: AppError) -> Response:
    if isinstance(exc, LoginRequired) and not is_api(request):
        target = "/auth/login?next=" + quote(_return_path(request), safe="/")
        if wants_fragment(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    response = render_error(request, exc.status_code, exc.message, fields=exc.fields, extra=exc.extra, code=exc.code)
    if isinstance(exc, Unavailable):
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    if isinstance(exc, LoginRequired):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _return_path(request: Request) -> str:
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return request.headers.get("HX-Current-URL", "/") if wants_fragment(request) else "/"


_PYDANTIC_MESSAGES = {
    "json_invalid": "JSONとして読めません。",
    "missing": "がありません。",
    "int_parsing": "は整数で指定してください。",
    "int_type": "は整数で指定してください。",
    "string_type": "は文字列で指定してください。",
    "model_attributes_type": "はJSONオブジェクトで指定してください。",
    "dict_type": "はJSONオブジェクトで指定してください。",
    "string_too_long": "が長すぎます。",
    "extra_forbidden": "は使えない項目です。",
    "literal_error": "の値が使えません。",
}


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    fields = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        name = ".".join(loc) or "body"
        if err["type"] == "value_error":
            fields[name] = str(err.get("ctx", {}).get("error", err["msg"]))
        elif err["type"] == "json_invalid":
            fields["body"] = _PYDANTIC_MESSAGES["json_invalid"]
        elif err["type"] == "string_unicode" and isinstance(err.get("input"), str):  # a lone surrogate
            fields[name] = check_text(err["input"], name, multiline=True)[1] or f"{name} は文字列で指定してください。"
        else:
            fields[name] = f"{name} " + _PYDANTIC_MESSAGES.get(err["type"], "の値が正しくありません。")
    message = "入力内容を確認してください: " + " ".join(fields.values())
    return render_error(request, InvalidInput.status_code, message, fields=fields)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if isinstance(exc, BodyTooLarge):
        raise exc  # answered by the BodyLimit middleware
    message = _HTTP_MESSAGES.get(exc.status_code, "リクエストを処理できませんでした。")
    response = render_error(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _db_unavailable(request: Request, exc: OperationalError | DBAPIError) -> Response:
    log.warning("database unavailable: %s", exc.__class__.__name__)
    return await _app_error(request, Unavailable())


async def _db_busy(request: Request, exc: PoolTimeout) -> Response:
    """Every connection of the pool stayed busy for PAPERLESS_DB_WAIT_SECONDS (``DbGate``, or the pool)."""
    log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
    return await _app_error(request, Busy())


async def _db_data_error(request: Request, exc: DataError) -> Response:
    """The database refused a value (a NUL character, a number out of range, a string too long): the
    request's fault, not the server's. Services validate what they know; this is the backstop."""
    log.info("database refused a value on %s %s: %s", request.method, request.url.path,
             exc.orig.__class__.__name__)
    return render_error(request, InvalidInput.status_code,
                        "入力に使えない文字（制御文字など）が含まれているか、値が大きすぎます。入力内容を確認してください。")


async def _db_integrity_error(request: Request, exc: IntegrityError) -> Response:
    """A uniqueness or reference rule refused a write that two people made at the same moment (services
    check what they can first; this is the backstop): a conflict to look at again, not a server error."""
    log.warning("database refused a write as a conflict on %s %s: %s", request.method, request.url.path,
                exc.orig.__class__.__name__)
    return render_error(request, Conflict.status_code,
                        "同時に別の変更が行われたため、保存できませんでした。画面を再読み込みして内容を確認してください。")


async def _db_error(request: Request, exc: DBAPIError) -> Response:
    if exc.connection_invalidated:
        return await _db_unavailable(request, exc)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Unavailable):
        return await _app_error(request, exc)
    request_id = uuid.uuid4().hex[:12]
    log.exception("unexpected error %s on %s %s", request_id, request.method, request.url.path)
    return render_error(
        request,
        500,
        f"システムエラーが発生しました。お手数ですが業務DX相談窓口へお知らせください（番号 {request_id}）。",
    )
