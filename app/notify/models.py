"""Reminder rules per round and the reminders sent to each 所属 (counted, so a rule's limits hold)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc

# Which 所属 a rule reminds, in the board's vocabulary (Progress values, and 全項目回答済・未提出).
TARGET_LABELS = {"not_started": "未着手", "in_progress": "入力中（未回答の項目あり）", "ready": "全項目回答済・未提出"}


class ReminderRule(SQLModel, table=True):
    """When and whom a round's reminders go to (one rule per round; the desk and admins edit it)."""

    __tablename__ = "reminder_rule"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", sa_column_kwargs={"unique": True})
    enabled: bool = False  # automatic reminders by the sender's daily run; 「今すぐ送る」 works either way
    starts_on: date
    min_days_between: int = Field(default=7, sa_column=Column(Integer, nullable=False, server_default="7"))
    max_per_section: int = Field(default=3, sa_column=Column(Integer, nullable=False, server_default="3"))
    targets: str = Field(default="not_started,in_progress,ready",
                         sa_column=Column(String(64), nullable=False, server_default="not_started,in_progress,ready"))
    escalate_after: int = Field(default=2, sa_column=Column(Integer, nullable=False, server_default="2"))  # 0: never
    updated_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    updated_by_id: int | None = Field(default=None, foreign_key="user.id")

    @property
    def target_set(self) -> set[str]:
        return {t for t in self.targets.split(",") if t in TARGET_LABELS}


class ReminderLog(SQLModel, table=True):
    """The n-th reminder of a 所属 in a round, written with its outbox rows (same transaction)."""

    __tablename__ = "reminder_log"
    __table_args__ = (UniqueConstraint("round_id", "unit_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    number: int
    sent_on: date
    manual: bool = False
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
