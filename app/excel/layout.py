"""The layout of the prefecture's Excel sheet, shared by the writer and the reader, and the text
normalisation used to match what people typed in Excel against the checklist.

A 所属 worksheet (as exported, and as the import expects it)::

    row 1   ペーパーレス化状況チェックシート            所属名      A部 一課
    row 2   記載日            令和7年11月29日           所属コード  A1
    row 3   だいたいの目安  難易度  ☆☆☆：相手次第 …    調査回      令和8年度 第1回
    row 4                   達成状況 ◎：60%以上 …       部局        A部
    row 5   カテゴリ シーン チェック項目 難易度 達成状況 メモ 参考リンク (項目キー, hidden) 根拠資料
    row 6…  one row per item; 〃 = same as above, as on the original sheet

The reader does not depend on the row numbers: it looks for the header row (the one with
チェック項目 and 達成状況) and for the labels 所属コード / 所属名 / 記載日 above it.
"""

from __future__ import annotations

import re
import unicodedata

LABEL_ENTRY_DATE = "記載日"
LABEL_SECTION_NAME = "所属名"
LABEL_SECTION_CODE = "所属コード"
LABEL_ROUND = "調査回"
LABEL_BUREAU = "部局"
DITTO = "〃"

COL_CATEGORY = "カテゴリ"
COL_SCENE = "シーン"
COL_TEXT = "チェック項目"
COL_DIFFICULTY = "難易度"
COL_STATUS = "達成状況"
COL_MEMO = "メモ"
COL_LINKS = "参考リンク"
COL_KEY = "項目キー"
COLUMNS = (COL_CATEGORY, COL_SCENE, COL_TEXT, COL_DIFFICULTY, COL_STATUS, COL_MEMO, COL_LINKS, COL_KEY)
# 根拠資料 (evidence as links, one per line), written after the hidden 項目キー; the import does not read it:
# evidence changes only on the sheet page (a file cannot travel in a cell).
COL_EVIDENCE = "根拠資料"

HEADER_ROW = 5
FIRST_ITEM_ROW = HEADER_ROW + 1
SUMMARY_SHEET = "集計"
SECTIONS_SUMMARY_SHEET = "所属別集計"

_SPACE = re.compile(r"\s+")
_FORBIDDEN_IN_TITLE = str.maketrans({"\\": "＼", "/": "／", "?": "？", "*": "＊", ":": "：", "[": "［", "]": "］"})
TITLE_MAX = 31  # Excel's limit on worksheet names


def normalise(text: object) -> str:
    """Text for matching: full/half width folded (NFKC), every kind of space removed."""
    if text is None:
        return ""
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(text)))


def sheet_title(wanted: str, taken: set[str]) -> str:
    """A valid, unique worksheet name: forbidden characters replaced by their full-width forms, at most
    31 characters, not empty, not Excel's reserved "History", unique ignoring case. Adds to ``taken``."""
    cleaned = "".join(ch for ch in wanted.translate(_FORBIDDEN_IN_TITLE) if ch.isprintable())
    base = cleaned.strip().strip("'").strip() or "シート"
    if base.casefold() == "history":
        base += "_"
    title = base[:TITLE_MAX]
    n = 1
    while title.casefold() in taken:
        n += 1
        suffix = f"({n})"
        title = base[: TITLE_MAX - len(suffix)] + suffix
    taken.add(title.casefold())
    return title
