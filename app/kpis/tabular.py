"""Reading an export file (CSV or XLSX) into a table of cells, as the copier management system, the document
system or the FAX server wrote it. Pure: bytes in, ``Table`` out; no database.

CSV: UTF-8 (with or without BOM) or Shift_JIS (cp932, as Japanese Excel saves it), detected. XLSX: the first
worksheet, read-only, after a check of the container's expanded size. The table's header row is found
below any header block (title, period, printed-on lines): the first row as wide as the table. Cells are
strings (CSV) or what the cell holds (XLSX: numbers, dates).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from app.errors import InvalidInput, TooLarge
from app.text import scrub

MAX_ROWS = 50_000
MAX_COLUMNS = 60
HEADER_SEARCH = 40  # rows looked at for the header row

Cell = str | int | float | date | None


@dataclass(frozen=True)
class Table:
    filename: str
    encoding: str  # UTF-8 | Shift_JIS | XLSX
    header_line: int  # 1-based line of the header row in the file
    columns: tuple[str, ...]  # the header row's labels (「列3」 for an empty one)
    rows: tuple[tuple[int, tuple[Cell, ...]], ...]  # (1-based line in the file, cells) below the header

    def sample(self, n: int = 5) -> tuple[tuple[int, tuple[Cell, ...]], ...]:
        return self.rows[:n]


def read_table(filename: str, data: bytes, *, max_expanded_bytes: int = 50_000_000) -> Table:
    name = filename.lower()
    if name.endswith(".xlsx"):
        grid, encoding = _xlsx(filename, data, max_expanded_bytes), "XLSX"
    elif name.endswith((".csv", ".txt")):
        grid, encoding = _csv(filename, data)
    else:
        raise InvalidInput(f"{filename}: CSV（.csv）か Excel（.xlsx）のファイルを選んでください。")
    return _table(filename, encoding, grid)


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding's name: UTF-8 (BOM or not), else Shift_JIS (cp932)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "Shift_JIS"
    except UnicodeDecodeError:
        raise InvalidInput("文字コードが読めません。UTF-8 か Shift_JIS（Excel の「CSV（コンマ区切り）」）で保存した"
                           "ファイルにしてください。") from None


def _csv(filename: str, data: bytes) -> tuple[list[tuple[int, list[Cell]]], str]:
    text, encoding = decode(data)
    grid: list[tuple[int, list[Cell]]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        for row in reader:
            if len(grid) >= MAX_ROWS:
                raise TooLarge(f"{filename}: 行が多すぎます（{MAX_ROWS:,}行まで）。ファイルを分けてください。")
            grid.append((reader.line_num, [scrub(c).strip() for c in row[:MAX_COLUMNS]]))
    except csv.Error as exc:
        raise InvalidInput(f"{filename}: CSVとして読めません（{exc}）。") from None
    return grid, encoding


def _xlsx(filename: str, data: bytes, max_expanded_bytes: int) -> list[tuple[int, list[Cell]]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise InvalidInput(f"{filename}: Excel（.xlsx）のファイルとして読めません。") from None
    if expanded > max_expanded_bytes:
        raise TooLarge(f"{filename}: 展開後のサイズが大きすぎます（{max_expanded_bytes // 1_000_000}MBまで）。")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 — openpyxl raises many kinds for a broken file
        raise InvalidInput(f"{filename}: Excel（.xlsx）のファイルとして読めません。") from None
    grid: list[tuple[int, list[Cell]]] = []
    try:
        sheet = workbook.worksheets[0]
        for line, row in enumerate(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1):
            if line > MAX_ROWS:
                raise TooLarge(f"{filename}: 行が多すぎます（{MAX_ROWS:,}行まで）。ファイルを分けてください。")
            grid.append((line, [_cell(v) for v in row]))
    finally:
        workbook.close()
    return grid


def _cell(value: object) -> Cell:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, (int, float, date)) and not isinstance(value, bool):
        return value
    return scrub(str(value)).strip()


def _filled(cells: list[Cell]) -> int:
    return sum(1 for c in cells if c not in (None, ""))


def _table(filename: str, encoding: str, grid: list[tuple[int, list[Cell]]]) -> Table:
    grid = [(line, cells) for line, cells in grid if _filled(cells)]
    if not grid:
        raise InvalidInput(f"{filename}: 中身がありません。")
    width = max(_filled(cells) for _, cells in grid[:HEADER_SEARCH])
    if width < 2:
        raise InvalidInput(f"{filename}: 表が見つかりません（所属コードと値の、2つ以上の列が必要です）。")
    index = next(i for i, (_, cells) in enumerate(grid) if _filled(cells) >= width)
    header_line, header = grid[index]
    count = max(len(header), *(len(cells) for _, cells in grid[index + 1:index + 200]), 0)
    columns = tuple(str(header[i]).strip() if i < len(header) and header[i] not in (None, "") else f"列{i + 1}"
                    for i in range(count))
    rows = tuple((line, tuple(cells[i] if i < len(cells) else None for i in range(count)))
                 for line, cells in grid[index + 1:])
    return Table(filename, encoding, header_line, columns, rows)
