"""Outbox tables: the notices to send, who turned which notices off, and where a 部局 (or the desk) is told."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class Channel(StrEnum):
    MAIL = "mail"  # SMTP relay; recipient is a mail address
    TEAMS = "teams"  # Teams Workflows webhook; recipient is "desk" or "bureau:<unit id>"


class OutboxState(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    SENDING = "sending"  # claimed by a sender until next_attempt_at (its lease); then due again
    SENT = "sent"
    FAILED = "failed"  # given up: shown on 「送信できなかった通知」 with its reason, 「再送」 puts it back


class OutboxMessage(SQLModel, table=True):
    """One notice to one recipient on one channel. ``idempotency_key`` is unique: the same event enqueued
    twice is one row, and it is the mail's Message-ID, so a receiver can drop a repeat."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    recipient: str = Field(sa_column=Column(String(254), nullable=False))
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    subject: str = Field(sa_column=Column(String(200), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    idempotency_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    state: str = Field(default=OutboxState.PENDING, sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))


class NotifyOptOut(SQLModel, table=True):
    """A person turned one kind of non-essential notice off (通知設定)."""

    __tablename__ = "notify_opt_out"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False))


class NotifyChannel(SQLModel, table=True):
    """Where a 部局 (scope ``bureau:<unit id>``) or the desk (scope ``desk``) is told: a contact mail address
    and a Teams Workflows webhook URL, stored encrypted (``app.notify.secrets``); only its host stays readable."""

    __tablename__ = "notify_channel"

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    contact_address: str = Field(default="", sa_column=Column(String(254), nullable=False, server_default=""))
    webhook_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    webhook_host: str = Field(default="", sa_column=Column(String(254), nullable=False, server_default=""))
    updated_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
