"""Rounds (調査回): one self-check of every 所属 against one published checklist version."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class RoundState(StrEnum):
    DRAFT = "draft"  # prepared, not yet open to 所属
    OPEN = "open"  # 所属 fill in their sheets
    CLOSED = "closed"  # read-only for everyone


ROUND_STATE_LABELS = {RoundState.DRAFT: "準備中", RoundState.OPEN: "受付中", RoundState.CLOSED: "締切済"}


class Round(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    fiscal_year: int = Field(index=True)
    title: str = Field(sa_column=Column(String(100), nullable=False))
    checklist_version_id: int = Field(foreign_key="checklist_version.id")
    opens_on: date
    closes_on: date
    state: RoundState = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
