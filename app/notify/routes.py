"""Notification pages: reminders per round (rule, preview, 「今すぐ送る」) for the desk; 送信できなかった通知 and
where each 部局 and the desk are told, for admins; 通知設定 for everyone."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session, select

from app.auth import permissions
from app.auth.deps import CurrentPrincipal
from app.auth.permissions import Principal
from app.errors import Forbidden, InvalidInput
from app.jpdate import today_jst
from app.notify import reminders, service
from app.notify.models import TARGET_LABELS
from app.orgs.models import Unit
from app.outbox.service import KINDS
from app.reports import service as desk
from app.scoring.rules import PROGRESS_LABELS, Progress
from app.web.deps import DbSession, FormDep, SettingsDep, csrf_protect
from app.web.nav import DESK_PAGES
from app.web.params import PageQ, RoundQ
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
HERE = "/desk/reminders"


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _date(value) -> date | None:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _allowed(principal: Principal) -> None:
    refusal = permissions.why_not_manage_reminders(principal)
    if refusal:
        raise Forbidden(refusal)


def _page(session: Session, principal: Principal, round_id: int | None, *, form: dict | None = None,
          errors: dict | None = None) -> dict:
    _allowed(principal)
    ctx = desk.desk_context(session, principal, round_id)
    rule = reminders.get_rule(session, ctx.round.id)
    if form is None:
        form = {"enabled": rule.enabled if rule else False,
                "starts_on": (rule.starts_on if rule else max(ctx.round.opens_on, today_jst())).isoformat(),
                "min_days_between": str(rule.min_days_between if rule else 7),
                "max_per_section": str(rule.max_per_section if rule else 3),
                "targets": sorted(rule.target_set) if rule else list(TARGET_LABELS),
                "escalate_after": str(rule.escalate_after if rule else 2)}
    planned = reminders.plan(session, ctx.round) if rule else []
    return {"DESK_PAGES": DESK_PAGES, "here": HERE, "PROGRESS_LABELS": PROGRESS_LABELS, "PROGRESS": Progress,
            "ctx": ctx, "rule": rule, "form": form, "errors": errors or {}, "TARGET_LABELS": TARGET_LABELS,
            "planned": planned, "going": [p for p in planned if not p.skipped], "today": today_jst(),
            "recipient_count": sum(len(p.recipients) for p in planned if not p.skipped),
            "message_for": reminders.message_for}


@router.get(HERE)
def reminders_page(request: Request, session: DbSession, principal: CurrentPrincipal, round_id: RoundQ = None,
                   done: str | None = None, n: int | None = None):
    """The round's reminder rule and the preview of who the next automatic run reminds, with what."""
    return render(request, "notify/reminders.html", {**_page(session, principal, round_id), "done": done, "n": n})


@router.post(HERE)
def save_rule(request: Request, session: DbSession, principal: CurrentPrincipal, form: FormDep,
              round_id: RoundQ = None):
    _allowed(principal)
    ctx = desk.desk_context(session, principal, round_id)
    values = {"enabled": form.get("enabled") == "on", "starts_on": str(form.get("starts_on", "")),
              "min_days_between": str(form.get("min_days_between", "")),
              "max_per_section": str(form.get("max_per_section", "")),
              "targets": [str(t) for t in form.getlist("targets")],
              "escalate_after": str(form.get("escalate_after", ""))}
    try:
        reminders.save_rule(session, principal, ctx.round, enabled=values["enabled"],
                            starts_on=_date(values["starts_on"]), min_days_between=_int(values["min_days_between"]),
                            max_per_section=_int(values["max_per_section"]), targets=values["targets"],
                            escalate_after=_int(values["escalate_after"]))
    except InvalidInput as exc:
        session.rollback()
        context = {**_page(session, principal, ctx.round.id, form=values, errors=exc.fields), "done": None, "n": None,
                   "error": exc.message}
        return render(request, "notify/reminders.html", context, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"{HERE}?round={ctx.round.id}&done=saved", status_code=303)


