"""Rendering pages and their htmx fragments from the same template."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.web import session as web_session
from app.web.htmx import wants_fragment
from app.web.nav import menu_for


def base_context(request: Request) -> dict[str, Any]:
    """What every page's layout needs: who is signed in, the CSRF token, the dev-sign-in banner."""
    settings = request.app.state.settings
    principal = getattr(request.state, "principal", None)
    return {
        "principal": principal,
        "menu": menu_for(principal, request.url.path),
        "csrf_token": web_session.csrf_token(request.session),
        "dev_auth": settings.auth == "dev",
        "path": request.url.path,
    }


def render(request: Request, template: str, context: dict[str, Any], *, block: str | None = None,
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The whole page, or only ``block`` when htmx asks for a fragment."""
    templates = request.app.state.templates
    fragment = block if block and wants_fragment(request) else None
    response = templates.TemplateResponse(
        request, template, {**base_context(request), **context}, block_name=fragment, status_code=status_code
    )
    response.headers["Vary"] = "HX-Request"
    if headers:
        response.headers.update(headers)
    return response
