"""The API's OpenAPI schema, as the app really answers: every error is ``ApiError`` (a Japanese ``detail``
and, for 422, ``errors`` per field), and every operation documents the refusals any request may get."""

from __future__ import annotations

from typing import get_args

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


class ApiError(BaseModel):
    """Every error of the API: ``detail`` is a message a person can act on (Japanese)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"detail": "達成状況「☆」は使えません。◎ ○ △ × 該当なし のいずれかを選んでください。",
         "errors": {"status": "◎ ○ △ × 該当なし のいずれかを選んでください。"}}]})
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
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ApiError"] = ApiError.model_json_schema(ref_template="#/components/schemas/{model}")
        # get_openapi drops every null (exclude_none), examples' nulls too: put the models' own examples back.
        for name, model in _models(app.routes).items():
            examples = _examples(model)
            if examples and name in components:
                components[name]["examples"] = jsonable_encoder(examples)
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
