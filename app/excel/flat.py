"""The flat table for analysis (Power BI, Power Query): one row per answer per round, every column a plain
value, the same columns in every row and every round, so that a model built on it keeps working.

* Rows are ordered by the answer's id, a stable key that never changes; a page ends at a row and the next
  page starts after it (keyset paging). The cursor handed out is opaque (base64 of a versioned string):
  clients pass it back, they do not build it.
* ``since``: only answers changed at or after that instant (``updated_at``), for incremental refresh.
* Memory stays constant however large the table: rows are read in keyset batches of ``BATCH`` (one short
  query each), turned into CSV or JSON text and handed on; nothing holds the whole table.
* 所属 and 部局 are the units of the round's sheet: their codes and names as of that round, not today's.
* Read-only; authorised through ``permissions.why_not_export_everything`` (the desk and admins, and their
  read-only API tokens).
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.errors import Forbidden, InvalidInput
from app.jpdate import JST, to_jst
from app.orgs.models import Unit
from app.rounds.models import Round
from app.sheets.models import Answer, Sheet
from app.text import scrub

BATCH = 5_000  # rows per query (and per chunk sent) while streaming
DEFAULT_LIMIT = 50_000
MAX_LIMIT = 1_000_000
_CURSOR_PREFIX = "a1:"

# (column, description): the one list of the table's columns, for CSV, JSON and the OpenAPI schema.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("answer_id", "the answer's id: the stable key of the row (the cursor follows it)"),
    ("round_id", "調査回のID"),
    ("round_title", "調査回の名称"),
    ("fiscal_year", "年度 (the fiscal year starting in April of this year)"),
    ("bureau_code", "部局コード as of that round"),
    ("bureau_name", "部局名 as of that round"),
    ("section_code", "所属コード as of that round"),
    ("section_name", "所属名 as of that round"),
    ("item_key", "チェック項目のキー (stable across checklist versions)"),
    ("item_text", "チェック項目 (in the round's checklist version)"),
    ("category", "カテゴリ"),
    ("difficulty", "難易度 1–3 (☆ to ☆☆☆)"),
    ("status", "達成状況: ◎ ○ △ × 該当なし, or empty/null (unanswered)"),
    ("points", "点数 of the status (empty/null: unanswered or 該当なし, which are not scored)"),
    ("memo_length", "メモの文字数 (the memo itself is not in the table)"),
    ("updated_at", "last change of the answer, ISO 8601 in JST (+09:00); empty/null if never answered"),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)


def encode_cursor(answer_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{answer_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    bad = InvalidInput("cursor の値が正しくありません。前のページの応答にある next_cursor をそのまま渡してください。")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    number = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 18:
        raise bad
    return int(number)


@dataclass(frozen=True)
class Query:
    """What one page asks for."""

    after: int  # answer id the page starts after (0: from the start)
    limit: int
    since: datetime | None  # aware
    round_id: int | None


@dataclass(frozen=True)
class Page:
    query: Query
    last_id: int | None  # the page's last answer id (None: an empty page)
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        return encode_cursor(self.last_id) if self.has_more and self.last_id is not None else None


def make_query(principal: Principal, *, cursor: str | None, limit: int, since: datetime | None,
               round_id: int | None) -> Query:
    refusal = permissions.why_not_export_everything(principal)
    if refusal:
        raise Forbidden(refusal)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=JST)  # a time without an offset is Japan's
    return Query(after=decode_cursor(cursor) if cursor else 0, limit=limit, since=since, round_id=round_id)


def _filters(query: Query) -> list:
    where = []
    if query.since is not None:
        where.append(Answer.updated_at >= query.since)
    if query.round_id is not None:
        where.append(Sheet.round_id == query.round_id)
    return where


def plan_page(session: Session, query: Query) -> Page:
    """Where the page ends (before any row is sent, so the next cursor can lead the response): the id of
    its last row, and whether any row follows. One index range scan over the page's ids."""
    ids = (select(Answer.id).join(Sheet, Sheet.id == Answer.sheet_id)
           .where(Answer.id > query.after, *_filters(query)).order_by(Answer.id)
           .offset(query.limit - 1).limit(2))
    found = list(session.execute(ids).scalars())
    if found:
        return Page(query, found[0], len(found) > 1)
    last = session.execute(select(func.max(Answer.id)).join(Sheet, Sheet.id == Answer.sheet_id)
                           .where(Answer.id > query.after, *_filters(query))).scalar()
    return Page(query, last, False)


