"""Reading filled-in Excel sheets (XLSX) for the import. Pure: bytes in, ``ParsedFile`` out; no database.

Untrusted input, so everything is checked before openpyxl sees it: each file's size, its ZIP container
(entries, the workbook part), and for the upload as a whole (every file of one preview or one CLI run
together, ``Limits``) the expanded size and the number of shared strings (``<si>`` elements, counted in
the raw XML while it is inflated, before openpyxl parses any of it). The whole read has a time budget,
checked between files and stages and on every row read. openpyxl parses the XML with defusedxml
(installed as a dependency). A bad file becomes a message on that file (``ParsedFile.error``); passing a
limit of the upload refuses the whole upload (``TooLarge`` or ``InvalidInput``, naming the limit and the
file), before anything is stored.

What is read from each worksheet that has a header row with チェック項目 and 達成状況 (see
``app.excel.layout``): the 所属コード / 所属名 / 記載日 labels above the header (the value is the first
non-empty cell to their right), and for every row below it the item text, the 達成状況 symbol, the
メモ and, in files made by the export, the hidden 項目キー. Worksheets without that header (such as
the export's 集計) are skipped.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from app.errors import InvalidInput, TooLarge
from app.excel import layout
from app.text import scrub

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger("paperless.import")

MAX_ZIP_ENTRIES = 2_000
MAX_SHEETS = 300
MAX_ROWS = 2_000  # rows read per worksheet
MAX_COLS = 40
HEADER_SCAN_ROWS = 30

_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_ZIP_MAGIC = b"PK\x03\x04"
_WAREKI = re.compile(r"^(令和|平成|R|H)(元|\d{1,2})[年.\-/](\d{1,2})[月.\-/](\d{1,2})日?$")
_WESTERN = re.compile(r"^(\d{4})[年.\-/](\d{1,2})[月.\-/](\d{1,2})日?$")
_ERA_START = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988}
# A shared string: <si>, <si/>, <si attr…> or with a namespace prefix (<x:si>). Counted in every part of the
# archive, since [Content_Types].xml may name any part the shared strings; overcounting only refuses sooner.
_SI = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?si[\s/>]")
_SI_TAIL = 64  # longest start of a tag kept from one chunk for the next
_CHUNK = 1 << 16
_NOTHING_STORED = "何も取り込んでいません。"


@dataclass(frozen=True)
class Limits:
    """What one upload (every file of one preview, or of one CLI run) may cost, all files together."""

    max_file_bytes: int  # each file as uploaded
    max_expanded_bytes: int  # all files together, once unzipped (sizes declared in the archives)
    max_shared_strings: int  # all files together
    time_budget_seconds: float  # reading every file, from the first check to the last row

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_file_bytes=settings.max_upload_bytes,
                   max_expanded_bytes=settings.import_max_expanded_bytes,
                   max_shared_strings=settings.import_max_shared_strings,
                   time_budget_seconds=settings.import_time_budget_seconds)


class _Budget:
    """The upload's deadline, checked cooperatively (no thread is ever interrupted)."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds, self.clock = seconds, clock
        self.deadline = clock() + seconds

    def check(self, name: str) -> None:
        if self.clock() > self.deadline:
            raise InvalidInput(f"ファイル「{name}」: 読み取りに時間がかかりすぎたため中止しました（1回の取り込みの上限 "
                               f"{self.seconds:g} 秒）。ファイルを分けて取り込むか、表以外のシートを削除してください。"
                               + _NOTHING_STORED)


@dataclass(frozen=True)
class ParsedRow:
    row: int  # the Excel row number
    text: str  # チェック項目 as written
    key: str | None  # 項目キー (files made by the export)
    status: str | None  # 達成状況 as written; None when the cell is blank
    memo: str | None  # メモ; None when the cell is blank
    status_ref: str  # e.g. "E7", for messages


