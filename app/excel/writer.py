"""Writing an export: CSV for Japanese Excel and XLSX in the layout of the prefecture's sheet.

The only module that writes these formats. Pure: an ``ExportBundle`` in, bytes out.

* CSV: UTF-8 with BOM (Excel then reads it as UTF-8), or CP932 (Shift_JIS, characters it cannot hold
  replaced by 〓 and counted), CRLF between records, one row per 所属 × item,
  header row in Japanese, ISO 8601 dates. Fields with commas, quotes or line breaks are quoted (RFC 4180).
  A text field that Excel would take for a formula (starting with = + - @) is prefixed with ``'``.
* XLSX: a summary worksheet (集計: the figures per 部局), the figures per 所属 (所属別集計), then one worksheet per 所属 in the original sheet's layout
  (see ``app.excel.layout``). Every text cell is written as text, never as a formula.
* Both: text stored before ``app.text``'s rule existed is written through ``scrub`` (control characters
  become U+FFFD), so no stored value can make an export fail.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from app.excel import layout
from app.excel.export import ExportBundle, ExportSheet
from app.jpdate import fiscal_year_label, to_jst, wareki
from app.kpis.parse import month_label
from app.scoring.rules import MIN_GROUP_SIZE, difficulty_stars
from app.statuses import Status
from app.text import scrub

Progress = Callable[[int], None]

CSV_HEADER = (
    "調査回ID", "調査回", "年度", "部局コード", "部局", "所属コード", "所属", "提出状況", "記載日", "提出日時",
    "項目番号", "項目キー", "カテゴリ", "シーン", "チェック項目", "難易度", "達成状況", "点数", "メモ",
    "更新日時", "更新者", layout.COL_EVIDENCE,
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str | None) -> str:
    if not value:
        return ""
    value = scrub(value)  # text stored before the rule: replaced, never refused
    return "'" + value if value.startswith(_FORMULA_START) else value


def _iso(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return to_jst(value).isoformat(timespec="seconds")
    return value.isoformat()


AUDIT_CSV_HEADER = ("ID", "日時", "種類", "操作した人", "内容")


def write_audit_csv(rows: Iterable[tuple[int, datetime, str, str, str]]) -> bytes:
    """The audit log as the admin filtered it: (id, when, kind, who, details) per event, newest first."""
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    out.writerow(AUDIT_CSV_HEADER)
    for event_id, at, kind, actor, details in rows:
        out.writerow((event_id, _iso(at), _csv_text(kind), _csv_text(actor), _csv_text(details)))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_csv(bundle: ExportBundle) -> bytes:
    """UTF-8 with BOM: Excel 2016 and later, Power BI, every tool that reads UTF-8."""
    return ("\ufeff" + _csv_text_of(bundle)).encode("utf-8")


# Characters typed on other systems that have a CP932 twin of the same look (the JIS X 0208 mapping
# differences): written as the twin, not counted as replaced.
_CP932_TWINS = str.maketrans({
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～
    "\u2212": "\uff0d",  # − MINUS SIGN → －
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2014": "\u2015",  # — EM DASH → ―
    "\u00a2": "\uffe0", "\u00a3": "\uffe1", "\u00ac": "\uffe2",  # ¢ £ ¬ → full-width
    "\u00a0": " ",  # no-break space
})
CP932_REPLACEMENT = "〓"  # 下駄記号: visibly "a character was here"


def to_cp932(text: str) -> tuple[bytes, int]:
    """``text`` in CP932 (Windows' Shift_JIS) and how many characters CP932 cannot hold were replaced by
    〓 (emoji, characters outside JIS X 0208 and the NEC/IBM extensions, such as 𠮷 or 髙 written as U+9AD9…)."""
    text = text.translate(_CP932_TWINS)
    try:
        return text.encode("cp932"), 0
    except UnicodeEncodeError:
        pass
    missing = {}
    for ch in set(text):
        try:
            ch.encode("cp932")
        except UnicodeEncodeError:
            missing[ord(ch)] = CP932_REPLACEMENT
    replaced = sum(text.count(chr(code)) for code in missing)
    return text.translate(missing).encode("cp932"), replaced


def write_csv_cp932(bundle: ExportBundle) -> tuple[bytes, int]:
    """The same CSV in CP932 without a BOM, for older Excel, LibreOffice's default import and tools that expect
    Shift_JIS; returns the bytes and how many characters were replaced by 〓."""
    return to_cp932(_csv_text_of(bundle))


def _csv_text_of(bundle: ExportBundle) -> str:
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    out.writerow(CSV_HEADER)
    points = bundle.definition.points
    r = bundle.round
    for sheet in bundle.sheets:
        for a in sheet.answers:
            status = Status(a.status) if a.status else None
            out.writerow((
                r.id, _csv_text(r.title), r.fiscal_year, sheet.bureau_code, _csv_text(sheet.bureau_name),
                sheet.section_code, _csv_text(sheet.section_name), sheet.progress_label, _iso(sheet.entry_on),
                _iso(sheet.submitted_at), a.item.position, a.item.key, _csv_text(a.item.category),
                _csv_text(a.item.scene), _csv_text(a.item.text), a.item.difficulty, a.status or "",
                points.get(status, "") if status else "", _csv_text(a.memo), _iso(a.updated_at),
                _csv_text(a.updated_by), _csv_text("\n".join(a.evidence)),
            ))
    return buffer.getvalue()


# --- XLSX ------------------------------------------------------------------------------------------

FONT_NAME = "BIZ UDPゴシック"
_thin = Side(style="thin", color="808080")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
HEAD_FILL = PatternFill("solid", fgColor="E6E6E6")
LABEL_FILL = PatternFill("solid", fgColor="F2F2F2")
# Okabe–Ito, as on the pages; the symbol is always in the cell as well.
STATUS_FILLS = {
    "◎": ("0072B2", "FFFFFF"),
    "○": ("56B4E9", "000000"),
    "△": ("F0E442", "000000"),
    "×": ("D55E00", "000000"),
    "該当なし": ("BBBBBB", "000000"),
}
WRAP = Alignment(wrap_text=True, vertical="top")
CENTER = Alignment(horizontal="center", vertical="top", wrap_text=True)
WIDTHS = {"A": 14, "B": 16, "C": 46, "D": 9, "E": 11, "F": 40, "G": 36, "H": 34, "I": 40}
LINE_HEIGHT = 15  # points per line of 11-point text
SYMBOL_HEIGHT = 22  # points a row needs for the 14-point bold status symbol (◎ ○ △ ×) not to be clipped
WRAPPED_ITEM_COLUMNS = ("A", "B", "C", "F", "G", "I")  # カテゴリ シーン チェック項目 メモ 参考リンク 根拠資料


def _font(size: float = 11, bold: bool = False, color: str = "000000") -> Font:
    return Font(name=FONT_NAME, size=size, bold=bold, color=color)


def _put(ws: Worksheet, ref: str, value, *, bold: bool = False, size: float = 11) -> Cell:
    """Write a value; text always as text (openpyxl would turn "=…" into a formula)."""
    cell = ws[ref]
    if isinstance(value, str):
        cell.value = scrub(value)  # XML holds no control characters: replaced, never refused
        cell.data_type = "s"
    else:
        cell.value = value
    cell.font = _font(size, bold)
    return cell


def write_xlsx(bundle: ExportBundle, progress: Progress = lambda n: None) -> bytes:
    wb = Workbook()
    summary = wb.active
    taken: set[str] = set()
    summary.title = layout.sheet_title(layout.SUMMARY_SHEET, taken)
    _summary(summary, bundle)
    _section_summary(wb.create_sheet(layout.sheet_title(layout.SECTIONS_SUMMARY_SHEET, taken)), bundle)
    if bundle.figures is not None:
        _figures(wb.create_sheet(layout.sheet_title(FIGURES_SHEET, taken)), bundle)
    for sheet in bundle.sheets:
        ws = wb.create_sheet(layout.sheet_title(f"{sheet.section_code} {sheet.section_name}", taken))
        _section_sheet(ws, bundle, sheet)
        progress(1)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _legend_lines(bundle: ExportBundle) -> tuple[str, str]:
    legend = bundle.definition.legend
    difficulty = legend.get("difficulty", {})
    levels = sorted(difficulty, key=lambda k: -int(k))
    diff = "　".join(f"{difficulty_stars(int(k))}：{difficulty[k]}" for k in levels)
    status = "　".join(f"{symbol}：{label}" for symbol, label in legend.get("status", {}).items())
    if any(item.allows_na for item in bundle.definition.items):
        status += "　該当なし：該当する事務がない（採点しません）"
    return diff, status


def _section_sheet(ws: Worksheet, bundle: ExportBundle, sheet: ExportSheet) -> None:
    definition = bundle.definition
    for column, width in WIDTHS.items():
        ws.column_dimensions[column].width = width
    ws.column_dimensions["H"].hidden = True  # 項目キー: lets the import match items even if reworded

    _put(ws, "A1", definition.title, bold=True, size=14)
    ws.merge_cells("A1:D1")
    _put(ws, "A2", layout.LABEL_ENTRY_DATE, bold=True)
    _put(ws, "C2", wareki(sheet.entry_on) if sheet.entry_on else "令和　年　月　日")
    ws.merge_cells("C2:D2")
    heading = definition.legend.get("heading", "だいたいの目安")
    diff, status = _legend_lines(bundle)
    _put(ws, "A3", heading, bold=True).alignment = WRAP
    ws.merge_cells("A3:A4")
    _put(ws, "B3", layout.COL_DIFFICULTY, bold=True).alignment = WRAP
    _put(ws, "C3", diff).alignment = WRAP
    ws.merge_cells("C3:D3")
    _put(ws, "B4", layout.COL_STATUS, bold=True).alignment = WRAP
    _put(ws, "C4", status).alignment = WRAP
    ws.merge_cells("C4:D4")
    for row, text in ((3, diff), (4, status)):
        _fit_height(ws, row, [(text, WIDTHS["C"] + WIDTHS["D"])])
    for row, (label, value) in enumerate((
        (layout.LABEL_SECTION_NAME, sheet.section_name),
        (layout.LABEL_SECTION_CODE, sheet.section_code),
        (layout.LABEL_ROUND, bundle.round.title),
        (layout.LABEL_BUREAU, sheet.bureau_name),
    ), start=1):
        label_cell = _put(ws, f"E{row}", label, bold=True)
        label_cell.fill = LABEL_FILL
        label_cell.border = BORDER
        _put(ws, f"F{row}", value).border = BORDER
        ws.merge_cells(f"F{row}:G{row}")

    for index, title in enumerate((*layout.COLUMNS, layout.COL_EVIDENCE), start=1):
        cell = _put(ws, f"{get_column_letter(index)}{layout.HEADER_ROW}", title, bold=True)
        cell.fill = HEAD_FILL
        cell.border = BORDER
        cell.alignment = CENTER

    na_rows, plain_rows = [], []
    previous = None
    for offset, answer in enumerate(sheet.answers):
        row = layout.FIRST_ITEM_ROW + offset
        item = answer.item
        same_category = previous is not None and previous.category == item.category
        same_scene = same_category and previous.scene == item.scene
        links = "\n".join(link.get("label", "") for link in item.links)
        previous_links = "\n".join(link.get("label", "") for link in previous.links) if previous else None
        values = (
            layout.DITTO if same_category else item.category,
            layout.DITTO if same_scene else item.scene,
            item.text,
            difficulty_stars(item.difficulty),
            answer.status or "",
            answer.memo,
            layout.DITTO if links and links == previous_links else (links or "—"),
            item.key,
            "\n".join(answer.evidence),  # 根拠資料 (I, after the hidden key): the import leaves evidence alone
        )
        for index, value in enumerate(values, start=1):
            cell = _put(ws, f"{get_column_letter(index)}{row}", value)
            cell.border = BORDER
            cell.alignment = CENTER if index in (4, 5) else WRAP
        # Every wrapped column counts (a long シーン wraps in its narrow column); a status symbol needs room.
        _fit_height(ws, row, [(values[ord(col) - ord("A")], WIDTHS[col]) for col in WRAPPED_ITEM_COLUMNS],
                    minimum=SYMBOL_HEIGHT if answer.status else None)
        urls = [link["url"] for link in item.links if link.get("url")]
        if urls and text_lines(values[6], WIDTHS["G"]) == 1:
            # LibreOffice shows a hyperlink cell as one unwrapped line: a longer label is only text, so that
            # it prints whole (the links stay clickable on the sheet page).
            ws[f"G{row}"].hyperlink = urls[0]
        status_cell = ws[f"E{row}"]
        if answer.status in STATUS_FILLS:
            fill, text = STATUS_FILLS[answer.status]
            status_cell.fill = PatternFill("solid", fgColor=fill)
            status_cell.font = _font(14, True, text)
        else:
            status_cell.font = _font(14, True)
        ws[f"D{row}"].font = _font(11, False, "C05000")
        (na_rows if item.allows_na else plain_rows).append(f"E{row}")
        previous = item

    # A drop-down on 達成状況, as a filled-in template is what the import reads back.
    for rows, choices in ((plain_rows, "◎,○,△,×"), (na_rows, "◎,○,△,×,該当なし")):
        if rows:
            dv = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True, showErrorMessage=True,
                                errorTitle="達成状況", error=f"{choices.replace(',', ' ')} から選んでください。")
            for ref in rows:
                dv.add(ref)
            ws.add_data_validation(dv)

    ws.freeze_panes = f"A{layout.FIRST_ITEM_ROW}"
    ws.print_title_rows = f"{layout.HEADER_ROW}:{layout.HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_area = f"A1:G{layout.FIRST_ITEM_ROW + len(sheet.answers) - 1}"


def _display_width(text: str) -> float:
    """Roughly, in Excel's column-width units (a full-width character is about 1.75 of them)."""
    return sum(1.75 if unicodedata.east_asian_width(ch) in "WFA" else 1.0 for ch in text)


def text_lines(text: object, width: float) -> int:
    """How many lines ``text`` takes, wrapped in a column ``width`` units wide."""
    if not text:
        return 1
    usable = max(1.0, width - 0.5)
    return sum(max(1, math.ceil(_display_width(part) / usable)) for part in str(text).split("\n"))


def _fit_height(ws: Worksheet, row: int, cells: list[tuple[object, float]], *, minimum: float | None = None,
                line_height: float = LINE_HEIGHT) -> None:
    """Give a row the height its wrapped text needs (Excel and LibreOffice do not always grow rows of a
    written file by themselves), and at least ``minimum``; rows of one line without a minimum keep the
    default height."""
    lines = max((text_lines(text, width) for text, width in cells), default=1)
    height = lines * line_height + 3 if lines > 1 else None
    if minimum is not None:
        height = max(height or 0, minimum)
    if height is not None:
        ws.row_dimensions[row].height = height


SUMMARY_COLUMN_WIDTHS = (11, 22, 11, 22, 10, 16, 11, 10)  # then CATEGORY_WIDTH per category
CATEGORY_WIDTH = 14
BOLD_WIDTH = 1.1  # bold text is about this much wider than the fitting assumes


def _summary(ws: Worksheet, bundle: ExportBundle) -> None:
    """集計: what the export is, and the table per 部局 (and 全庁). The table per 所属 is on its own
    worksheet (``_section_summary``), so each long table repeats its own header row on every printed page."""
    categories = list(bundle.definition.categories)
    _title(ws, f"{bundle.definition.title} 集計")
    meta = (
        ("調査回", bundle.round.title),
        ("年度", fiscal_year_label(bundle.round.fiscal_year)),
        ("対象", bundle.scope_label),
        ("出力日", wareki(bundle.generated_on)),
        ("成熟度", f"{_points_text(bundle)} として、回答した項目の得点 ÷ 満点 × 100（該当なし・未回答は除く）"),
        ("所属別", f"所属ごとの回答率・成熟度は「{layout.SECTIONS_SUMMARY_SHEET}」シートにあります"),
    )
    for row, (label, value) in enumerate(meta, start=2):
        _put(ws, f"A{row}", label, bold=True).fill = LABEL_FILL
        _put(ws, f"B{row}", value)

    row = len(meta) + 3
    _put(ws, f"A{row}", "部局別", bold=True, size=12)
    row += 1
    head = ["部局コード", "部局", "所属数", "平均成熟度", "中央値", "回答率(%)", *[f"平均：{c}" for c in categories]]
    widths = [11, 22, 9, 12, 10, 11] + [CATEGORY_WIDTH] * len(categories)
    _header(ws, row, head, widths)
    groups = [(b.group, b.suppressed) for b in bundle.bureaus]
    if bundle.prefecture is not None:
        groups.append((bundle.prefecture, False))
    for group, suppressed in groups:
        row += 1
        if suppressed:  # no figure of the group at all: its size only
            _data_row(ws, row, [group.code, group.name, group.sections, "—", "—", "—"])
            note = f"回答した所属が{MIN_GROUP_SIZE}未満の部局は平均・中央値・回答率を表示しません"
            _put(ws, f"G{row}", note).alignment = WRAP
            last = get_column_letter(len(head))
            if last != "G":
                ws.merge_cells(f"G{row}:{last}{row}")
            _fit_height(ws, row, [(note, sum(widths[6:]))])
            continue
        _data_row(ws, row, [group.code or "", group.name, group.sections, group.maturity, group.median,
                            group.completion, *[group.categories.get(c) for c in categories]])
    _print_setup(ws, header_row=len(meta) + 4)


def _section_summary(ws: Worksheet, bundle: ExportBundle) -> None:
    """所属別集計: one row per 所属 with its progress, 記載日 (和暦, as every date a person reads in the
    workbook), completion and maturity overall and per category."""
    categories = list(bundle.definition.categories)
    _title(ws, f"{bundle.definition.title} 所属別集計")
    _put(ws, "A2", "調査回", bold=True).fill = LABEL_FILL
    _put(ws, "B2", bundle.round.title)
    _put(ws, "A3", "出力日", bold=True).fill = LABEL_FILL
    _put(ws, "B3", wareki(bundle.generated_on))
    row = 5
    head = ["部局コード", "部局", "所属コード", "所属", "提出状況", "記載日", "回答率(%)", "成熟度",
            *[f"成熟度：{c}" for c in categories]]
    _header(ws, row, head, [*SUMMARY_COLUMN_WIDTHS, *[CATEGORY_WIDTH] * len(categories)])
    for sheet in bundle.sheets:
        row += 1
        t = sheet.score.overall
        values = [sheet.bureau_code, sheet.bureau_name, sheet.section_code, sheet.section_name, sheet.progress_label,
                  wareki(sheet.entry_on) if sheet.entry_on else "—", t.completion, t.maturity,
                  *[sheet.score.categories[c].maturity if c in sheet.score.categories else None for c in categories]]
        _data_row(ws, row, values)
    _print_setup(ws, header_row=5)


FIGURES_SHEET = "実績値"
FIGURE_WIDTH = 15


def _figures(ws: Worksheet, bundle: ExportBundle) -> None:
    """実績値: one row per 所属 × month with a value, one column per figure (name and unit in the header)."""
    table = bundle.figures
    _title(ws, f"{bundle.definition.title} 実績値")
    meta = (
        ("調査回", bundle.round.title),
        ("年度", f"{fiscal_year_label(table.fy)}（{month_label(table.start)}～{month_label(table.end)}）"),
        ("対象", bundle.scope_label),
        ("出力日", wareki(bundle.generated_on)),
        ("注", "件数は入力・取込みされた値、割合（%）は同じ月の件数から計算した値。年度ごとの値は4月の行にあります。"
               "「—」は未入力です。"),
    )
    for row, (label, value) in enumerate(meta, start=2):
        _put(ws, f"A{row}", label, bold=True).fill = LABEL_FILL
        _put(ws, f"B{row}", value)
    row = len(meta) + 3
    head = ["部局コード", "部局", "所属コード", "所属", "月", *[f"{f.name}\n（{f.unit}）" for f in table.figures]]
    _header(ws, row, head, [11, 18, 11, 20, 13, *[FIGURE_WIDTH] * len(table.figures)])
    header_row = row
    for r in table.rows:
        row += 1
        _data_row(ws, row, [r.bureau_code, r.bureau_name, r.section_code, r.section_name, month_label(r.month),
                            *r.values])
        for index, (figure, value) in enumerate(zip(table.figures, r.values, strict=True), start=6):
            if isinstance(value, (int, float)):
                cell = ws[f"{get_column_letter(index)}{row}"]
                cell.number_format = "0.0" if figure.formula is not None or isinstance(value, float) and \
                    not float(value).is_integer() else "#,##0"
    if not table.rows:
        _put(ws, f"A{row + 1}", "この年度の実績値はまだありません。")
    ws.freeze_panes = f"F{header_row + 1}"
    _print_setup(ws, header_row=header_row)


def _title(ws: Worksheet, text: str) -> None:
    _put(ws, "A1", text, bold=True, size=14)


def _print_setup(ws: Worksheet, *, header_row: int) -> None:
    """A4 landscape, as wide as one page, the table's header row repeated at the top of every page."""
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _points_text(bundle: ExportBundle) -> str:
    ranked = sorted(bundle.definition.points.items(), key=lambda pair: -pair[1])
    return " ".join(f"{status.value}{points}点" for status, points in ranked)


def _header(ws: Worksheet, row: int, titles: list[str], widths: list[float]) -> None:
    """A table's header row: the columns get ``widths``, the row the height its wrapped (bold) titles need."""
    for index, (title, width) in enumerate(zip(titles, widths, strict=True), start=1):
        letter = get_column_letter(index)
        cell = _put(ws, f"{letter}{row}", title, bold=True)
        cell.fill = HEAD_FILL
        cell.border = BORDER
        cell.alignment = CENTER
        ws.column_dimensions[letter].width = width
    _fit_height(ws, row, [(title, width / BOLD_WIDTH) for title, width in zip(titles, widths, strict=True)])


def _data_row(ws: Worksheet, row: int, values: list) -> None:
    for index, value in enumerate(values, start=1):
        cell = _put(ws, f"{get_column_letter(index)}{row}", value)
        cell.border = BORDER
        if isinstance(value, float):
            cell.number_format = "0.0"
        elif value is None:
            cell.value = "—"
            cell.data_type = "s"
            cell.alignment = Alignment(horizontal="right")
