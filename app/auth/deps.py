"""The signed-in person of a request (session cookie or API token): the only code that reads identity
from the request. Routes take ``CurrentPrincipal`` (401 / sign-in redirect when nobody is signed in)
or ``AdminPrincipal`` (403 with the reason for anyone but an administrator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth import permissions, tokens
from app.auth import service as auth_service
from app.auth.permissions import Principal
from app.errors import Forbidden, LoginRequired
from app.web import session as web_session
from app.web.deps import DbSession, SettingsDep

# Dependencies that only look at values already loaded are ``async def``: FastAPI runs a plain ``def``
# dependency in the thread pool, a hop that costs more than the check itself.


def optional_principal(request: Request, session: DbSession, settings: SettingsDep) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = None
    token = _bearer(request)
    if token is not None:
        principal = tokens.principal_for(session, token, method=request.method)
    else:
        uid = web_session.user_id(request.session, settings)
        if uid is not None:
            principal = auth_service.load_principal(session, uid, generation=web_session.generation(request.session),
                                                    dev=request.session.get("via") == "dev")
            if principal is None:  # disabled, removed or its sessions ended since sign-in
                web_session.end(request.session)
    request.state.principal = principal
    return principal


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise LoginRequired()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def admin_principal(principal: CurrentPrincipal) -> Principal:
    """The signed-in person, if an administrator (403 with the reason otherwise)."""
    refusal = permissions.why_not_admin(principal)
    if refusal:
        raise Forbidden(refusal)
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
