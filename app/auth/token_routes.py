"""Personal API tokens page (/tokens): the desk and admins create (shown once), list and revoke their
own read-only tokens for Power BI / Excel Power Query."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from app.auth import permissions, tokens
from app.auth import service as auth_service
from app.auth.deps import CurrentPrincipal
from app.auth.models import User
from app.auth.permissions import Principal
from app.errors import Forbidden
from app.jpdate import now_utc
from app.text import check_text
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

PAGE = "/tokens"
DEFAULT_DAYS = 90
NAME_MAX = 100


def _require(principal: Principal) -> None:
    refusal = permissions.why_not_manage_tokens(principal)
    if refusal:
        raise Forbidden(refusal)


def _page(request: Request, session, principal: Principal, status: int = 200, **extra):
    context = {"tokens": tokens.list_for(session, principal.user_id), "now": now_utc(), "created": None,
               "clear": None, "errors": {}, "name": "", "days": str(DEFAULT_DAYS), "max_days": tokens.MAX_DAYS,
               "revoked": False, "base_url": str(request.base_url).rstrip("/"), **extra}
    return render(request, "auth/tokens.html", context, status_code=status)


@router.get(PAGE)
def tokens_page(request: Request, session: DbSession, principal: CurrentPrincipal, revoked: int = 0):
    _require(principal)
    return _page(request, session, principal, revoked=bool(revoked))


def parse_token_form(name: object, days: object) -> tuple[str, int, dict[str, str]]:
    """The name and days of a new token, with a message per field that is wrong."""
    errors = {}
    name, problem = check_text(name.strip() if isinstance(name, str) else "", "名前", multiline=False)
    if problem:
        errors["name"] = problem
    elif not name:
        errors["name"] = "用途が分かる名前を入力してください（例: Power BI 集計）。"
    elif len(name) > NAME_MAX:
        errors["name"] = f"名前は{NAME_MAX}文字以内にしてください（現在{len(name)}文字）。"
    raw = days.strip() if isinstance(days, str) else ""
    value = int(raw) if raw.isdigit() else 0
    if not 1 <= value <= tokens.MAX_DAYS:
        errors["days"] = f"有効日数は1～{tokens.MAX_DAYS}の整数で入力してください。"
    return name, value, errors


@router.post(PAGE)
def create_token(request: Request, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    _require(principal)
    name, days, errors = parse_token_form(form.get("name"), form.get("days"))
    if errors:
        return _page(request, session, principal, 422, errors=errors, name=form.get("name") or "",
                     days=form.get("days") or "")
    row, clear = tokens.create(session, session.get(User, principal.user_id), name=name, days=days)
    session.commit()
    # Shown on this response only (never stored in clear, never in a redirect or the session cookie).
    return _page(request, session, principal, created=row, clear=clear)


@router.post(PAGE + "/{token_id}/revoke")
def revoke_token(token_id: int, session: DbSession, principal: CurrentPrincipal):
    _require(principal)
    tokens.revoke(session, principal.user_id, token_id)
    auth_service.audit(session, "token_revoked", actor=principal, detail={"token_id": token_id})
    session.commit()
    return RedirectResponse(f"{PAGE}?revoked=1", status_code=303)
