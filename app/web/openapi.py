"""The API's OpenAPI schema, as the app really answers: every error is ``ApiError`` (a Japanese ``detail``
and, for 422, ``errors`` per field), and every operation documents the refusals any request may get."""

from __future__ import annotations

from typing import Literal, get_args

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

ERROR_REF = {"$ref": "#/components/schemas/ApiError"}
# Refusals any API request may get, whatever the route (described once here, not on every route).
COMMON = {
    "401": "Not signed in (no or expired session, no or unknown token)",
    "403": "Not allowed, or the X-CSRF-Token header is missing or wrong on a state-changing request",
    "413": "Request body too large (refused before it is read)",
    "422": "Invalid input; `errors` names each field with a message",
    "503": "The database does not answer, or is busy (retry after the Retry-After seconds)",
}
PUBLIC = {"/healthz", "/auth/dev-login"}  # no sign-in needed: no 401 or 403
SESSION_COOKIE = "paperless_session"
CSRF_HEADER = "X-CSRF-Token"
SECURITY_SCHEMES = {
    "bearerToken": {
        "type": "http", "scheme": "bearer",
        "description": "A personal API token (`pct_…`, created on the APIトークン page by the desk or an admin): "
                       "read-only, GET requests only (Power BI, Power Query)."},
    "sessionCookie": {
        "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
        "description": "The signed session cookie of a browser sign-in (Entra ID)."},
    "csrfToken": {
        "type": "apiKey", "in": "header", "name": CSRF_HEADER,
        "description": "With the session cookie on every state-changing request: the `csrf_token` of "
                       "`GET /api/v1/me` (or of the page's `<body hx-headers>`)."},
}
READ_SECURITY = [{"bearerToken": []}, {"sessionCookie": []}]  # GET: a token or a session
WRITE_SECURITY = [{"sessionCookie": [], "csrfToken": []}]  # PUT/POST/PATCH/DELETE: a session and its CSRF token
DESCRIPTION = """The JSON API of ペーパーレス化状況チェック (Paperless Check), Toyama Prefecture: the same services as the pages.

* **Authentication**: reads (`GET`) take a read-only personal API token (`Authorization: Bearer pct_…`) or the
  browser's session cookie; changes take the session cookie and its `X-CSRF-Token` header (tokens never write).
* **Errors** are JSON `{"code": …, "detail": …}`: `code` is stable and machine-readable (see `ErrorCode`),
  `detail` a Japanese message a person can act on; a 422 adds `errors` (field → message).
* **Exports**: CSV (UTF-8 with BOM, or Shift_JIS) and XLSX in the prefecture's sheet layout; the flat table for
  Power BI is `/api/v1/analysis/answers` (cursor-paged, `since=` for incremental refresh).
* Dates in JSON are ISO 8601; names and messages are Japanese.
"""


ErrorCode = Literal["bad_request", "login_required", "forbidden", "not_found", "method_not_allowed", "conflict",
                    "too_large", "invalid_input", "internal", "unavailable", "busy"]


class ApiError(BaseModel):
    """Every error of the API: ``code`` for programs, ``detail`` a message a person can act on (Japanese)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"code": "invalid_input", "detail": "達成状況「☆」は使えません。◎ ○ △ × 該当なし のいずれかを選んでください。",
         "errors": {"status": "◎ ○ △ × 該当なし のいずれかを選んでください。"}}]})
    code: ErrorCode = Field(description="what kind of error, stable for programs: login_required 401, forbidden 403, "
                                        "not_found 404, conflict 409, too_large 413, invalid_input 422, "
                                        "unavailable/busy 503 (retry after Retry-After), internal 500")
    detail: str = Field(description="what went wrong and what to do, in Japanese")
    errors: dict[str, str] | None = Field(default=None, description="field → message (422)")


def _models(routes) -> dict[str, type[BaseModel]]:
    """Every pydantic model the API's responses and bodies are made of, by name (the schema's component names)."""
    found: dict[str, type[BaseModel]] = {}

    def visit(annotation) -> None:
        for arg in get_args(annotation):
            visit(arg)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation.__name__ not in found:
            found[annotation.__name__] = annotation
            for field in annotation.model_fields.values():
                visit(field.annotation)

    for context in iter_route_contexts(routes):
        route = context.route
        if isinstance(route, APIRoute):
            visit(route.response_model)
            if route.body_field is not None:
                visit(route.body_field.field_info.annotation)
    return found


def _examples(model: type[BaseModel]) -> list | None:
    extra = model.model_config.get("json_schema_extra")
    return extra.get("examples") if isinstance(extra, dict) else None


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes, tags=app.openapi_tags)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ApiError"] = ApiError.model_json_schema(ref_template="#/components/schemas/{model}")
        # get_openapi drops every null (exclude_none), examples' nulls too: put the models' own examples back.
        for name, model in _models(app.routes).items():
            examples = _examples(model)
            if examples and name in components:
                components[name]["examples"] = jsonable_encoder(examples)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if path in PUBLIC:
                    operation["security"] = []
                else:
                    operation["security"] = READ_SECURITY if method in ("get", "head") else WRITE_SECURITY
                responses = operation.setdefault("responses", {})
                for code, text in COMMON.items():
                    if path in PUBLIC and code in ("401", "403"):
                        continue
                    responses.setdefault(code, {"description": text})
                for code, response in responses.items():
                    if code[0] in "45":
                        response["content"] = {"application/json": {"schema": ERROR_REF}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
