"""Rounds (調査回): one self-check of every 所属 against one published checklist version."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class RoundState(StrEnum):
    PREPARING = "preparing"  # 準備中: created, not yet open to 所属 (was "draft" before migration 0007)
    OPEN = "open"  # 所属 fill in their sheets
    CLOSED = "closed"  # read-only for everyone


ROUND_STATE_LABELS = {RoundState.PREPARING: "準備中", RoundState.OPEN: "受付中", RoundState.CLOSED: "締切済"}


class Round(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    fiscal_year: int = Field(index=True)
    title: str = Field(sa_column=Column(String(100), nullable=False))
    checklist_version_id: int = Field(foreign_key="checklist_version.id")
    opens_on: date
    closes_on: date
    state: RoundState = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def state_label(self) -> str:
        """準備中 / 受付中 / 締切済"""
        return ROUND_STATE_LABELS[RoundState(self.state)]


class RoundEventKind(StrEnum):
    CREATE = "create"
    OPEN = "open"
    CLOSE = "close"
    REOPEN = "reopen"
    DEADLINE = "deadline"  # the deadline (closes_on) changed; the note says from what to what


ROUND_EVENT_LABELS = {RoundEventKind.CREATE: "作成", RoundEventKind.OPEN: "開始", RoundEventKind.CLOSE: "締切",
                      RoundEventKind.REOPEN: "再開", RoundEventKind.DEADLINE: "締切日の変更"}


class RoundEvent(SQLModel, table=True):
    """A round's own history: created, opened, closed, reopened (with the reason). Never deleted."""

    __tablename__ = "round_event"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    kind: RoundEventKind = Field(sa_column=Column(String(16), nullable=False))
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
