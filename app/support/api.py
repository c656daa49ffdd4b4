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
from app.web.schemas import (
    BureauRef,
    PriorStatusOut,
    RoundRef,
    SectionRef,
    bureau_ref,
    prior_statuses,
    round_ref,
    section_ref,
)

router = APIRouter(prefix="/api/v1", tags=["support"], dependencies=[Depends(csrf_protect)])

RecordId = Annotated[int, Path(ge=1, le=2**31 - 1, description="伴走支援の記録のID")]
Short = Annotated[str, Field(max_length=100)]
Long = Annotated[str, Field(max_length=4000)]
ItemKey = Annotated[str, Field(min_length=1, max_length=100)]
_STRICT = ConfigDict(extra="forbid")


# --- support records ------------------------------------------------------------------------------------


class RecordItemOut(BaseModel):
    item_key: str = Field(description="the item's key", examples=["meeting.internal.no-paper-handouts"])
    text: str = Field(description="チェック項目 (in the record's round)", examples=["紙資料を配っていない"])
    status: str | None = Field(description="the 所属's status in the record's round", examples=["×"])


class ItemMoveOut(BaseModel):
    item_key: str = Field(description="the item's key", examples=["meeting.internal.no-paper-handouts"])
    text: str = Field(description="チェック項目")
    before: list[PriorStatusOut] = Field(description="in the record's round: several entries after a merge")
    after: str | None = Field(description="the status in the next round, null if unanswered", examples=["○"])
    change: Literal["improved", "regressed", "unchanged", "not_comparable", "new_item", "removed_item"] | None = Field(
        description="null when there are several predecessors")
    change_label: str | None = Field(description="the change in Japanese", examples=["改善"])


class EffectOut(BaseModel):
    next_round: RoundRef | None = Field(description="the 所属's round after the record's round; null until there is one")
    items: list[ItemMoveOut] = Field(description="how the record's items moved into it")


_EXAMPLE_RECORD = {
    "id": 12, "section": {"code": "1001", "name": "総務課"}, "round": {"id": 2, "title": "令和8年度 第1回"},
    "origin": "desk", "state": "in_progress", "state_label": "対応中", "consulted_on": "2026-11-20",
    "desk_staff": "相談 花子", "contact_person": "富山 太郎", "request_message": "", "advice": "Teamsで資料を共有する",
    "follow_up_on": "2026-12-20", "due": "later", "due_label": "予定",
    "items": [{"item_key": "meeting.internal.no-paper-handouts", "text": "紙資料を配っていない", "status": "×"}],
    "version": 1, "created_at": "2026-11-20T05:00:00Z", "created_by": "相談 花子",
    "updated_at": "2026-11-20T05:00:00Z", "updated_by": "相談 花子", "effect": None,
}


class RecordOut(BaseModel):
    """One support record (伴走支援の記録)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_RECORD]})
    id: int = Field(description="the record's id", examples=[12])
    section: SectionRef = Field(description="the 所属 supported")
    round: RoundRef | None = Field(description="the round whose answers it refers to (null: none)")
    origin: Literal["desk", "request"] = Field(
        description="desk (recorded by the desk) | request (「相談する」 from the 所属)")
    state: Literal["received", "in_progress", "done"] = Field(
        description="received (受付) | in_progress (対応中) | done (完了)")
    state_label: str = Field(description="the state in Japanese", examples=["対応中"])
    consulted_on: date = Field(description="相談日")
    desk_staff: str = Field(description="窓口の担当", examples=["相談 花子"])
    contact_person: str = Field(description="所属の担当", examples=["富山 太郎"])
    request_message: str = Field(description="the 所属's message (「相談する」)")
    advice: str = Field(description="助言の内容")
    follow_up_on: date | None = Field(description="次回フォローアップ日, null if none")
    due: Literal["overdue", "today", "soon", "later", "unscheduled", "closed"] = Field(
        description="where the follow-up stands today")
    due_label: str = Field(description="`due` in Japanese", examples=["予定"])
    items: list[RecordItemOut] = Field(description="the items the support is about, in sheet order")
    version: int = Field(description="send it back with PATCH (409 when it changed since)", examples=[1])
    created_at: datetime = Field(description="when it was recorded (UTC)")
    created_by: str = Field(description="who recorded it", examples=["相談 花子"])
    updated_at: datetime = Field(description="when it last changed (UTC)")
    updated_by: str = Field(description="who changed it last", examples=["相談 花子"])
    effect: EffectOut | None = Field(default=None, description="how its items moved in the 所属's next round")


class RecordItemRefOut(BaseModel):
    item_key: str = Field(description="the item's key", examples=["meeting.internal.no-paper-handouts"])
    text: str = Field(description="チェック項目 (in the record's round)", examples=["紙資料を配っていない"])


class RecordSummaryOut(BaseModel):
    """A support record in a list."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 12, "section": {"code": "1001", "name": "総務課"}, "bureau": {"code": "10", "name": "経営管理部"},
        "origin": "desk", "state": "in_progress", "state_label": "対応中", "consulted_on": "2026-11-20",
        "follow_up_on": "2026-12-20", "due": "later", "due_label": "予定", "contact_person": "富山 太郎",
        "desk_staff": "相談 花子",
        "items": [{"item_key": "meeting.internal.no-paper-handouts", "text": "紙資料を配っていない"}]}]})
    id: int = Field(description="the record's id", examples=[12])
    section: SectionRef = Field(description="the 所属 supported")
    bureau: BureauRef | None = Field(description="its 部局 (today's organisation)")
    origin: Literal["desk", "request"] = Field(description="desk | request (「相談する」)")
    state: Literal["received", "in_progress", "done"] = Field(description="received | in_progress | done")
    state_label: str = Field(description="the state in Japanese", examples=["対応中"])
    consulted_on: date = Field(description="相談日")
    follow_up_on: date | None = Field(description="次回フォローアップ日, null if none")
    due: Literal["overdue", "today", "soon", "later", "unscheduled", "closed"] = Field(
        description="where the follow-up stands today")
    due_label: str = Field(description="`due` in Japanese", examples=["予定"])
    contact_person: str = Field(description="所属の担当")
    desk_staff: str = Field(description="窓口の担当")
    items: list[RecordItemRefOut] = Field(description="the items the support is about, in sheet order")