@dataclass(frozen=True)
class ParsedSheet:
    title: str
    code: str | None  # 所属コード written on the sheet
    name: str | None  # 所属名 written on the sheet
    entry_on: date | None  # 記載日
    rows: tuple[ParsedRow, ...]
    errors: tuple[str, ...] = ()  # e.g. formulas where values are expected
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFile:
    name: str
    sheets: tuple[ParsedSheet, ...] = ()
    error: str | None = None  # the file as a whole is refused
    skipped: tuple[str, ...] = field(default=())  # worksheets without a checklist table

    @property
    def stem(self) -> str:
        return PurePath(self.name).stem

    def to_dict(self) -> dict:
        """Plain JSON-able data (the import keeps it, signed, between the preview and the apply)."""
        data = asdict(self)
        for sheet in data["sheets"]:
            sheet["entry_on"] = sheet["entry_on"].isoformat() if sheet["entry_on"] else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ParsedFile:
        sheets = []
        for s in data.get("sheets", ()):
            rows = tuple(ParsedRow(**r) for r in s["rows"])
            entry_on = date.fromisoformat(s["entry_on"]) if s.get("entry_on") else None
            sheets.append(ParsedSheet(title=s["title"], code=s["code"], name=s["name"], entry_on=entry_on, rows=rows,
                                      errors=tuple(s.get("errors", ())), warnings=tuple(s.get("warnings", ()))))
        return cls(name=data["name"], sheets=tuple(sheets), error=data.get("error"),
                   skipped=tuple(data.get("skipped", ())))


def read_upload(files: Sequence[tuple[str, bytes]], limits: Limits, *, clock: Callable[[], float] = time.monotonic,
                progress: Callable[[int], None] = lambda n: None) -> list[ParsedFile]:
    """Parse every file of one upload within ``limits``. A file with a problem of its own gets its ``error``
    (the preview shows it on that file); an upload past one of ``limits`` raises ``TooLarge`` (size, shared
    strings) or ``InvalidInput`` (time), naming the limit and the file where it was passed."""
    budget = _Budget(limits.time_budget_seconds, clock)
    checked: list[tuple[str, bytes, list[zipfile.ZipInfo], str | None]] = []
    expanded = 0
    for raw_name, data in files:
        name = PurePath(scrub(raw_name, multiline=False).replace("\\", "/")).name or "（名前なし）"  # kept in the history
        entries, refusal = _open(name, data, limits.max_file_bytes)
        # Declared sizes bound what zipfile will inflate (it stops there and checks the CRC), so this is a real cap.
        expanded += sum(e.file_size for e in entries)
        if expanded > limits.max_expanded_bytes:
            raise TooLarge(f"ファイル「{name}」: 展開後の合計サイズが上限（1回の取り込みで "
                           f"{_mb(limits.max_expanded_bytes)}）を超えています。ファイルを分けて取り込むか、"
                           "画像など表以外のデータを削除してください。" + _NOTHING_STORED)
        checked.append((name, data, entries, refusal))
    strings = 0
    for name, data, entries, _ in checked:
        strings = _count_shared_strings(name, data, entries, strings, limits.max_shared_strings, budget)
    parsed = []
    for name, data, _, refusal in checked:
        parsed.append(ParsedFile(name=name, error=refusal) if refusal else _read_file(name, data, budget))
        progress(1)
    return parsed


def _mb(size: int) -> str:
    return f"{size / 1_000_000:g} MB"


def _count_shared_strings(name: str, data: bytes, entries: list[zipfile.ZipInfo], counted: int, limit: int,
                          budget: _Budget) -> int:
    """``counted`` plus the shared strings of one file, inflating it chunk by chunk; refuses as soon as the
    upload's count passes ``limit``."""
    if not entries:
        return counted
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in entries:
            tail = b""
            try:
                with archive.open(entry) as part:
                    while chunk := part.read(_CHUNK):
                        budget.check(name)
                        buffer = tail + chunk
                        cut = buffer.rfind(b"<")
                        tail = buffer[cut:] if cut >= 0 and len(buffer) - cut <= _SI_TAIL else b""
                        counted += len(_SI.findall(buffer[: len(buffer) - len(tail)]))
                        if counted > limit:
                            break
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError, OSError, EOFError):
                continue  # a broken or encrypted part: openpyxl refuses the file with its own message
            counted += len(_SI.findall(tail + b" "))
            if counted > limit:
                raise TooLarge(f"ファイル「{name}」: 文字列（共有文字列）の数が上限（1回の取り込みで {limit:,}個）を"
                               "超えています。ファイルを分けて取り込んでください。" + _NOTHING_STORED)
    return counted


