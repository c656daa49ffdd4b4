"""JSON API for support records (伴走支援), with the same access rules as the pages:

* support records: the desk and admins read and write every record; a 所属's staff read its records;
  its leaders send 「相談する」 requests and may change their own request while it is 受付.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from app.auth import scope
from app.auth.deps import CurrentPrincipal
from app.scoring.rules import CHANGE_LABELS
from app.support import service
from app.support.models import SupportState
from app.support.service import RecordEffect, RecordRow, RecordView, SupportInput
from app.trend import service as trend_service
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code

router = APIRouter(prefix="/api/v1", tags=["support"], dependencies=[Depends(csrf_protect)])

RecordId = Annotated[int, Path(ge=1, le=2**31 - 1, description="伴走支援の記録のID")]
Short = Annotated[str, Field(max_length=100)]
Long = Annotated[str, Field(max_length=4000)]
ItemKey = Annotated[str, Field(min_length=1, max_length=100)]
_STRICT = ConfigDict(extra="forbid")


# --- support records ------------------------------------------------------------------------------------


class SectionRef(BaseModel):
    code: str
    name: str


class RecordItemOut(BaseModel):
    key: str
    text: str
    status: str | None = Field(description="the 所属's status in the record's round")


class ItemMoveOut(BaseModel):
    key: str
    text: str
    before: list[dict[str, str | None]]
    after: str | None
    change: str | None
    change_label: str | None


class EffectOut(BaseModel):
    next_round_id: int | None = Field(description="null until the 所属 has a round after the record's round")
    next_round_title: str | None
    items: list[ItemMoveOut]


class RecordOut(BaseModel):
    id: int
    section: SectionRef
    round_id: int | None
    round_title: str | None
    origin: str = Field(description="desk (recorded by the desk) | request (「相談する」 from the 所属)")
    state: str = Field(description="received (受付) | in_progress (対応中) | done (完了)")
    state_label: str
    consulted_on: date
    desk_staff: str
    contact_person: str
    request_message: str
    advice: str
    follow_up_on: date | None
    due: str = Field(description="overdue | today | soon | later | unscheduled | closed")
    due_label: str
    items: list[RecordItemOut]
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    effect: EffectOut | None = None


class RecordSummaryOut(BaseModel):
    id: int
    section: SectionRef
    bureau: str
    origin: str
    state: str
    state_label: str
    consulted_on: date
    follow_up_on: date | None
    due: str
    due_label: str
    contact_person: str
    desk_staff: str
    items: list[str] = Field(description="item texts")


class RecordIn(BaseModel):
    """A consultation as the desk records it. On PATCH every field is optional but ``version``."""

    model_config = _STRICT
    consulted_on: date | None = None
    desk_staff: Short | None = None
    contact_person: Short | None = None
    request_message: Long | None = None
    advice: Long | None = None
    follow_up_on: date | None = None
    state: Literal["received", "in_progress", "done"] | None = None
    item_keys: list[ItemKey] | None = Field(default=None, max_length=50)
    version: int | None = Field(default=None, ge=0, le=2**31 - 1)


class RequestIn(BaseModel):
    model_config = _STRICT
    item_keys: list[ItemKey] = Field(default_factory=list, max_length=50)
    message: Long = ""


def _input(body: RecordIn) -> SupportInput:
    sent = body.model_fields_set
    values = {}
    for name in ("consulted_on", "follow_up_on"):
        if name in sent:
            value = getattr(body, name)
            values[name] = value.isoformat() if value else ""
    for name in ("desk_staff", "contact_person", "request_message", "advice", "state"):
        if name in sent:
            values[name] = getattr(body, name) or ""
    return SupportInput(**values, item_keys=body.item_keys if "item_keys" in sent else None, version=body.version)


def _summary(row: RecordRow) -> RecordSummaryOut:
    r = row.record
    return RecordSummaryOut(
        id=r.id, section=SectionRef(code=row.unit.code, name=row.unit.name), bureau=row.bureau_name,
        origin=r.origin, state=r.state, state_label=row.state_label, consulted_on=r.consulted_on,
        follow_up_on=r.follow_up_on, due=row.due.value, due_label=service.DUE_LABELS[row.due],
        contact_person=r.contact_person, desk_staff=r.desk_staff, items=row.item_texts,
    )


def _record(view: RecordView, effect: RecordEffect | None = None) -> RecordOut:
    r = view.record
    out = RecordOut(
        id=r.id, section=SectionRef(code=view.unit.code, name=view.unit.name), round_id=r.round_id,
        round_title=view.round.title if view.round else None, origin=r.origin, state=r.state,
        state_label=view.state_label, consulted_on=r.consulted_on, desk_staff=r.desk_staff,
        contact_person=r.contact_person, request_message=r.request_message, advice=r.advice,
        follow_up_on=r.follow_up_on, due=view.due.value, due_label=view.due_label,
        items=[RecordItemOut(key=i.key, text=i.text, status=i.status.value if i.status else None) for i in view.items],
        version=r.version, created_at=r.created_at, created_by=view.created_by, updated_at=r.updated_at,
        updated_by=view.updated_by,
    )
    if effect is not None:
        out.effect = EffectOut(
            next_round_id=effect.next_round.id if effect.next_round else None,
            next_round_title=effect.next_round.title if effect.next_round else None,
            items=[ItemMoveOut(
                key=c.key, text=c.text,
                before=[{"section": name, "status": s.value if s else None} for name, s in c.before],
                after=c.after.value if c.after else None, change=c.change.value if c.change else None,
                change_label=CHANGE_LABELS[c.change] if c.change else None,
            ) for c in effect.rows],
        )
    return out


def _full(session, principal, record_id: int) -> RecordOut:
    view = service.get_record_for(session, principal, record_id)
    effect = service.effect_of(session, view.record, service.current_unit(session, view.unit),
                               [i.key for i in view.items])
    return _record(view, effect)


@router.get("/support-records", response_model=list[RecordSummaryOut], responses={401: {}, 403: {}})
def list_records(session: DbSession, principal: CurrentPrincipal,
                 state: Annotated[Literal["open", "received", "in_progress", "done", "all"], Query()] = "open"
                 ) -> list[RecordSummaryOut]:
    """Every record (desk and admins), open follow-ups first: overdue, then by follow-up date."""
    states = {"open": [SupportState.RECEIVED.value, SupportState.IN_PROGRESS.value], "all": None}.get(
        state, [state])
    return [_summary(r) for r in service.list_records(session, principal, states=states)]


@router.get("/sections/{code}/support-records", response_model=list[RecordSummaryOut],
            responses={401: {}, 403: {}, 404: {}})
def section_records(code: Code, session: DbSession, principal: CurrentPrincipal) -> list[RecordSummaryOut]:
    """A 所属's records (and those of the units it continues): its staff, the desk and admins."""
    unit = scope.resolve_section(session, principal, code)
    return [_summary(r) for r in service.records_of_section(session, principal, unit)]