class RecordIn(BaseModel):
    """A consultation as the desk records it. On PATCH every field is optional but ``version``."""

    model_config = _STRICT
    consulted_on: date | None = Field(default=None, description="相談日 (required on POST)")
    desk_staff: Short | None = Field(default=None, description="窓口の担当")
    contact_person: Short | None = Field(default=None, description="所属の担当")
    request_message: Long | None = Field(default=None, description="the 所属's message")
    advice: Long | None = Field(default=None, description="助言の内容")
    follow_up_on: date | None = Field(default=None, description="次回フォローアップ日 (null clears it)")
    state: Literal["received", "in_progress", "done"] | None = Field(default=None, description="defaults to received")
    item_keys: list[ItemKey] | None = Field(default=None, max_length=50, description="the items' keys (replace)")
    version: int | None = Field(default=None, ge=0, le=2**31 - 1, description="PATCH: the version you read")


class RequestIn(BaseModel):
    model_config = _STRICT
    item_keys: list[ItemKey] = Field(default_factory=list, max_length=50, description="the items to ask about")
    message: Long = Field(default="", description="what the 所属 asks")


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
        id=r.id, section=section_ref(row.unit), bureau=bureau_ref(row.bureau) if row.bureau else None,
        origin=r.origin, state=r.state, state_label=row.state_label, consulted_on=r.consulted_on,
        follow_up_on=r.follow_up_on, due=row.due.value, due_label=service.DUE_LABELS[row.due],
        contact_person=r.contact_person, desk_staff=r.desk_staff,
        items=[RecordItemRefOut(item_key=key, text=text) for key, text in row.items],
    )


def _record(view: RecordView, effect: RecordEffect | None = None) -> RecordOut:
    r = view.record
    out = RecordOut(
        id=r.id, section=section_ref(view.unit), round=round_ref(view.round) if view.round else None,
        origin=r.origin, state=r.state,
        state_label=view.state_label, consulted_on=r.consulted_on, desk_staff=r.desk_staff,
        contact_person=r.contact_person, request_message=r.request_message, advice=r.advice,
        follow_up_on=r.follow_up_on, due=view.due.value, due_label=view.due_label,
        items=[RecordItemOut(item_key=i.key, text=i.text, status=i.status.value if i.status else None)
               for i in view.items],
        version=r.version, created_at=r.created_at, created_by=view.created_by, updated_at=r.updated_at,
        updated_by=view.updated_by,
    )
    if effect is not None:
        out.effect = EffectOut(
            next_round=round_ref(effect.next_round) if effect.next_round else None,
            items=[ItemMoveOut(
                item_key=c.key, text=c.text, before=prior_statuses(c.before),
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
                 state: Annotated[Literal["open", "received", "in_progress", "done", "all"], Query(
                     description="open (受付 and 対応中, the default), received, in_progress, done, or all")] = "open"
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

