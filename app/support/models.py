"""伴走支援: the desk's support records and the 所属's 「相談する」 requests."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class SupportState(StrEnum):
    RECEIVED = "received"  # 受付
    IN_PROGRESS = "in_progress"  # 対応中
    DONE = "done"  # 完了


SUPPORT_STATE_LABELS = {
    SupportState.RECEIVED: "受付",
    SupportState.IN_PROGRESS: "対応中",
    SupportState.DONE: "完了",
}


class SupportOrigin(StrEnum):
    DESK = "desk"  # recorded by the desk (a visit, a call, a meeting)
    REQUEST = "request"  # sent by the 所属's DX推進リーダー with 「相談する」


SUPPORT_ORIGIN_LABELS = {SupportOrigin.DESK: "窓口が記録", SupportOrigin.REQUEST: "所属からの相談"}


class SupportRecord(SQLModel, table=True):
    """One consultation with a 所属: who, when, which items, what was advised, when to follow up."""

    __tablename__ = "support_record"
    __table_args__ = (
        CheckConstraint("state IN ('received', 'in_progress', 'done')", name="state"),
        CheckConstraint("origin IN ('desk', 'request')", name="origin"),
        Index("ix_support_record_state_follow_up", "state", "follow_up_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    # The 所属's latest round when the record was made; the effect is read in the round after it.
    round_id: int | None = Field(default=None, foreign_key="round.id", index=True)
    origin: SupportOrigin = Field(sa_column=Column(String(16), nullable=False))
    state: SupportState = Field(sa_column=Column(String(16), nullable=False))
    consulted_on: date  # 相談日 / 対応日
    desk_staff: str = Field(default="", sa_column=Column(String(100), nullable=False))  # 窓口の担当者
    contact_person: str = Field(default="", sa_column=Column(String(100), nullable=False))  # 所属の担当者
    request_message: str = Field(default="", sa_column=Column(Text, nullable=False))  # 所属からの相談内容
    advice: str = Field(default="", sa_column=Column(Text, nullable=False))  # 助言・対応の内容
    follow_up_on: date | None = None  # 次回フォローアップ日
    version: int = 0  # grows on every change (optimistic locking)
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    updated_by_id: int | None = Field(default=None, foreign_key="user.id")


class SupportRecordItem(SQLModel, table=True):
    """A checklist item a consultation is about (items are joined by key across versions)."""

    __tablename__ = "support_record_item"

    record_id: int = Field(
        sa_column=Column(Integer, ForeignKey("support_record.id", ondelete="CASCADE"), primary_key=True)
    )
    item_key: str = Field(sa_column=Column(String(100), primary_key=True))
