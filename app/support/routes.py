"""伴走支援 pages: the desk's list of records and open follow-ups, recording and editing a consultation,
the effect on supported 所属; a 所属's own records and the leader's 「相談する」 form.

Plain forms (POST → redirect); a refused form is shown again, with the messages, and nothing changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from app.auth import permissions, scope
from app.auth.deps import CurrentPrincipal
from app.errors import Conflict, Forbidden, InvalidInput
from app.scoring.rules import CHANGE_LABELS, CHANGE_MARKS
from app.sheets import practice
from app.support import service
from app.support.models import SUPPORT_STATE_LABELS, SupportState
from app.support.service import FORM_FIELDS, SupportInput
from app.trend import service as trend_service
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.params import Code, ItemKey
from app.web.render import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

RecordId = Annotated[int, Path(ge=1, le=2**31 - 1, description="伴走支援の記録のID")]
ItemKeys = Annotated[list[str], Query(max_length=50)]
SheetId = Annotated[int, Path(ge=1, le=2**31 - 1, description="取組事例を共有したチェックシートのID")]
CHANGE_CONTEXT = {"CHANGE_MARKS": CHANGE_MARKS, "CHANGE_LABELS": CHANGE_LABELS}
STATE_FILTERS = {
    "open": ("未完了（受付・対応中）", [SupportState.RECEIVED.value, SupportState.IN_PROGRESS.value]),
    "received": ("受付", [SupportState.RECEIVED.value]),
    "in_progress": ("対応中", [SupportState.IN_PROGRESS.value]),
    "done": ("完了", [SupportState.DONE.value]),
    "all": ("すべて", None),
    "new": ("新しい相談", [SupportState.RECEIVED.value]),  # 「相談する」 requests still 受付
    "overdue": ("期限超過", [SupportState.RECEIVED.value, SupportState.IN_PROGRESS.value]),
}
ONLY = {"new": "new", "overdue": "overdue"}  # filters narrower than a state (list_records(only=…))


def _desk_only(principal) -> None:
    refusal = permissions.why_not_see_all_sections(principal)
    if refusal:
        raise Forbidden("伴走支援の一覧は業務DX相談窓口だけが見られます。所属の記録は「推移・目標」から見られます。")


def _input(form: FormData, *, with_items: bool = True) -> SupportInput:
    def text(name: str) -> str | None:
        value = form.get(name)
        return value if isinstance(value, str) else None

    raw_version = text("version")
    return SupportInput(
        **{name: text(name) for name in FORM_FIELDS},
        item_keys=[v for v in form.getlist("items") if isinstance(v, str)] if with_items else None,
        version=int(raw_version) if raw_version and raw_version.isdigit() and len(raw_version) < 10 else None,
    )


def _typed(form: FormData) -> dict[str, str]:
    return {name: form.get(name) for name in FORM_FIELDS if isinstance(form.get(name), str)}


# --- the desk -----------------------------------------------------------------------------------------


@router.get("/support")
def support_list(request: Request, session: DbSession, principal: CurrentPrincipal, state: str = "open"):
    _desk_only(principal)
    if state not in STATE_FILTERS:
        state = "open"
    records = service.list_records(session, principal, states=STATE_FILTERS[state][1], only=ONLY.get(state))
    counts = service.state_counts(session)
    return render(request, "support/list.html", {
        "records": records, "state": state, "filters": {k: v[0] for k, v in STATE_FILTERS.items()},
        "counts": counts, "SUPPORT_STATE_LABELS": {s.value: label for s, label in SUPPORT_STATE_LABELS.items()},
    })


@router.get("/support/inbox")
def support_inbox(request: Request, session: DbSession, principal: CurrentPrincipal):
    """New 「相談する」 requests and overdue follow-ups: a page of its own, and the block the desk's start
    page (the board) loads with htmx."""
    _desk_only(principal)
    return render(request, "support/inbox.html", {"inbox": service.inbox(session, principal)}, block="inbox")


@router.get("/support/effects")
def support_effects(request: Request, session: DbSession, principal: CurrentPrincipal):
    _desk_only(principal)
    effects = service.effects(session, principal)
    return render(request, "support/effects.html", {
        "effects": effects, "summary": service.effect_summary(effects), "comparison": service.comparison(session),
        **CHANGE_CONTEXT,
    })


@router.get("/support/new")
def new_record(request: Request, session: DbSession, principal: CurrentPrincipal, section: str | None = None,
               items: ItemKeys = (), q: str = ""):  # noqa: B006 — Query default
    _desk_only(principal)
    if not section:
        q = q.strip()[:service.SECTION_QUERY_MAX]
        return render(request, "support/choose.html", {"sections": service.section_options(session, q), "q": q},
                      block="choices")
    unit = scope.resolve_section(session, principal, section.strip()[:32])
    form = service.support_form(session, principal, unit, mode="create", checked=items)
    return render(request, "support/form.html", {"form": form})


@router.post("/support/new")
def create_record(request: Request, session: DbSession, principal: CurrentPrincipal, form: FormDep,
                  section: str = ""):
    unit = scope.resolve_section(session, principal, section.strip()[:32] or "-")
    trend = trend_service.section_trend(session, unit)
    data = _input(form)
    try:
        record = service.create_record(session, principal, unit, trend, data)
    except InvalidInput as exc:
        session.rollback()
        view = service.support_form(session, principal, unit, mode="create", trend=trend,
                                    checked=data.item_keys or (), typed=_typed(form), errors=exc.fields,
                                    error=exc.message)
        return render(request, "support/form.html", {"form": view}, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"/support/{record.id}?saved=1", status_code=303)


# --- one record ---------------------------------------------------------------------------------------


@router.get("/support/{record_id}")
def record_page(request: Request, record_id: RecordId, session: DbSession, principal: CurrentPrincipal):
    view = service.get_record_for(session, principal, record_id)
    effect = service.effect_of(session, view.record, service.current_unit(session, view.unit),
                               [i.key for i in view.items])
    return render(request, "support/record.html", {"view": view, "effect": effect, **CHANGE_CONTEXT})


@router.get("/support/{record_id}/edit")
def edit_record(request: Request, record_id: RecordId, session: DbSession, principal: CurrentPrincipal):
    view = service.get_record_for(session, principal, record_id)
    if not view.can_edit:
        raise Forbidden(view.why_not_edit_request if view.record.origin == "request" else view.why_not_manage)
    form = service.support_form(session, principal, service.current_unit(session, view.unit),
                                mode="edit" if view.can_manage else "request-edit", record=view.record)
    return render(request, "support/form.html", {"form": form})


@router.post("/support/{record_id}/edit")
def update_record(request: Request, record_id: RecordId, session: DbSession, principal: CurrentPrincipal,
                  form: FormDep):
    data = _input(form)
    try:
        service.update_record(session, principal, record_id, data)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        view = service.get_record_for(session, principal, record_id)
        typed = _typed(form) if isinstance(exc, InvalidInput) else None
        page = service.support_form(session, principal, service.current_unit(session, view.unit),
                                    mode="edit" if view.can_manage else "request-edit", record=view.record,
                                    checked=data.item_keys or () if typed is not None else (), typed=typed,
                                    errors=exc.fields, error=exc.message)
        return render(request, "support/form.html", {"form": page}, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"/support/{record_id}?saved=1", status_code=303)


# --- a 所属's records and 「相談する」 -----------------------------------------------------------------


@router.get("/sections/{code}/support")
def section_records(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal,
                    recent: Annotated[int | None, Query(ge=1, le=100)] = None):
    """A 所属's records; ``?recent=N`` keeps the newest N (the trend page loads them as a fragment)."""
    unit = scope.resolve_section(session, principal, code)
    records = service.records_of_section(session, principal, unit)
    return render(request, "support/section.html", {
        "unit": unit, "records": records[:recent] if recent else records, "recent": recent,
        "why_not_request": permissions.why_not_request_support(principal, unit.id),
        "can_manage": permissions.why_not_manage_support(principal) is None,
    }, block="records")