def _read_file(name: str, data: bytes, budget: _Budget) -> ParsedFile:
    """Parse one file that passed the checks. Never raises for a bad file: ``error`` says what is wrong."""
    budget.check(name)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # noqa: BLE001 — a third-party parser on untrusted input: any failure is a bad file
        log.info("unreadable workbook %r: %s", name, exc.__class__.__name__)
        return ParsedFile(name=name, error="Excelのブックとして読めません。ファイルが壊れていないか、"
                                           "Excelで開いて「.xlsx」形式で保存し直してから、もう一度選んでください。")
    try:
        budget.check(name)
        worksheets = [ws for ws in workbook.worksheets if hasattr(ws, "iter_rows")]
        if len(worksheets) > MAX_SHEETS:
            return ParsedFile(name=name, error=f"シートが多すぎます（{len(worksheets)}枚、上限 {MAX_SHEETS}枚）。"
                                               "ファイルを分けてください。")
        sheets, skipped = [], []
        for ws in worksheets:
            parsed = _read_sheet(ws, lambda: budget.check(name))
            if parsed is None:
                skipped.append(ws.title)
            else:
                sheets.append(parsed)
    except InvalidInput:
        raise  # out of time
    except Exception as exc:  # noqa: BLE001 — malformed parts surface only while reading rows
        log.info("unreadable worksheet in %r: %s", name, exc.__class__.__name__)
        return ParsedFile(name=name, error="シートの内容を読み取れません。"
                                           "Excelで開いて「.xlsx」形式で保存し直してください。")
    finally:
        workbook.close()
    if not sheets:
        shown = "、".join(f"「{t}」" for t in skipped[:5]) or "なし"
        return ParsedFile(name=name, error=(
            "チェックシートの表が見つかりません。見出し行（「チェック項目」「達成状況」の列）があるシートを"
            f"含むファイルを選んでください（このファイルのシート: {shown}）。"), skipped=tuple(skipped))
    return ParsedFile(name=name, sheets=tuple(sheets), skipped=tuple(skipped))


def _open(name: str, data: bytes, max_bytes: int) -> tuple[list[zipfile.ZipInfo], str | None]:
    """The archive's entries, or a refusal of this file alone (with no entries)."""
    suffix = PurePath(name).suffix.lower()
    if not data:
        return [], "空のファイルです（0バイト）。記入したExcelファイルを選び直してください。"
    if len(data) > max_bytes:
        return [], f"ファイルが大きすぎます（{len(data) / 1e6:.1f} MB、上限 {max_bytes / 1e6:.1f} MB）。"
    if suffix == ".csv":
        return [], "CSVファイルは取り込めません。Excelのチェックシート（.xlsx）を選んでください。"
    if suffix == ".xlsm":
        return [], "マクロ付きブック（.xlsm）は受け付けません。Excelで「.xlsx」形式で保存し直してください。"
    if data.startswith(_OLE_MAGIC):
        return [], ("古い形式（.xls）か、パスワードで保護されたファイルです。パスワードを外し、"
                    "Excelで「.xlsx」形式で保存し直してください。")
    if suffix != ".xlsx" or not data.startswith(_ZIP_MAGIC):
        return [], "XLSXファイル（Excelのブック .xlsx）ではありません。記入したチェックシートの .xlsx を選んでください。"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return [], "ファイルが壊れているため読めません。Excelで開いて「.xlsx」形式で保存し直してください。"
    if len(entries) > MAX_ZIP_ENTRIES:
        return [], f"ファイルの構成部品が多すぎます（{len(entries):,}個）。チェックシートのファイルを選んでください。"
    if "xl/workbook.xml" not in {e.filename for e in entries}:
        return [], "XLSXファイル（Excelのブック）ではありません。記入したチェックシートの .xlsx を選んでください。"
    return entries, None


