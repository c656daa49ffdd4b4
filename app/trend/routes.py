"""The leader page (推移・目標) of a 所属, and setting its targets. Plain forms (POST → redirect);
a refused form is shown again with the messages and nothing changed."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from app.auth import scope
from app.auth.deps import CurrentPrincipal
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.orgs.models import Unit
from app.trend import page as trend_page
from app.trend import service as trend_service
from app.trend import targets as targets_service
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.htmx import wants_fragment
from app.web.params import Code
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

TARGET_FIELD = "target:"
CODE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")


def trend_url(code: str) -> str:
    return f"/sections/{code}/trend"


@router.get("/trend")
def my_trend(request: Request, session: DbSession, principal: CurrentPrincipal, code: str | None = None):
    """The menu's 「推移・目標」: straight to one's own 所属; a chooser for several or for the desk."""
    if code is not None:
        code = code.strip()
        if not CODE.fullmatch(code):
            raise InvalidInput("所属コードは英数字（と . _ -）で32文字以内で入力してください。")
        return RedirectResponse(trend_url(code), status_code=303)
    units = [u for u in (session.get(Unit, uid) for uid in principal.sections) if u is not None]
    current = [u for u in units if u.valid_to is None]
    if len(current) == 1 and not principal.sees_everything:
        return RedirectResponse(trend_url(current[0].code), status_code=303)
    if not current and not principal.sees_everything:
        raise Forbidden("所属が登録されていないため、推移を表示できません。業務DX相談窓口にお問い合わせください。")
    return render(request, "trend/index.html", {"units": current})


@router.get("/sections/{code}/trend")
def trend(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal,
          targets: Literal["saved"] | None = None):
    unit = scope.resolve_section(session, principal, code)
    page = trend_page.build(session, principal, unit)
    return render(request, "trend/trend.html", {"page": page, "targets_saved": targets == "saved"})


@router.get("/sections/{code}/targets")
def targets_form(code: Code, session: DbSession, principal: CurrentPrincipal):
    """The address the form posts to, opened again (a reload, a bookmark): back to the form."""
    unit = scope.resolve_section(session, principal, code)
    return RedirectResponse(f"{trend_url(unit.code)}#targets", status_code=303)


@router.post("/sections/{code}/targets")
def set_targets(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    """Without JavaScript: saved → back to the page (POST-redirect-GET) at the targets; refused → the page
    again (422) at ``…/targets#targets-error`` (the form's action), the message in view. With htmx: the
    targets section alone, saved or with the messages at the fields."""
    unit = scope.resolve_section(session, principal, code)
    wanted = {name[len(TARGET_FIELD):]: value for name, value in form.multi_items()
              if name.startswith(TARGET_FIELD) and isinstance(value, str)}
    raw_round = form.get("round_id")
    try:
        if not isinstance(raw_round, str) or not raw_round.isdigit() or len(raw_round) > 10:
            raise InvalidInput("調査回（round_id）の指定が正しくありません。画面を再読み込みしてください。",
                               fields={"targets": "調査回の指定が正しくありません。画面を再読み込みしてください。"})
        trend = trend_service.section_trend(session, unit)
        targets_service.set_targets(session, principal, unit, trend, int(raw_round), wanted)
    except InvalidInput as exc:
        session.rollback()
        page = trend_page.build(session, principal, unit, typed_targets=wanted, target_errors=exc.fields,
                                target_error=None if exc.fields else exc.message)
        return render(request, "trend/trend.html", {"page": page, "targets_saved": False}, block="targets",
                      status_code=exc.status_code)
    except (Conflict, NotFound) as exc:
        session.rollback()
        page = trend_page.build(session, principal, unit, target_error=exc.message)
        return render(request, "trend/trend.html", {"page": page, "targets_saved": False}, block="targets",
                      status_code=exc.status_code)
    session.commit()
    if wants_fragment(request):
        page = trend_page.build(session, principal, unit)
        return render(request, "trend/trend.html", {"page": page, "targets_saved": True}, block="targets")
    return RedirectResponse(f"{trend_url(unit.code)}?targets=saved#targets-saved", status_code=303)
