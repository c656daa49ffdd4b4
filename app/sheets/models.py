"""Sheets (one 所属's answers in one round), answers and their full history."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.jpdate import now_utc


class SheetState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


class Sheet(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("round_id", "unit_id"),
        # A round's sheets of some 部局 (the quick wins' names of 所属 at × per 部局), and covering the
        # progress counts, the pooled completion per 部局 and the quick wins' candidates (index-only scans
        # of a round's sheets; migration 0018, 2026-12-06_desk_indexes.py).
        Index("ix_sheet_round_bureau", "round_id", "bureau_id", "state", "tally_answered", "tally_not_applicable",
              "tally_total", "unit_id", "tally_points", "tally_quick_fair", "tally_quick_not_done"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    # The 部局 the 所属 belonged to when the round was opened (rollups of past rounds stay true).
    bureau_id: int = Field(foreign_key="unit.id", index=True)
    state: SheetState = Field(default=SheetState.DRAFT, sa_column=Column(String(16), nullable=False))
    entry_on: date | None = None  # 記載日: the day of the last change
    submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    submitted_by_id: int | None = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    # The sheet's overall counts (the sum of its ``sheet_tally`` rows), kept by the writer with them
    # (``app.sheets.writer``): items, answered ◎ ○ △ ×, 該当なし, points, and the quick wins (☆ items
    # at △ and at ×, ``scoring.rules.QUICK_WIN_*``).
    tally_total: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    tally_answered: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    tally_not_applicable: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    tally_points: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    tally_quick_fair: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    tally_quick_not_done: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class Answer(SQLModel, table=True):
    """The current answer to one item. ``version`` grows by one on every change (optimistic locking)."""

    __table_args__ = (
        UniqueConstraint("sheet_id", "item_key"),
        CheckConstraint(
            "status IS NULL OR status IN ('◎', '○', '△', '×', '該当なし')", name="status_symbol"
        ),
        # Covering index for the per-round rollups (app/reports/queries.py): index-only scans.
        Index("ix_answer_sheet_item_status", "sheet_id", "item_key", "status"),
        # The shared practices of an item (app/sheets/practice.py).
        Index("ix_answer_item_shared", "item_key", "shared"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sheet_id: int = Field(foreign_key="sheet.id")
    item_key: str = Field(sa_column=Column(String(100), nullable=False))
    status: str | None = Field(default=None, sa_column=Column(String(8)))
    memo: str = Field(default="", sa_column=Column(Text, nullable=False))
    version: int = 0
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_by_id: int | None = Field(default=None, foreign_key="user.id")
    # 「取組事例として共有する」: true only while ticked, the status ◎ and the memo not empty (the writer keeps it).
    shared: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))


class PracticeMark(SQLModel, table=True):
    """The desk's mark on a shared practice (the answer of ``sheet_id`` to ``item_key``): featured first, or
    hidden from every 所属. Without a row: shown, not featured."""

    __tablename__ = "practice_mark"

    sheet_id: int = Field(foreign_key="sheet.id", primary_key=True)
    item_key: str = Field(sa_column=Column(String(100), primary_key=True))
    featured: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    hidden: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    updated_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    updated_by_id: int | None = Field(default=None, foreign_key="user.id")


class SheetTally(SQLModel, table=True):
    """A sheet's counts per category, kept in step with its answers by the writer (``app.sheets.writer``).
    The answers stay the source of truth."""

    __tablename__ = "sheet_tally"

    sheet_id: int = Field(foreign_key="sheet.id", primary_key=True)
    category: str = Field(sa_column=Column(String(100), primary_key=True))
    position: int  # the category's first item on the sheet (category order)
    total: int
    answered: int
    not_applicable: int
    points: int


# Group tallies: how many 所属 of a group (a 部局, or the whole prefecture: ``PREFECTURE``) in one round,
# by sheet state, have each value of a figure. Kept by the writer in the transaction of every change,
# so that a group's figures read a few hundred rows, whatever the number of 所属 and rounds.
PREFECTURE = 0  # bureau_id of the rows that count every 所属 of the round
NO_MATURITY = -1  # maturity_x10 of sheets (or categories) with no item answered ◎ ○ △ ×
UNANSWERED = ""  # status of items not answered yet


class MaturityTally(SQLModel, table=True):
    """所属 per maturity (tenths of a point) of their sheet (``category`` "") or of one category."""

    __tablename__ = "maturity_tally"
    # Keys in the order the figures read them: one round's group (a 部局 or the prefecture) and category,
    # maturities in order (a histogram read in index order); or one category across every 部局.
    __table_args__ = (Index("ix_maturity_tally_round_category", "round_id", "category", "bureau_id", "maturity_x10",
                            "state", "sections"),)

    round_id: int = Field(foreign_key="round.id", primary_key=True)
    bureau_id: int = Field(primary_key=True)  # a 部局's unit id, or PREFECTURE
    category: str = Field(sa_column=Column(String(100), primary_key=True))  # "" = the whole sheet
    maturity_x10: int = Field(primary_key=True)  # round(maturity, 1) × 10, or NO_MATURITY
    state: str = Field(sa_column=Column(String(16), primary_key=True))
    sections: int


class ItemTally(SQLModel, table=True):
    """所属 per status of one item ("" = unanswered)."""

    __tablename__ = "item_tally"
    # One group's items (weak items); or some items at one status across every 部局 (相手次第 items).
    # An item's counts per 部局 in some sheet states, from the index alone (migration 0018, 2026-12-06_desk_indexes.py).
    __table_args__ = (Index("ix_item_tally_round_item", "round_id", "item_key", "status", "state", "bureau_id",
                            "sections"),)

    round_id: int = Field(foreign_key="round.id", primary_key=True)
    bureau_id: int = Field(primary_key=True)  # a 部局's unit id, or PREFECTURE
    item_key: str = Field(sa_column=Column(String(100), primary_key=True))
    status: str = Field(sa_column=Column(String(8), primary_key=True))
    state: str = Field(sa_column=Column(String(16), primary_key=True))
    sections: int


class StoredGroupFigure(SQLModel, table=True):
    """The figures of a group in a closed round, kept so that pages over many rounds (a 所属's trend) do
    not recompute them: written when the round is closed (``sheets.service.close_round``) and again by
    the writer whenever it changes a closed round; read only while the round is closed. Always equal to
    what ``figures.groups`` computes from ``maturity_tally`` (the test of the stored tallies checks it)."""

    __tablename__ = "group_figure"

    round_id: int = Field(foreign_key="round.id", primary_key=True)
    bureau_id: int = Field(primary_key=True)  # a 部局's unit id, or PREFECTURE
    category: str = Field(sa_column=Column(String(100), primary_key=True))  # "" = the whole sheet
    sections: int
    scored: int
    tenths: int  # the sum of the scored 所属's maturities, in tenths of a point
    minimum: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    maximum: float | None = None


class EventKind(StrEnum):
    ANSWER = "answer"
    SUBMIT = "submit"
    REOPEN = "reopen"
    REVIEW_OK = "review_ok"  # the desk marked an item 確認済
    REVIEW_BACK = "review_back"  # the desk sent an item back (差戻し) with a comment
    REVIEW_ALL = "review_all"  # the desk marked the whole sheet 確認済
    EVIDENCE_ADD = "evidence_add"  # a link or a file added to an answer (note: what)
    EVIDENCE_REMOVE = "evidence_remove"  # a link or a file removed from an answer (note: what)


class EventSource(StrEnum):
    PAGE = "page"
    API = "api"
    IMPORT = "import"
    DEMO = "demo"
    PREVIOUS = "previous"  # 「変更なし」/「前回どおりで確認」: the previous round's answer confirmed (app.sheets.previous)
    REORG = "reorg"  # a merge folded the sheet of a 所属 merged away into its successor's


class SheetEvent(SQLModel, table=True):
    """History: every change of every answer, every submission and reopening. Never deleted."""

    __tablename__ = "sheet_event"
    __table_args__ = (Index("ix_sheet_event_sheet_at", "sheet_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    sheet_id: int = Field(foreign_key="sheet.id")
    at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    kind: EventKind = Field(sa_column=Column(String(16), nullable=False))
    source: EventSource = Field(sa_column=Column(String(16), nullable=False))
    item_key: str | None = Field(default=None, sa_column=Column(String(100)))
    old_status: str | None = Field(default=None, sa_column=Column(String(8)))
    new_status: str | None = Field(default=None, sa_column=Column(String(8)))
    old_memo: str | None = Field(default=None, sa_column=Column(Text))
    new_memo: str | None = Field(default=None, sa_column=Column(Text))
    note: str = Field(default="", sa_column=Column(Text, nullable=False))


class ReviewMark(StrEnum):
    CONFIRMED = "confirmed"  # 確認済
    RETURNED = "returned"  # 差戻し
    RESUBMITTED = "resubmitted"  # 差戻し answered: the 所属 submitted again (the comment stays; the desk reviews again)


class SheetReview(SQLModel, table=True):
    """The desk's latest mark on one item of a submitted sheet (確認済, or 差戻し with its comment). Written
    only by the writer (``writer.mark_review``); every mark is also a ``sheet_event`` (history)."""

    __tablename__ = "sheet_review"
    __table_args__ = (UniqueConstraint("sheet_id", "item_key"),)

    id: int | None = Field(default=None, primary_key=True)
    sheet_id: int = Field(foreign_key="sheet.id", index=True)
    item_key: str = Field(sa_column=Column(String(100), nullable=False))
    mark: str = Field(sa_column=Column(String(16), nullable=False))
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    by_id: int | None = Field(default=None, foreign_key="user.id")


class EvidenceKind(StrEnum):
    LINK = "link"
    FILE = "file"


class AnswerEvidence(SQLModel, table=True):
    """Evidence (根拠資料) on one answer: a link, or a file whose bytes are stored here (``data``: lists read
    the other columns only). Written only by the writer (``writer.add_evidence`` / ``remove_evidence``), each change with
    its ``sheet_event``. A removal keeps the row (``removed_at``: history says what was there, with the file's
    name, size and SHA-256) and drops the bytes. Rules: ``app/sheets/evidence_rules.py``."""

    __tablename__ = "answer_evidence"
    __table_args__ = (
        CheckConstraint("kind IN ('link', 'file')", name="kind"),
        Index("ix_answer_evidence_sheet_item", "sheet_id", "item_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sheet_id: int = Field(foreign_key="sheet.id")
    item_key: str = Field(sa_column=Column(String(100), nullable=False))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    url: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # links
    label: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
    filename: str = Field(default="", sa_column=Column(String(255), nullable=False, server_default=""))  # files
    content_type: str = Field(default="", sa_column=Column(String(100), nullable=False, server_default=""))
    size: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    sha256: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime = Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    removed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    removed_by_id: int | None = Field(default=None, foreign_key="user.id")