def rows(session: Session, page: Page) -> Iterator[tuple]:
    """The page's rows, in ``COLUMN_NAMES`` order, read ``BATCH`` at a time by keyset (answer id)."""
    if page.last_id is None:
        return
    section, bureau = aliased(Unit), aliased(Unit)
    base = (
        select(Answer.id, Round.id, Round.title, Round.fiscal_year, Round.checklist_version_id, bureau.code,
               bureau.name, section.code, section.name, Answer.item_key, Answer.status,
               func.length(Answer.memo), Answer.updated_at)
        .join(Sheet, Sheet.id == Answer.sheet_id)
        .join(Round, Round.id == Sheet.round_id)
        .join(section, section.id == Sheet.unit_id)
        .join(bureau, bureau.id == Sheet.bureau_id)
        .where(*_filters(page.query), Answer.id <= page.last_id)
        .order_by(Answer.id)
        .limit(BATCH)
    )
    items: dict[tuple[int, str], tuple[str, str, int | None]] = {}  # (version, key) → text, category, difficulty
    points_of: dict[int, dict[str, int]] = {}
    clean = functools.lru_cache(maxsize=20_000)(scrub)  # names and titles repeat on every row
    conn = session.connection()
    after = page.query.after
    while True:
        batch = conn.execute(base.where(Answer.id > after)).all()
        for (answer_id, round_id, title, fiscal_year, version_id, bureau_code, bureau_name, section_code,
             section_name, item_key, status, memo_length, updated_at) in batch:
            item = items.get((version_id, item_key))
            if item is None:
                item = _item(session, version_id, item_key, points_of)
                items[(version_id, item_key)] = item
            yield (answer_id, round_id, clean(title), fiscal_year, bureau_code, clean(bureau_name), section_code,
                   clean(section_name), item_key, item[0], item[1], item[2], status,
                   points_of[version_id].get(status) if status else None, memo_length or 0,
                   to_jst(updated_at).isoformat(timespec="seconds") if updated_at else None)
        if len(batch) < BATCH:
            return
        after = batch[-1][0]


def _item(session: Session, version_id: int, key: str, points_of: dict[int, dict[str, int]]
          ) -> tuple[str, str, int | None]:
    definition = checklists.get_definition(session, version_id)
    points_of.setdefault(version_id, {status.value: p for status, p in definition.points.items()})
    item = definition.by_key.get(key)
    return (item.text, item.category, item.difficulty) if item else ("", "", None)


_TEXT_COLUMNS = (2, 5, 7, 9, 10)  # round_title, bureau_name, section_name, item_text, category
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_chunks(rows_: Iterator[tuple]) -> Iterator[bytes]:
    """UTF-8 (the caller adds the BOM), CRLF, a header of the column names; a text cell Excel would take
    for a formula gets a leading ``'`` (as in the sheet export). Chunks of ``BATCH`` rows."""
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer, lineterminator="\r\n")  # None is written as an empty field
    out.writerow(COLUMN_NAMES)
    guard = functools.lru_cache(maxsize=20_000)(_guard)  # the same few thousand names and texts on every row
    for count, row in enumerate(rows_, start=1):
        if guard(row[2]) or guard(row[5]) or guard(row[7]) or guard(row[9]) or guard(row[10]):  # _TEXT_COLUMNS
            row = tuple("'" + v if i in _TEXT_COLUMNS and guard(v) else v for i, v in enumerate(row))
        out.writerow(row)
        if count % BATCH == 0:
            yield _take(buffer)
    yield _take(buffer)


def _guard(value: str | None) -> bool:
    """Whether Excel would take this text for a formula."""
    return bool(value) and value.startswith(_FORMULA_START)


def _take(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def json_chunks(page: Page, rows_: Iterator[tuple]) -> Iterator[bytes]:
    """``{"next_cursor": …, "columns": […], "rows": [{…}, …]}``, the rows streamed ``BATCH`` at a time."""
    head = {"next_cursor": page.next_cursor, "columns": list(COLUMN_NAMES)}
    yield (json.dumps(head, ensure_ascii=False)[:-1] + ', "rows": [').encode("utf-8")
    parts: list[str] = []
    first = True
    for row in rows_:
        text = json.dumps(dict(zip(COLUMN_NAMES, row, strict=True)), ensure_ascii=False)
        parts.append(text if first else "," + text)
        first = False
        if len(parts) >= BATCH:
            yield "".join(parts).encode("utf-8")
            parts = []
    parts.append("]}")
    yield "".join(parts).encode("utf-8")
