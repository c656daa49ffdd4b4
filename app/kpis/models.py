"""Figure definition versions in use, the figures (実績値) of each 所属 per month, and their history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class KpiVersion(SQLModel, table=True):
    """A published definition file (``kpis/<id>/v<N>.yaml``): recorded when the first value is stored under
    it; the file may never change afterwards (its sha256 is compared on every write)."""

    __tablename__ = "kpi_version"
    __table_args__ = (UniqueConstraint("set_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    set_id: str = Field(sa_column=Column(String(64), nullable=False))
    version: int
    title: str = Field(sa_column=Column(String(200), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))  # the file's text as published
    published_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))


class KpiValue(SQLModel, table=True):
    """One figure of one 所属 for one month (a yearly figure: the April of its fiscal year). ``value`` None:
    cleared. ``version`` grows by one on every change (optimistic locking, as the sheet's answers)."""

    __tablename__ = "kpi_value"
    __table_args__ = (
        UniqueConstraint("unit_id", "month", "figure_key"),
        CheckConstraint("value IS NULL OR value >= 0", name="value_not_negative"),
        # The desk's sums per figure and month over every 所属 (index-only).
        Index("ix_kpi_value_figure_month", "figure_key", "month", "unit_id", "value"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    month: date
    figure_key: str = Field(sa_column=Column(String(100), nullable=False))
    value: int | None = Field(default=None, sa_column=Column(BigInteger))
    version: int = 1
    kpi_version_id: int = Field(foreign_key="kpi_version.id")
    updated_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    updated_by_id: int | None = Field(default=None, foreign_key="user.id")


class KpiEvent(SQLModel, table=True):
    """History: one row per changed value (from the form, an import or the demo generator)."""

    __tablename__ = "kpi_event"
    __table_args__ = (Index("ix_kpi_event_unit_month", "unit_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    month: date
    figure_key: str = Field(sa_column=Column(String(100), nullable=False))
    old_value: int | None = Field(default=None, sa_column=Column(BigInteger))
    new_value: int | None = Field(default=None, sa_column=Column(BigInteger))
    version: int  # the value's version after this change
    source: str = Field(sa_column=Column(String(16), nullable=False))  # form | import | demo
    note: str = Field(default="", sa_column=Column(String(200), nullable=False))  # e.g. the imported file's name
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))


class KpiUpload(SQLModel, table=True):
    """A file uploaded for a bulk import, kept between the mapping, the preview and the apply (no process
    state). ``applied_at``: imported (an upload is applied once)."""

    __tablename__ = "kpi_upload"

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(sa_column=Column(String(200), nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    applied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    applied_values: int = 0  # values written by the apply


class KpiCap(SQLModel, table=True):
    """A cap (上限) on a "lower is better" count for one 部局 over one fiscal year (April to March), e.g. the
    copy paper a 部局 may buy (Tokyo sets one per 局). Set by the desk or an admin; every change is in the
    audit log (kind ``kpi_cap``). ``version`` grows by one on every change (optimistic locking)."""

    __tablename__ = "kpi_cap"
    __table_args__ = (
        UniqueConstraint("fiscal_year", "figure_key", "bureau_id"),
        CheckConstraint("cap > 0", name="cap_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    fiscal_year: int
    figure_key: str = Field(sa_column=Column(String(100), nullable=False))
    bureau_id: int = Field(foreign_key="unit.id")
    cap: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int = 1
    updated_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    updated_by_id: int | None = Field(default=None, foreign_key="user.id")
