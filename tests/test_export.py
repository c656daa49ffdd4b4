"""Exports: CSV as Japanese Excel reads it, XLSX read back by openpyxl, who may export what."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from app.excel import layout
from app.jpdate import today_jst, wareki
from tests import factories
from tests.conftest import sign_in

K = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
     "briefing.bureau.paperless", "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet"]
TRICKY = "共有フォルダ, 個人PC\n2行目に「引用」と \"二重引用符\"\n3行目"


def csv_url(world, **params):
    return f"/api/v1/rounds/{world.round.id}/export.csv", params


def fill_a1(session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {
        K[0]: ("◎", TRICKY), K[1]: ("○", "=SUM(A1:A2)"), K[2]: ("△", ""), K[3]: ("×", "-ハイフンで始まるメモ"),
        K[4]: ("該当なし", "会議なし"),
    })
    factories.fill(session, world.round.id, world.b1, world.member_b, {K[0]: ("○", "B1のメモ")})


def get(client, world, ext="csv", **params):
    return client.get(f"/api/v1/rounds/{world.round.id}/export.{ext}", params=params)


def parse_csv(content: bytes) -> list[list[str]]:
    """As Excel does: the BOM says UTF-8; quoted fields may hold commas and line breaks."""
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_csv_opens_in_japanese_excel_bom_crlf_and_quoted_memos(client, session, world):
    fill_a1(session, world)
    sign_in(client, "desk@test.example")
    response = get(client, world)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="paperless-round' in response.headers["content-disposition"]
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    rows = parse_csv(response.content)
    header, body = rows[0], rows[1:]
    assert header[:8] == ["調査回ID", "調査回", "年度", "部局コード", "部局", "所属コード", "所属", "提出状況"]
    assert "チェック項目" in header and "達成状況" in header and "メモ" in header
    assert len(body) == 3 * 6  # 所属 × item
    col = {name: i for i, name in enumerate(header)}
    a1 = {r[col["項目キー"]]: r for r in body if r[col["所属コード"]] == "A1"}
    assert a1[K[0]][col["メモ"]] == TRICKY  # comma, line breaks and quotes survive
    assert a1[K[0]][col["達成状況"]] == "◎" and a1[K[0]][col["点数"]] == "3"
    assert a1[K[0]][col["チェック項目"]] == "資料を電子でも保管している"
    assert a1[K[0]][col["所属"]] == "A部 一課" and a1[K[0]][col["部局"]] == "A部"
    assert a1[K[0]][col["記載日"]] == today_jst().isoformat()  # ISO in data columns
    assert a1[K[0]][col["更新日時"]].startswith(today_jst().isoformat() + "T")
    assert a1[K[0]][col["更新日時"]].endswith("+09:00")
    assert a1[K[4]][col["達成状況"]] == "該当なし" and a1[K[4]][col["点数"]] == ""
    assert a1[K[5]][col["達成状況"]] == "" and a1[K[5]][col["提出状況"]] == "入力中"
    # A text Excel would take for a formula is kept as text.
    assert a1[K[1]][col["メモ"]] == "'=SUM(A1:A2)" and a1[K[3]][col["メモ"]] == "'-ハイフンで始まるメモ"
    # Records end in CRLF; the line breaks inside the memo are the only bare LFs.
    text = response.content.decode("utf-8-sig")
    assert text.endswith("\r\n") and text.count("\r\n") == len(rows)
    assert text.replace("\r\n", "").count("\n") == TRICKY.count("\n")


def test_csv_narrowed_to_a_bureau_or_a_section(client, session, world):
    sign_in(client, "desk@test.example")
    by_bureau = parse_csv(get(client, world, bureau="A").content)[1:]
    assert {r[5] for r in by_bureau} == {"A1", "A2"}
    by_section = parse_csv(get(client, world, section="B1").content)[1:]
    assert {r[5] for r in by_section} == {"B1"} and len(by_section) == 6
    both = get(client, world, bureau="A", section="A1")
    assert both.status_code == 422 and "どちらか一方" in both.json()["detail"]
    assert get(client, world, section="ZZ").status_code == 404
    assert "部局コード「ZZ」" in get(client, world, bureau="ZZ").json()["detail"]
    assert client.get("/api/v1/rounds/999/export.csv").status_code == 404
    assert get(client, world, section="A1;DROP").status_code == 422


def test_xlsx_read_back_by_openpyxl_has_the_same_values(client, session, world):
    fill_a1(session, world)
    sign_in(client, "desk@test.example")
    response = get(client, world, "xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    wb = load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["集計", "所属別集計", "実績値", "A1 A部 一課", "A2 A部 二課", "B1 B部 一課"]
    ws = wb["A1 A部 一課"]
    assert ws["A1"].value == "ペーパーレス化状況チェックシート"
    assert (ws["A2"].value, ws["C2"].value) == ("記載日", wareki(today_jst()))
    assert ws["A3"].value == "だいたいの目安"
    assert ws["C3"].value == "☆☆☆：相手次第　☆☆：ちょっと難しい　☆：やりやすい"
    assert ws["C4"].value.startswith("◎：60%以上　○：60～30%程度　△：30%以下　×：未対応")
    assert (ws["E2"].value, ws["F2"].value) == ("所属コード", "A1")
    assert [c.value for c in ws[layout.HEADER_ROW]][:7] == ["カテゴリ", "シーン", "チェック項目", "難易度", "達成状況",
                                                           "メモ", "参考リンク"]
    rows = list(ws.iter_rows(min_row=layout.FIRST_ITEM_ROW, max_row=layout.FIRST_ITEM_ROW + 5, values_only=True))
    assert [r[0] for r in rows] == ["所属内", "〃", "打合せ", "〃", "会議", "〃"]
    assert [r[3] for r in rows] == ["☆", "☆☆", "☆", "☆", "☆", "☆☆☆"]
    assert [r[4] for r in rows] == ["◎", "○", "△", "×", "該当なし", None]
    assert rows[0][5] == TRICKY and rows[1][5] == "=SUM(A1:A2)"
    assert ws.cell(layout.FIRST_ITEM_ROW + 1, 6).data_type == "s"  # text, not a formula
    assert [r[7] for r in rows] == K
    assert rows[2][6].startswith("リンク集>") and rows[3][6] == "〃"
    assert ws.column_dimensions["H"].hidden

    values = [list(r) for r in wb["所属別集計"].iter_rows(values_only=True)]
    by_code = {r[2]: r for r in values if r[2] in ("A1", "A2", "B1") and r[0] in ("A", "B")}
    assert by_code["A1"][5] == wareki(today_jst())  # 記載日 in 和暦, as 出力日
    api = {s["section"]["code"]: s for s in client.get(f"/api/v1/rounds/{world.round.id}/scores").json()["rows"]}
    for code in ("A1", "B1"):
        assert by_code[code][6] == pytest.approx(api[code]["completion"])
        assert by_code[code][7] == pytest.approx(api[code]["maturity"])
    values = [list(r) for r in wb["集計"].iter_rows(values_only=True)]
    bureaus = {r[0]: r for r in values if r[0] in ("A", "B") and isinstance(r[2], int)}
    by_bureau = client.get(f"/api/v1/rounds/{world.round.id}/scores?by=bureau").json()["rows"]
    api_bureaus = {b["bureau"]["code"]: b for b in by_bureau}
    assert bureaus["A"][3] == pytest.approx(api_bureaus["A"]["mean"])
    assert any(r[1] == "全庁" for r in values)


def test_worksheet_names_are_valid_and_unique():
    taken: set[str] = set()
    assert layout.sheet_title("集計", taken) == "集計"
    assert layout.sheet_title("A/B:C*D?E[F]G\\H", taken) == "A／B：C＊D？E［F］G＼H"
    long = layout.sheet_title("X1 " + "とても長い所属の名前" * 5, taken)
    assert len(long) == 31
    again = layout.sheet_title("X1 " + "とても長い所属の名前" * 5, taken)
    assert len(again) == 31 and again.endswith("(2)") and again != long
    assert layout.sheet_title("集計", taken) == "集計(2)"
    assert layout.sheet_title("history", taken) == "history_"
    assert layout.sheet_title("'''", taken) == "シート"


def test_member_cannot_export_leader_only_their_own_section(client, new_client, session, world):
    sign_in(client, "member.a1@test.example")
    refused = get(client, world, section="A1")
    assert refused.status_code == 403 and "DX推進リーダー" in refused.json()["detail"]
    assert get(client, world, "xlsx").status_code == 403
    assert 'export.xlsx' not in client.get(f"/rounds/{world.round.id}/sections/A1").text

    leader = new_client()
    sign_in(leader, "leader.a1@test.example")
    assert get(leader, world, section="A1").status_code == 200
    assert get(leader, world, "xlsx", section="A1").status_code == 200
    assert 'export.xlsx?section=A1' in leader.get(f"/rounds/{world.round.id}/sections/A1").text
    for params in ({}, {"bureau": "A"}, {"section": "A2"}, {"section": "B1"}):
        response = get(leader, world, **params)
        assert response.status_code == 403, params
        assert "自分の所属" in response.json()["detail"]

    other = new_client()
    sign_in(other, "member.b1@test.example")
    assert get(other, world, section="A1").status_code == 403


def test_leaders_summary_hides_every_figure_of_a_small_bureau(client, session, world):
    fill_a1(session, world)
    sign_in(client, "leader.a1@test.example")
    wb = load_workbook(io.BytesIO(get(client, world, "xlsx", section="A1").content))
    assert wb.sheetnames == ["集計", "所属別集計", "実績値", "A1 A部 一課"]
    rows = [list(r) for r in wb["集計"].iter_rows(values_only=True)]
    bureau_a = next(r for r in rows if r[0] == "A" and isinstance(r[2], int))
    assert bureau_a[3] == "—" and "回答した所属が5未満" in bureau_a[6]
    # Not its completion either: with two 所属, the 部局's and A1's own would give away A2's.
    assert bureau_a[2] == 2 and bureau_a[4:6] == ["—", "—"]
    assert not any(r[1] == "全庁" for r in rows)


def test_desk_and_admin_export_everything_and_anonymous_gets_401(client, new_client, world):
    sign_in(client, "desk@test.example")
    assert get(client, world).status_code == 200
    assert f"/api/v1/rounds/{world.round.id}/export.xlsx?bureau=A" in client.get(f"/rounds/{world.round.id}").text
    admin = new_client()
    sign_in(admin, "admin@test.example")
    assert get(admin, world, "xlsx", bureau="B").status_code == 200
    assert get(new_client(), world).status_code == 401


LONG_SCENE = "出先機関・他所属との打合せ"  # wraps in the narrow シーン column (B) of the 所属 worksheet


LONG_CATEGORY = "庁内照会・内部事務"  # its summary headers are wider than their columns


def round_with_long_names(session):
    """A second round on v1 with one long シーン and one long カテゴリ (as in later versions)."""
    from app.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "checklists" / "paperless" / "v1.yaml").read_text(encoding="utf-8")
    text = (text.replace("version: 1", "version: 2", 1)
            .replace("scene: 日常\n        text: 資料を電子でも保管している",
                     f"scene: {LONG_SCENE}\n        text: 資料を電子でも保管している")
            .replace("  - name: 会議\n", f"  - name: {LONG_CATEGORY}\n"))
    assert LONG_SCENE in text and LONG_CATEGORY in text
    version_id = factories.publish(session, factories.checklist_yaml(text))
    return factories.make_round(session, version_id, title="令和9年度 第1回", fiscal_year=2027)


def test_section_rows_fit_every_wrapped_column_and_the_status_symbol(client, session, world):
    """Read back with openpyxl: a row is as tall as its longest wrapped cell in any column (also シーン,
    which the old fitting ignored), and a row with a 14-point ◎/○ is tall enough for the symbol."""
    round_ = round_with_long_names(session)
    factories.fill(session, round_.id, world.a1, world.member_a, {K[4]: ("◎", ""), K[5]: ("○", "")})
    sign_in(client, "desk@test.example")
    response = client.get(f"/api/v1/rounds/{round_.id}/export.xlsx", params={"section": "A1"})
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(response.content))["A1 A部 一課"]
    row_of = {ws.cell(r, 8).value: r for r in range(layout.FIRST_ITEM_ROW, ws.max_row + 1)}

    def height(key):
        return ws.row_dimensions[row_of[key]].height

    # K[0]: the scene takes two lines in column B; every other cell of the row is one line.
    assert ws.cell(row_of[K[0]], 2).value == LONG_SCENE and ws.cell(row_of[K[0]], 7).value == "—"
    assert height(K[0]) is not None and height(K[0]) >= 2 * 15
    # K[4] (◎) is a one-line row: tall enough for the 14-point bold symbol anyway.
    assert ws.cell(row_of[K[4]], 5).value == "◎" and ws.cell(row_of[K[4]], 5).font.sz == 14
    assert height(K[4]) is not None and height(K[4]) >= 14 * 1.5
    assert height(K[5]) >= 2 * 15  # ○ in a row of two lines: the lines decide
    # An unanswered one-line row keeps the default height.
    assert ws.cell(row_of[K[1]], 5).value is None and height(K[1]) is None


def test_summary_worksheets_print_on_a4_with_repeated_fitted_headers_and_wareki_dates(client, session, world):
    """Read back with openpyxl: both summary worksheets are A4 (as the 所属 worksheets), each repeats its
    table's header row on every printed page, a header row holding a title wider than its column is tall
    enough for the wrapped title, and every date a person reads is 和暦 (the CSV keeps ISO 8601)."""
    from datetime import date

    round_ = round_with_long_names(session)
    factories.fill(session, round_.id, world.a1, world.member_a, {K[0]: ("◎", "")})
    sign_in(client, "desk@test.example")
    wb = load_workbook(io.BytesIO(client.get(f"/api/v1/rounds/{round_.id}/export.xlsx").content))
    assert wb.sheetnames[:2] == ["集計", "所属別集計"]
    for name in wb.sheetnames:
        ws = wb[name]
        assert int(ws.page_setup.paperSize) == 9, name  # A4 (Excel's paper size code)
        assert ws.page_setup.orientation == "landscape", name
        assert ws.print_title_rows, name

    def header_row(ws, first):
        return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "部局コード"
                    and ws.cell(r, 3).value == first)

    def display(text):  # full-width characters take about 1.75 column-width units
        return sum(1.75 if ord(ch) > 0x2000 else 1 for ch in text)

    for name, first in (("集計", "所属数"), ("所属別集計", "所属コード")):
        ws = wb[name]
        row = header_row(ws, first)
        assert ws.print_title_rows == f"${row}:${row}", name  # the table's own header, on every page
        too_wide = [c.value for c in ws[row] if c.value
                    and display(c.value) > ws.column_dimensions[c.column_letter].width]
        assert any(LONG_CATEGORY in t for t in too_wide), (name, too_wide)
        assert ws.row_dimensions[row].height >= 2 * 15, name  # wrapped in two lines, and room for them
        for values in ws.iter_rows(values_only=True):  # no ISO date, no date cell: one date style
            for value in values:
                assert not isinstance(value, date), (name, value)
                assert not (isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-"), (name, value)
    assert wb["集計"]["B5"].value == wareki(today_jst())  # 出力日
    sections = wb["所属別集計"]
    assert sections.cell(header_row(sections, "所属コード") + 1, 6).value == wareki(today_jst())  # 記載日


def test_csv_in_shift_jis_decodes_as_cp932_and_counts_what_it_replaced(client, session, world):
    """Both CSVs decode: UTF-8 (BOM) keeps every character; CP932 (no BOM) holds the same table, with each
    character CP932 cannot hold shown as 〓, counted in X-Replaced-Characters and in the file name;
    a WAVE DASH typed on a Mac is written as its CP932 twin (～), not replaced."""
    from urllib.parse import unquote

    memo = "髙橋さん𠮷野家🍙 〜 ① ㈱ 〓"  # 𠮷 and 🍙 do not exist in CP932; 髙 ① ㈱ do (NEC/IBM extensions)
    factories.fill(session, world.round.id, world.a1, world.member_a, {K[0]: ("◎", memo), K[1]: ("○", TRICKY)})
    sign_in(client, "desk@test.example")
    utf8 = get(client, world, section="A1")
    sjis = get(client, world, section="A1", encoding="shift_jis")
    assert sjis.status_code == 200
    assert sjis.headers["content-type"] == "text/csv; charset=shift_jis"
    assert not sjis.content.startswith(b"\xef\xbb\xbf")
    assert sjis.headers["x-replaced-characters"] == "2"
    assert "x-replaced-characters" not in utf8.headers
    disposition = unquote(sjis.headers["content-disposition"])
    assert "_ShiftJIS_置換2文字.csv" in disposition and "-sjis.csv" in disposition
    rows_utf8 = parse_csv(utf8.content)
    rows_sjis = list(csv.reader(io.StringIO(sjis.content.decode("cp932"), newline="")))
    assert len(rows_sjis) == len(rows_utf8) and rows_sjis[0] == rows_utf8[0]
    col = rows_utf8[0].index("メモ")
    memos_utf8 = [r[col] for r in rows_utf8[1:]]
    memos_sjis = [r[col] for r in rows_sjis[1:]]
    assert memo in memos_utf8
    assert "髙橋さん〓野家〓 ～ ① ㈱ 〓" in memos_sjis
    assert TRICKY in memos_sjis  # quoting and line breaks as in the UTF-8 file
    assert [r[:col] for r in rows_sjis] == [r[:col] for r in rows_utf8]  # everything else is the same


def test_csv_encoding_other_than_the_two_is_refused(client, world):
    sign_in(client, "desk@test.example")
    response = get(client, world, encoding="latin-1")
    assert response.status_code == 422
