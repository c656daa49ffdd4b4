"""The API's OpenAPI schema, as the app really answers: every error is ``ApiError`` (a Japanese ``detail``
and, for 422, ``errors`` per field), and every operation documents the refusals any request may get."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

ERROR_REF = {"$ref": "#/components/schemas/ApiError"}
# Refusals any API request may get, whatever the route (described once here, not on every route).
COMMON = {
    "401": "Not signed in (no or expired session, no or unknown token)",
    "403": "Not allowed, or the X-CSRF-Token header is missing or wrong on a state-changing request",
    "413": "Request body too large (refused before it is read)",
    "422": "Invalid input; `errors` names each field with a message",
    "503": "The database does not answer (retry after the Retry-After seconds)",
}
PUBLIC = {"/healthz", "/auth/dev-login"}  # no sign-in needed: no 401 or 403


class ApiError(BaseModel):
    """Every error of the API: ``detail`` is a message a person can act on (Japanese)."""

    model_config = ConfigDict(extra="allow")
    detail: str
    errors: dict[str, str] | None = Field(default=None, description="field → message (422)")


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes, tags=app.openapi_tags)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ApiError"] = ApiError.model_json_schema(ref_template="#/components/schemas/{model}")
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
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
