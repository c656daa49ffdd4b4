"""The organisation: a tree of units (部局 → 所属, any depth) with dated validity and lineage links."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import Column, Index, String, text
from sqlmodel import Field, SQLModel


class UnitKind(StrEnum):
    BUREAU = "bureau"  # 部局: groups units; has no sheet of its own
    SECTION = "section"  # 所属: fills in a sheet


class LinkKind(StrEnum):
    RENAME = "rename"
    MOVE = "move"
    MERGE = "merge"
    SPLIT = "split"


class Unit(SQLModel, table=True):
    """One unit as it stood between ``valid_from`` and ``valid_to`` (exclusive; None = in force).

    A reorganisation never edits a unit in place: a renamed, moved, merged or split unit is closed
    and a new unit is opened, joined to its predecessors by ``UnitLink`` rows.
    """

    __table_args__ = (
        Index(
            "uq_unit_code_in_force",
            "code",
            unique=True,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    kind: UnitKind = Field(sa_column=Column(String(16), nullable=False))
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    position: int = 0
    valid_from: date
    valid_to: date | None = None


class UnitLink(SQLModel, table=True):
    """Lineage across a reorganisation: ``predecessor`` continues as ``successor``."""

    __tablename__ = "unit_link"

    id: int | None = Field(default=None, primary_key=True)
    predecessor_id: int = Field(foreign_key="unit.id", index=True)
    successor_id: int = Field(foreign_key="unit.id", index=True)
    kind: LinkKind = Field(sa_column=Column(String(16), nullable=False))
    effective_on: date
