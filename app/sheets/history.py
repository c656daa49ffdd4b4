"""A sheet's history, as the people who may read the sheet see it: every change of every answer,
submissions, reopenings and imports, newest first. Read-only: history is never changed or deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from app.auth.models import User
from app.auth.permissions import Principal
from app.checklists.service import ItemDef
from app.paging import Pager
from app.sheets.models import EventKind, EventSource, SheetEvent
from app.sheets.service import SheetView, get_sheet_for

KIND_LABELS = {
    EventKind.ANSWER: "回答の変更",
    EventKind.SUBMIT: "提出",
    EventKind.REOPEN: "提出の取消",
    EventKind.REVIEW_OK: "確認済（窓口）",
    EventKind.REVIEW_BACK: "差戻し（窓口）",
    EventKind.REVIEW_ALL: "シート全体を確認済（窓口）",
    EventKind.EVIDENCE_ADD: "根拠資料の追加",
    EventKind.EVIDENCE_REMOVE: "根拠資料の削除",
}
SOURCE_LABELS = {
    EventSource.PAGE: "画面",
    EventSource.API: "API",
    EventSource.IMPORT: "Excel取り込み",
    EventSource.DEMO: "デモデータ",
    EventSource.PREVIOUS: "前回の回答から確認",
    EventSource.REORG: "組織改正",
}
PER_PAGE = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    at: datetime
    actor: str | None  # display name; None when nobody is recorded (e.g. an import from the command line)
    kind: str
    source: str
    item_key: str | None
    item_text: str | None
    item_position: int | None
    old_status: str | None
    new_status: str | None
    old_memo: str | None
    new_memo: str | None
    note: str

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(EventKind(self.kind), self.kind)

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(EventSource(self.source), self.source)

    @property
    def status_changed(self) -> bool:
        return self.kind == EventKind.ANSWER and self.old_status != self.new_status

    @property
    def memo_changed(self) -> bool:
        """SheetEvent keeps the memo only when it changed (both sides then hold text, maybe empty)."""
        return self.old_memo is not None or self.new_memo is not None


@dataclass
class History:
    view: SheetView
    entries: list[HistoryEntry]
    total: int
    offset: int
    limit: int
    item: ItemDef | None

    @property
    def pager(self) -> Pager:
        return Pager(self.offset // self.limit + 1, self.limit, self.total)


def sheet_history(session: Session, principal: Principal, round_id: int, section_code: str, *,
                  item_key: str | None = None, offset: int = 0, limit: int = PER_PAGE,
                  clamp: bool = False) -> History:
    """One page of a sheet's history (newest first), optionally of one item only.

    Readable by everyone who may read the sheet (the scoped getter decides: 403 otherwise).
    ``clamp`` turns an offset past the end into the last page (pages); the API answers an empty list.
    """
    view = get_sheet_for(session, principal, round_id, section_code)
    item = view.definition.item(item_key) if item_key else None  # 404 for an unknown item
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    condition = SheetEvent.sheet_id == view.sheet.id
    if item is not None:
        condition = condition & (SheetEvent.item_key == item.key)
    total = session.exec(select(func.count()).select_from(SheetEvent).where(condition)).one()
    if clamp and total and offset >= total:  # a page past the end (an old link): show the last one
        offset = (total - 1) // limit * limit
    rows = session.exec(
        select(SheetEvent, User.display_name)
        .outerjoin(User, User.id == SheetEvent.actor_id)
        .where(condition)
        .order_by(SheetEvent.at.desc(), SheetEvent.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    by_key = view.definition.by_key
    entries = []
    for event, actor in rows:
        defined = by_key.get(event.item_key) if event.item_key else None
        entries.append(HistoryEntry(
            id=event.id, at=event.at, actor=actor, kind=event.kind, source=event.source,
            item_key=event.item_key, item_text=defined.text if defined else event.item_key,
            item_position=defined.position if defined else None,
            old_status=event.old_status, new_status=event.new_status,
            old_memo=event.old_memo, new_memo=event.new_memo, note=event.note,
        ))
    return History(view=view, entries=entries, total=total, offset=offset, limit=limit, item=item)
