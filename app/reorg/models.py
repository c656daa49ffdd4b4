"""A reorganisation scheduled ahead of its effective date: the CSV as uploaded, applied when the date comes
(``service.apply_due``: at start-up and by ``paperless reorg-apply-due``), or cancelled before."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class ScheduleState(StrEnum):
    SCHEDULED = "scheduled"  # 予定
    APPLIED = "applied"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the plan had errors on the day (the organisation changed since): nothing applied


SCHEDULE_STATE_LABELS = {
    ScheduleState.SCHEDULED: "予定", ScheduleState.APPLIED: "適用済み", ScheduleState.CANCELLED: "取り消し",
    ScheduleState.FAILED: "適用できず",
}


class ScheduledReorg(SQLModel, table=True):
    __tablename__ = "scheduled_reorg"
    __table_args__ = (
        CheckConstraint("state IN ('scheduled', 'applied', 'cancelled', 'failed')", name="state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    effective_on: date = Field(index=True)
    filename: str = Field(default="", sa_column=Column(String(200), nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # the CSV as uploaded (≤ 1 MB)
    state: str = Field(default=ScheduleState.SCHEDULED.value, sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))  # applied, cancelled or failed
    done_by_id: int | None = Field(default=None, foreign_key="user.id")
    message: str = Field(default="", sa_column=Column(Text, nullable=False))  # why it failed
