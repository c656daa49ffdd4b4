"""Users (the app's directory), their place in the organisation, audit log and API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class SectionRole(StrEnum):
    MEMBER = "member"  # 所属ユーザー
    LEADER = "leader"  # DX推進リーダー


class User(SQLModel, table=True):
    """A person. Keyed by Entra ``tid`` + ``oid`` once they have signed in; the UPN links a
    directory row to the Entra account on first sign-in only."""

    __table_args__ = (UniqueConstraint("tenant_id", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    upn: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    display_name: str = Field(sa_column=Column(String(100), nullable=False))
    tenant_id: str | None = Field(default=None, sa_column=Column(String(64)))
    object_id: str | None = Field(default=None, sa_column=Column(String(64)))
    is_active: bool = True
    is_admin: bool = False
    is_desk: bool = False
    # Roles granted by Entra app roles at the last sign-in (comma-separated: "admin,desk").
    entra_roles: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    last_sign_in_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Every session cookie carries the generation it was started with; raising it ends them all at once.
    session_generation: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))


class Membership(SQLModel, table=True):
    """A user's place in a 所属: member or leader."""

    __table_args__ = (UniqueConstraint("user_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: SectionRole = Field(sa_column=Column(String(16), nullable=False))


class AuditEvent(SQLModel, table=True):
    """Sign-ins, refusals, sign-outs, role and administrative changes. Never deleted."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    actor_label: str = Field(default="", sa_column=Column(String(254), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class ApiToken(SQLModel, table=True):
    """A personal read-only API token (Power BI / Power Query). Only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
