"""Published checklist versions. A published version is never changed; rounds point at one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class ChecklistVersion(SQLModel, table=True):
    __tablename__ = "checklist_version"
    __table_args__ = (UniqueConstraint("checklist_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    checklist_id: str = Field(sa_column=Column(String(64), nullable=False))
    version: int
    title: str = Field(sa_column=Column(String(200), nullable=False))
    # The prefecture's legend (だいたいの目安) exactly as the file gives it.
    legend: dict = Field(sa_column=Column(JSON, nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))  # the file's text as published
    published_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    published_by_id: int | None = Field(default=None, foreign_key="user.id")


class ChecklistItem(SQLModel, table=True):
    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("version_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="checklist_version.id", index=True)
    key: str = Field(sa_column=Column(String(100), nullable=False))
    position: int  # 1-based order on the sheet
    category: str = Field(sa_column=Column(String(100), nullable=False))
    scene: str = Field(sa_column=Column(String(100), nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    difficulty: int  # 1 ☆ やりやすい … 3 ☆☆☆ 相手次第
    allows_na: bool = False
    links: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hints: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ChecklistPoints(SQLModel, table=True):
    """Points per status for one version (default ◎3 ○2 △1 ×0); SQL rollups join this table."""

    __tablename__ = "checklist_points"

    version_id: int = Field(foreign_key="checklist_version.id", primary_key=True)
    status: str = Field(sa_column=Column(String(8), primary_key=True))
    points: int