@router.get("/sections/{code}/consult")
def consult_form(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal,
                 item: ItemKeys = ()):  # noqa: B006 — Query default
    unit = scope.resolve_section(session, principal, code)
    refusal = permissions.why_not_request_support(principal, unit.id)
    if refusal:
        raise Forbidden(refusal)
    form = service.support_form(session, principal, unit, mode="request", checked=item)
    return render(request, "support/form.html", {"form": form})


@router.post("/sections/{code}/consult")
def consult(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    unit = scope.resolve_section(session, principal, code)
    trend = trend_service.section_trend(session, unit)
    data = _input(form)
    try:
        record = service.request_support(session, principal, unit, trend, data.item_keys or [], data.request_message)
    except InvalidInput as exc:
        session.rollback()
        view = service.support_form(session, principal, unit, mode="request", trend=trend,
                                    checked=data.item_keys or (), typed=_typed(form), errors=exc.fields,
                                    error=exc.message)
        return render(request, "support/form.html", {"form": view}, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"/support/{record.id}?requested=1", status_code=303)


@router.post("/sections/{code}/practices/{sheet_id}/{item_key}/ask")
def ask_practice(code: Code, sheet_id: SheetId, item_key: ItemKey, session: DbSession, principal: CurrentPrincipal):
    """「この所属に聞いてみる」 on a shared practice (取組事例): a 相談 asking the desk to connect the two 所属."""
    unit = scope.resolve_section(session, principal, code)
    shared = practice.get(session, principal, sheet_id, item_key)
    record = service.ask_practice(session, principal, unit, trend_service.section_trend(session, unit), shared)
    session.commit()
    return RedirectResponse(f"/support/{record.id}?requested=1", status_code=303)
