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


class KpiTally(SQLModel, table=True):
    """Per 所属, fiscal year and figure: the sum of its stored values and how many of them there are (a yearly
    figure: its one April value). Kept by the one writer (``service.write_values``) in the transaction that
    changes ``kpi_value``, so that the desk's sums per 部局 and the prefecture read about 3,000 rows of one
    figure instead of every month of every 所属 (decided by measurement: docs/benchmarks.md). Per 所属, not
    per 部局: a 所属 moved by a reorganisation counts under its 部局 of today, as the values' own sums did,
    and 「所属 that reported」 stays a count of distinct 所属 over the year."""

    __tablename__ = "kpi_tally"
    __table_args__ = (
        # (no CHECK on months: an upsert's candidate row carries the change, -1 for a cleared value)
        # The desk's sums of one figure and year over every 所属 (index-only).
        Index("ix_kpi_tally_figure_year", "figure_key", "fiscal_year", "unit_id", "total", "months"),
    )

    unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    fiscal_year: int = Field(primary_key=True)
    figure_key: str = Field(sa_column=Column(String(100), primary_key=True))
    total: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))  # the sum of the values stored
    months: int = 0  # values stored (not cleared): 0 means the 所属 reported nothing this year


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
