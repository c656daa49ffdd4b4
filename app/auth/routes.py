"""Sign-in (Microsoft 365 through Entra ID, or the development sign-in), sign-out, ``/api/v1/me``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth import flows
from app.auth import service as auth_service
from app.auth.deps import CurrentPrincipal, optional_principal
from app.auth.entra import Entra, ProviderUnavailable, SignInFailed
from app.auth.permissions import Principal
from app.errors import NotFound, Unavailable
from app.web import session as web_session
from app.web.deps import DbSession, FormDep, SettingsDep, csrf_protect
from app.web.render import render
from app.web.schemas import SectionRef, section_ref
from app.web.urls import safe_next

router = APIRouter(dependencies=[Depends(csrf_protect)])
# Entra posts the sign-in result here from its own site (response_mode=form_post): that request cannot
# carry our CSRF token. It is protected instead by the state, nonce and PKCE verifier that only this
# browser's sign-in cookie holds (app.auth.flows), and it changes nothing but who is signed in.
callback_router = APIRouter()

PROVIDER_DOWN = ("Microsoft 365 のサインイン画面に接続できません。しばらくしてから再度お試しください。"
                 "続く場合は業務DX相談窓口へお知らせください。")


def _entra(request: Request) -> Entra:
    entra = getattr(request.app.state, "entra", None)
    if entra is None:
        raise NotFound()
    return entra


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/auth/login", include_in_schema=False)
def login_page(request: Request, session: DbSession, settings: SettingsDep,
               principal: Annotated[Principal | None, Depends(optional_principal)], next: str = "/",
               prompt: str | None = None):
    """Development: the demo-user picker. Microsoft 365: straight on to Entra's sign-in page."""
    target = safe_next(next)
    if principal is not None and prompt is None:
        return RedirectResponse(target, status_code=303)
    if settings.auth == "msal":
        try:
            auth_uri, flow = _entra(request).begin(target, prompt=prompt)
        except ProviderUnavailable as exc:
            raise Unavailable(PROVIDER_DOWN) from exc
        response = RedirectResponse(auth_uri, status_code=303)
        flows.remember(request, response, settings, flow)
        return response
    users = auth_service.dev_users(session)
    return render(request, "auth/login.html", {
        "next": target, "groups": auth_service.group_dev_users(session, users),
        "more": len(users) >= auth_service.DEV_PICKER_LIMIT,
    })


@callback_router.api_route("/auth/callback", methods=["GET", "POST"], include_in_schema=False)
def callback(request: Request, session: DbSession, settings: SettingsDep, form: FormDep):
    """Where Entra returns (GET with a query, or a form_post POST): finish the sign-in."""
    entra = _entra(request)
    params = {k: v for k, v in (form if request.method == "POST" else request.query_params).items()
              if isinstance(v, str)}
    flow, others = flows.take(request, settings, params.get("state"))
    ip = _client_ip(request)
    if flow is None:
        auth_service.record_failed_sign_in(session, "state", ip=ip)
        session.commit()
        return _refused(request, settings, others, status=400, reason="state",
                        message="サインインの確認情報が見つからないか、期限が切れています（別のタブで完了した、"
                                "または時間がたちすぎた可能性があります）。もう一度サインインしてください。")
    try:
        identity = entra.finish(flow, params)
    except SignInFailed as exc:
        auth_service.record_failed_sign_in(session, exc.reason, ip=ip)
        session.commit()
        web_session.end(request.session)
        status = 403 if exc.reason == "wrong_tenant" else 400
        refusal = auth_service.REFUSALS["wrong_tenant"] if exc.reason == "wrong_tenant" else exc.message
        return _refused(request, settings, others, status=status, reason=exc.reason, message=refusal)
    except ProviderUnavailable as exc:
        raise Unavailable(PROVIDER_DOWN) from exc
    result = auth_service.sign_in_with_entra(session, identity, tenant_id=settings.entra_tenant_id, ip=ip)
    session.commit()
    if result.user is None:
        web_session.end(request.session)
        return _refused(request, settings, others, status=403, reason=result.refusal, message=result.message,
                        upn=identity.upn)
    web_session.start(request.session, result.user.id, "msal", result.user.session_generation)
    response = RedirectResponse(safe_next(flow.next), status_code=303)
    flows.store(response, settings, others)
    return response


def _refused(request: Request, settings, others, *, status: int, reason: str, message: str, upn: str = ""):
    response = render(request, "auth/refused.html", {
        "reason": reason, "message": message, "upn": upn, "contact": settings.desk_contact,
        "retry": reason not in ("not_registered", "disabled", "no_role"),
    }, status_code=status)
    flows.store(response, settings, others)
    return response


