"""目標: a 所属's improvement targets for the next round."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class Target(SQLModel, table=True):
    """目標: the status a 所属 aims for on one item in the round after ``round_id`` (its base round)."""

    __table_args__ = (
        UniqueConstraint("unit_id", "round_id", "item_key"),
        CheckConstraint("status IN ('◎', '○', '△')", name="status_symbol"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    item_key: str = Field(sa_column=Column(String(100), nullable=False))
    status: str = Field(sa_column=Column(String(8), nullable=False))
    set_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    set_by_id: int | None = Field(default=None, foreign_key="user.id")
