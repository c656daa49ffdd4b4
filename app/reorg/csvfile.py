"""Reading a reorganisation (組織改正) CSV: the file as Japanese Excel saves it (UTF-8 with or without BOM,
or Shift_JIS/CP932), one change per row. Pure: no database.

Columns (the first row names them; Japanese or English headings, in any order, extra columns ignored):

    種別          rename | move | merge | split | create | abolish (or 名称変更 移管 統合 分割 新設 廃止)
    旧コード      the code of the 所属 or 部局 in force now (empty for create)
    新コード      the code after the change (rename/move: empty keeps the old code)
    新名称        the name after the change (move: empty keeps the old name)
    新部局コード  the 部局 of the 所属 after the change (empty: the one it is in now; for create, empty
                  creates a 部局 instead of a 所属)
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass

from app.errors import InvalidInput
from app.text import check_text

MAX_BYTES = 1_000_000
MAX_ROWS = 2_000
CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
NAME_MAX = 100

KINDS = ("rename", "move", "merge", "split", "create", "abolish")
KIND_LABELS = {"rename": "名称変更", "move": "移管", "merge": "統合", "split": "分割", "create": "新設",
               "abolish": "廃止"}
_KIND_ALIASES = {**{k: k for k in KINDS}, **{v: k for k, v in KIND_LABELS.items()}, "所管替え": "move",
                 "名称変更・移管": "move"}

COLUMNS = ("kind", "old_code", "new_code", "new_name", "new_bureau")
COLUMN_LABELS = {"kind": "種別", "old_code": "旧コード", "new_code": "新コード", "new_name": "新名称",
                 "new_bureau": "新部局コード"}
_HEADINGS = {
    "kind": ("種別", "kind", "type"),
    "old_code": ("旧コード", "旧所属コード", "old_code", "old"),
    "new_code": ("新コード", "新所属コード", "new_code", "new"),
    "new_name": ("新名称", "新所属名", "名称", "new_name", "name"),
    "new_bureau": ("新部局コード", "部局コード", "new_bureau_code", "new_bureau", "bureau"),
}
HEADER = ",".join(COLUMN_LABELS[c] for c in COLUMNS)


@dataclass(frozen=True)
class Row:
    line: int  # the row number as Excel shows it (the heading is row 1)
    kind: str
    old_code: str
    new_code: str
    new_name: str
    new_bureau: str


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


class ReorgFileError(InvalidInput):
    """The file as a whole cannot be read (not CSV, empty, wrong headings…): nothing is changed."""


def decode(raw: bytes) -> str:
    if not raw.strip(b"\xef\xbb\xbf \t\r\n"):
        raise ReorgFileError("ファイルが空です。組織改正の内容を1行に1件ずつ書いたCSVファイルを選んでください。")
    if len(raw) > MAX_BYTES:
        raise ReorgFileError(f"ファイルが大きすぎます（上限 {MAX_BYTES // 1000:,} KB）。"
                             "組織改正のCSVはふつう数KBです。")
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ReorgFileError("Excelのブック（.xlsx/.xls）のままです。Excelの「名前を付けて保存」で"
                             "「CSV UTF-8（コンマ区切り）」か「CSV（コンマ区切り）」を選んで"
                             "保存したファイルを選んでください。")
    if b"\x00" in raw:
        raise ReorgFileError("CSVファイルではありません（文字ではないデータが含まれています）。"
                             "ExcelでCSV形式に保存したファイルを選んでください。")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ReorgFileError("文字コードを判別できません。"
                         "UTF-8 か Shift_JIS（CP932）で保存したCSVファイルを選んでください。")


def _norm(value: str) -> str:
    """Full-width letters and digits (as typed in Japanese Excel) to half-width, without spaces."""
    return unicodedata.normalize("NFKC", value or "").strip()


def parse(raw: bytes) -> tuple[list[Row], list[RowError]]:
    """The rows of the file and the errors of single rows; ReorgFileError when the file itself is unusable."""
    text = decode(raw)
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ReorgFileError(f"CSVとして読めません（{exc}）。"
                             "ExcelでCSV形式に保存したファイルを選んでください。") from exc
    if not records or not any(cell.strip() for cell in records[0]):
        raise ReorgFileError(f"1行目に見出し（{HEADER}）が必要です。")
    columns = _columns(records[0])
    rows: list[Row] = []
    errors: list[RowError] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines (Excel leaves some at the end)
        values = {name: (record[i] if i < len(record) else "") for name, i in columns.items()}
        row, problems = _row(number, values)
        if problems:
            errors.extend(RowError(number, p) for p in problems)
        if row is not None:
            rows.append(row)
        if len(rows) + len(errors) > MAX_ROWS:
            raise ReorgFileError(f"行が多すぎます（上限 {MAX_ROWS:,} 行）。")
    if not rows and not errors:
        raise ReorgFileError(f"変更の行がありません。見出し（{HEADER}）の次の行から、1行に1件ずつ書いてください。")
    return rows, errors


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    names = [_norm(h).lower() for h in header]
    for column, headings in _HEADINGS.items():
        for i, name in enumerate(names):
            if name in {h.lower() for h in headings}:
                found.setdefault(column, i)
    missing = [COLUMN_LABELS[c] for c in COLUMNS if c not in found]
    if missing:
        raise ReorgFileError(f"1行目の見出しに「{'」「'.join(missing)}」の列がありません。"
                             f"1行目は「{HEADER}」にしてください（CSVファイルか、見出しの行があるか確認してください）。")
    return found


def _row(number: int, values: dict[str, str]) -> tuple[Row | None, list[str]]:
    problems = []
    raw_kind = _norm(values["kind"])
    kind = _KIND_ALIASES.get(raw_kind.lower()) or _KIND_ALIASES.get(raw_kind)
    if kind is None:
        problems.append((f"種別「{raw_kind[:20]}」は使えません。" if raw_kind else "種別が空です。")
                        + "rename（名称変更）, move（移管）, merge（統合）, split（分割）, create（新設）, "
                          "abolish（廃止）のいずれかを書いてください。")
    codes = {}
    for column in ("old_code", "new_code", "new_bureau"):
        code = _norm(values[column])
        if code and not CODE.match(code):
            problems.append(f"{COLUMN_LABELS[column]}「{code[:40]}」に使えない文字があります"
                            "（半角英数字と - _ . で32文字まで）。")
        codes[column] = code
    name, problem = check_text((values["new_name"] or "").strip(), "新名称", multiline=False)
    if problem:
        problems.append(problem)
    elif len(name) > NAME_MAX:
        problems.append(f"新名称は{NAME_MAX}文字以内にしてください（{len(name)}文字）。")
    if problems:
        return None, problems
    return Row(number, kind, codes["old_code"], codes["new_code"], name, codes["new_bureau"]), []