@router.post("/sections/{code}/support-records", response_model=RecordOut, status_code=201,
             responses={401: {}, 403: {}, 404: {}, 422: {}})
def create_record(code: Code, body: RecordIn, session: DbSession, principal: CurrentPrincipal) -> RecordOut:
    """The desk records a consultation with the 所属 (``consulted_on`` required; state defaults to 受付)."""
    unit = scope.resolve_section(session, principal, code)
    trend = trend_service.section_trend(session, unit)
    record = service.create_record(session, principal, unit, trend, _input(body))
    session.commit()
    return _full(session, principal, record.id)


@router.post("/sections/{code}/support-requests", response_model=RecordOut, status_code=201,
             responses={401: {}, 403: {}, 404: {}, 422: {}})
def request_support(code: Code, body: RequestIn, session: DbSession, principal: CurrentPrincipal) -> RecordOut:
    """「相談する」: the 所属's DX推進リーダー asks the desk for help; the record starts as 受付."""
    unit = scope.resolve_section(session, principal, code)
    trend = trend_service.section_trend(session, unit)
    record = service.request_support(session, principal, unit, trend, body.item_keys, body.message)
    session.commit()
    return _full(session, principal, record.id)


@router.get("/support-records/{record_id}", response_model=RecordOut, responses={401: {}, 403: {}, 404: {}})
def get_record(record_id: RecordId, session: DbSession, principal: CurrentPrincipal) -> RecordOut:
    """One record with its items and, once the 所属 has a next round, how those items moved."""
    return _full(session, principal, record_id)


@router.patch("/support-records/{record_id}", response_model=RecordOut,
              responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}})
def patch_record(record_id: RecordId, body: RecordIn, session: DbSession, principal: CurrentPrincipal
                 ) -> RecordOut:
    """Change a record (send the ``version`` you read; 409 when it changed since). The desk may change
    every field; the leader who sent a request only its message and items, while it is 受付."""
    service.update_record(session, principal, record_id, _input(body))
    session.commit()
    return _full(session, principal, record_id)