def _chosen(session: Session, codes: list[str]) -> list[int]:
    codes = [c.strip() for c in codes if c and c.strip()][:500]
    if not codes:
        raise InvalidInput("督促を送る所属を選んでください（提出状況の一覧で所属にチェックを付けます）。")
    return list(session.exec(select(Unit.id).where(Unit.code.in_(codes), Unit.valid_to.is_(None))).all())


@router.get(HERE + "/preview")
def send_preview(request: Request, session: DbSession, principal: CurrentPrincipal, round_id: RoundQ = None,
                 section: list[str] = Query(default=[])):  # noqa: B008 (FastAPI's way to read a repeated parameter)
    """「今すぐ送る」 step 1: exactly who will receive what, before anything is sent."""
    _allowed(principal)
    ctx = desk.desk_context(session, principal, round_id)
    planned = reminders.plan(session, ctx.round, unit_ids=_chosen(session, section), manual=True)
    return render(request, "notify/send_preview.html", {
        "DESK_PAGES": DESK_PAGES, "here": "/desk/board", "PROGRESS_LABELS": PROGRESS_LABELS, "PROGRESS": Progress,
        "ctx": ctx, "planned": planned, "going": [p for p in planned if not p.skipped], "today": today_jst(),
        "message_for": reminders.message_for})


@router.post(HERE + "/send")
def send_now(session: DbSession, principal: CurrentPrincipal, form: FormDep, round_id: RoundQ = None):
    """「今すぐ送る」 step 2: enqueue the reminders of the chosen 所属 in one transaction (sent by the sender)."""
    _allowed(principal)
    ctx = desk.desk_context(session, principal, round_id)
    sections, queued = reminders.send_now(session, principal, ctx.round,
                                          _chosen(session, [str(c) for c in form.getlist("section")]))
    session.commit()
    return RedirectResponse(f"{HERE}?round={ctx.round.id}&done=sent&n={queued}", status_code=303)


# --- admins: where each 部局 and the desk are told; notices that could not be sent ---------------------------


@router.get("/admin/notify-channels")
def channels_page(request: Request, session: DbSession, principal: CurrentPrincipal, done: str | None = None):
    return render(request, "notify/channels.html", {"rows": service.channels(session, principal), "done": done,
                                                    "errors": {}, "failed_scope": None})


@router.post("/admin/notify-channels")
def save_channel(request: Request, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep,
                 form: FormDep):
    scope = str(form.get("scope", ""))
    try:
        service.save_channel(session, settings, principal, scope=scope,
                             contact_address=str(form.get("contact_address", "")),
                             webhook_url=str(form.get("webhook_url", "")), clear_webhook=form.get("clear") == "on")
    except InvalidInput as exc:
        session.rollback()
        return render(request, "notify/channels.html", {
            "rows": service.channels(session, principal), "done": None, "errors": exc.fields, "failed_scope": scope,
            "error": exc.message, "typed_address": str(form.get("contact_address", ""))},
            status_code=exc.status_code)
    session.commit()
    return RedirectResponse("/admin/notify-channels?done=saved", status_code=303)


@router.get("/admin/notices")
def failed_page(request: Request, session: DbSession, principal: CurrentPrincipal, page: PageQ = 1,
                done: str | None = None):
    view = service.failed(session, principal, page)
    return render(request, "notify/failed.html", {"view": view, "done": done, "KINDS": KINDS})


@router.post("/admin/notices/{message_id}/resend")
def resend(session: DbSession, principal: CurrentPrincipal, message_id: Annotated[int, Path(ge=1, le=2**31 - 1)]):
    service.resend(session, principal, message_id)
    session.commit()
    return RedirectResponse("/admin/notices?done=resent", status_code=303)


# --- everyone: 通知設定 ----------------------------------------------------------------------------------


@router.get("/settings/notices")
def my_settings_page(request: Request, session: DbSession, principal: CurrentPrincipal, done: str | None = None):
    return render(request, "notify/my_settings.html", {"kinds": service.my_settings(session, principal),
                                                       "done": done})


@router.post("/settings/notices")
def save_my_settings(session: DbSession, principal: CurrentPrincipal, form: FormDep):
    service.save_my_settings(session, principal, [str(k) for k in form.getlist("on")])
    session.commit()
    return RedirectResponse("/settings/notices?done=saved", status_code=303)