def _text(value) -> str | None:
    """A cell's value as text (None for blank)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date() if value.time() == datetime.min.time() else value
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return text if text.strip() else None


def _read_sheet(ws, check_time: Callable[[], None]) -> ParsedSheet | None:
    grid: list[list[tuple[object, str]]] = []  # (value, data_type) per cell
    for row in ws.iter_rows(min_row=1, max_row=MAX_ROWS + 1, max_col=MAX_COLS):
        check_time()
        grid.append([(getattr(c, "value", None), getattr(c, "data_type", "n")) for c in row])
    header_at = None
    columns: dict[str, int] = {}
    for r, cells in enumerate(grid[:HEADER_SCAN_ROWS]):
        names = {layout.normalise(v): c for c, (v, _) in reversed(list(enumerate(cells))) if v is not None}
        if layout.COL_TEXT in names and layout.COL_STATUS in names:
            header_at = r
            columns = {n: names[n] for n in layout.COLUMNS if n in names}
            break
    if header_at is None:
        return None
    errors: list[str] = []
    warnings: list[str] = []

    def formula(r: int, c: int) -> bool:
        if grid[r][c][1] == "f":
            errors.append(f"セル{get_column_letter(c + 1)}{r + 1}に数式が入っています。"
                          "数式ではなく値を直接入力してください（コピーして「値の貼り付け」でも直せます）。")
            return True
        return False

    labels: dict[str, str | None] = {}
    label_cells: dict[str, tuple[int, int]] = {}
    for r in range(header_at):
        cells = grid[r]
        for c, (value, _) in enumerate(cells):
            label = layout.normalise(value)
            if label in (layout.LABEL_SECTION_CODE, layout.LABEL_SECTION_NAME, "所属", layout.LABEL_ENTRY_DATE):
                key = layout.LABEL_SECTION_NAME if label == "所属" else label
                if key in labels:
                    continue
                found = _value_right_of(cells, c)
                labels[key] = None
                if found is not None and not formula(r, found[0]):
                    labels[key] = found[1]
                    label_cells[key] = (r, found[0])

    entry_on = _entry_date(labels.get(layout.LABEL_ENTRY_DATE), warnings)
    code = _text(labels.get(layout.LABEL_SECTION_CODE))
    name = _text(labels.get(layout.LABEL_SECTION_NAME))

    rows: list[ParsedRow] = []
    body = grid[header_at + 1:]
    if len(body) > MAX_ROWS - header_at - 1 and any(v is not None for v, _ in grid[-1]):
        errors.append(f"行が多すぎます（{MAX_ROWS:,}行まで）。チェックシートの表だけを残してください。")
        body = body[: MAX_ROWS - header_at - 1]
    text_col, status_col = columns[layout.COL_TEXT], columns[layout.COL_STATUS]
    memo_col, key_col = columns.get(layout.COL_MEMO), columns.get(layout.COL_KEY)
    for offset, cells in enumerate(body):
        r = header_at + 1 + offset

        def value(col: int | None, cells=cells, r=r) -> str | None:
            if col is None or col >= len(cells):
                return None
            if formula(r, col):
                return None
            return _text(cells[col][0])

        text, status, memo, key = value(text_col), value(status_col), value(memo_col), value(key_col)
        if text is None and status is None and memo is None:
            continue
        rows.append(ParsedRow(row=r + 1, text=text or "", key=key.strip() if key else None,
                              status=status.strip() if status else None, memo=memo,
                              status_ref=f"{get_column_letter(status_col + 1)}{r + 1}"))
    return ParsedSheet(title=ws.title, code=code.strip() if code else None, name=name.strip() if name else None,
                       entry_on=entry_on, rows=tuple(rows), errors=tuple(dict.fromkeys(errors)),
                       warnings=tuple(warnings))


_LABELS = {layout.LABEL_SECTION_CODE, layout.LABEL_SECTION_NAME, "所属", layout.LABEL_ENTRY_DATE, layout.LABEL_ROUND,
           layout.LABEL_BUREAU, *layout.COLUMNS}


def _value_right_of(cells: list[tuple[object, str]], c: int) -> tuple[int, object] | None:
    """The first non-empty cell right of a label, unless another label comes first (a blank value)."""
    for c2 in range(c + 1, len(cells)):
        value = cells[c2][0]
        if _text(value) is None:
            continue
        return None if layout.normalise(value) in _LABELS else (c2, value)
    return None


def _entry_date(value, warnings: list[str]) -> date | None:
    """記載日 as written: an Excel date, 令和7年11月29日, R7.11.29, 2025/11/29 or 2025-11-29."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = layout.normalise(value)
    if not text or "〇" in text or text == "令和年月日":
        return None  # the blank form's placeholder
    try:
        match = _WAREKI.match(text)
        if match:
            era, year, month, day = match.groups()
            return date(_ERA_START[era] + (1 if year == "元" else int(year)), int(month), int(day))
        match = _WESTERN.match(text)
        if match:
            return date(*(int(g) for g in match.groups()))
    except ValueError:
        pass
    warnings.append(f"記載日「{str(value)[:20]}」を日付として読めませんでした（取り込んだ日を記載日にします）。")
    return None
