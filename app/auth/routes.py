"""Sign-in (development sign-in for now), sign-out, and ``/api/v1/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from app.auth import service as auth_service
from app.auth.permissions import Principal
from app.errors import NotFound
from app.orgs.models import Unit
from app.web import session as web_session
from app.web.deps import CurrentPrincipal, DbSession, SettingsDep, csrf_protect, optional_principal
from app.web.render import render
from app.web.urls import safe_next

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get("/auth/login", include_in_schema=False)
def login_page(request: Request, session: DbSession, settings: SettingsDep,
               principal: Annotated[Principal | None, Depends(optional_principal)], next: str = "/"):
    target = safe_next(next)
    if principal is not None:
        return RedirectResponse(target, status_code=303)
    users = auth_service.dev_users(session) if settings.auth == "dev" else []
    return render(request, "auth/login.html", {
        "next": target, "groups": auth_service.group_dev_users(session, users),
        "more": len(users) >= auth_service.DEV_PICKER_LIMIT,
    })


@router.post("/auth/dev-login", include_in_schema=True, status_code=303, summary="Development sign-in")
def dev_login(request: Request, session: DbSession, settings: SettingsDep, upn: Annotated[str, Form()],
              next: Annotated[str, Form()] = "/"):
    """Sign in as a demo user (only with ``PAPERLESS_AUTH=dev``; 404 otherwise)."""
    if settings.auth != "dev":
        raise NotFound()
    user = auth_service.dev_sign_in(session, upn)
    session.commit()
    web_session.start(request.session, user.id, "dev")
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/auth/logout", include_in_schema=False)
def logout_page(request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]):
    if principal is None:
        return RedirectResponse("/auth/login", status_code=303)
    return render(request, "auth/logout.html", {})


@router.post("/auth/logout", include_in_schema=False)
def logout(request: Request, session: DbSession, principal: Annotated[Principal | None, Depends(optional_principal)]):
    if principal is not None:
        auth_service.audit(session, "sign_out", actor=principal)
        session.commit()
    web_session.end(request.session)
    return RedirectResponse("/auth/login", status_code=303)


class Me(BaseModel):
    upn: str
    display_name: str
    roles: list[str]
    section_code: str | None
    sections: dict[str, str]
    csrf_token: str


@router.get("/api/v1/me", response_model=Me, tags=["me"])
def me(request: Request, session: DbSession, principal: CurrentPrincipal) -> Me:
    """The signed-in user, their roles, their 所属 code and the CSRF token for state-changing calls."""
    codes = {session.get(Unit, uid).code: role.value for uid, role in principal.sections.items()}
    return Me(
        upn=principal.upn,
        display_name=principal.display_name,
        roles=principal.roles,
        section_code=next(iter(sorted(codes)), None),
        sections=codes,
        csrf_token=web_session.csrf_token(request.session),
    )