# Not in the OpenAPI document: a development aid (404 unless PAPERLESS_AUTH=dev), answered by a redirect
# and a session cookie, not by JSON a tool could use.
@router.post("/auth/dev-login", include_in_schema=False, status_code=303, summary="Development sign-in")
def dev_login(request: Request, session: DbSession, settings: SettingsDep,
              upn: Annotated[str, Form(description="the demo user's sign-in name, e.g. desk@demo.example")],
              next: Annotated[str, Form(description="where to go afterwards (a path of this site)")] = "/"):
    """Sign in as a demo user (only with ``PAPERLESS_AUTH=dev``; 404 otherwise)."""
    if settings.auth != "dev":
        raise NotFound()
    user = auth_service.dev_sign_in(session, upn)
    session.commit()
    web_session.start(request.session, user.id, "dev", user.session_generation)
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/auth/logout", include_in_schema=False)
def logout_page(request: Request, settings: SettingsDep,
                principal: Annotated[Principal | None, Depends(optional_principal)]):
    """A confirmation page (signing out on a plain GET would let other sites sign people out)."""
    if principal is None:
        return RedirectResponse("/auth/signed-out" if settings.auth == "msal" else "/auth/login", status_code=303)
    return render(request, "auth/logout.html", {})


@router.post("/auth/logout", include_in_schema=False)
def logout(request: Request, session: DbSession, settings: SettingsDep,
           principal: Annotated[Principal | None, Depends(optional_principal)]):
    """End every session of this person (other browsers, copies of the cookie) and clear this one; with
    Microsoft 365 also sign out of Entra, which then returns to /auth/signed-out."""
    if principal is not None:
        auth_service.sign_out(session, principal, ip=_client_ip(request))
        session.commit()
    web_session.end(request.session)
    if settings.auth != "msal":
        return RedirectResponse("/auth/login", status_code=303)
    end_session = _entra(request).end_session_url()
    if end_session is None:
        return RedirectResponse("/auth/signed-out", status_code=303)
    # Not a 303: the pages' CSP (form-action 'self') stops a form submission from being redirected to
    # another site. A Refresh header is a plain navigation; the page also links there.
    return render(request, "auth/leaving.html", {"end_session": end_session},
                  headers={"Refresh": f"0; url={end_session}"})


@router.get("/auth/signed-out", include_in_schema=False)
def signed_out(request: Request, settings: SettingsDep):
    """Where Entra returns after sign-out. Signs nobody in (Entra's single sign-on would do it at once)."""
    return render(request, "auth/signed_out.html", {"msal": settings.auth == "msal"})


class MembershipOut(BaseModel):
    section: SectionRef = Field(description="the 所属")
    role: Literal["member", "leader"] = Field(description="member (職員) or leader (DX推進リーダー)")


class Me(BaseModel):
    """The signed-in person."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "upn": "taro.toyama@pref.example.jp", "display_name": "富山 太郎", "roles": ["leader"],
        "section": {"code": "1001", "name": "総務課"},
        "memberships": [{"section": {"code": "1001", "name": "総務課"}, "role": "leader"}],
        "csrf_token": "kV3w…"}]})
    upn: str = Field(description="sign-in name (mail address)", examples=["taro.toyama@pref.example.jp"])
    display_name: str = Field(description="表示名", examples=["富山 太郎"])
    roles: list[str] = Field(description="admin, desk, leader, member", examples=[["leader"]])
    section: SectionRef | None = Field(description="their 所属 (the first by code when several); null for none")
    memberships: list[MembershipOut] = Field(description="every 所属 they belong to, by code, with their role there")
    csrf_token: str = Field(description="send it as the X-CSRF-Token header on state-changing requests")


@router.get("/api/v1/me", response_model=Me, tags=["me"])
def me(request: Request, session: DbSession, principal: CurrentPrincipal) -> Me:
    """The signed-in user, their roles, their 所属 and the CSRF token for state-changing calls."""
    memberships = [MembershipOut(section=section_ref(unit), role=principal.sections[unit.id].value)
                   for unit in auth_service.own_sections(session, principal)]
    return Me(
        upn=principal.upn,
        display_name=principal.display_name,
        roles=principal.roles,
        section=memberships[0].section if memberships else None,
        memberships=memberships,
        csrf_token=web_session.csrf_token(request.session),
    )
