"""Bulk import of figures: a copier export (Shift_JIS, a header block, a totals row) through the column
mapping, the dry run and the all-or-nothing apply; row errors named with the row and the reason."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlmodel import select

from app.config import PROJECT_ROOT
from app.errors import InvalidInput
from app.kpis.models import KpiEvent, KpiValue
from app.kpis.tabular import decode, read_table
from tests.conftest import csrf_from, sign_in

DATA = PROJECT_ROOT / "tests" / "data"
COPIER = DATA / "copier-2026-10-sjis.csv"
ERRORS = DATA / "copier-errors-utf8.csv"
BASE = "/desk/figures/import"
# 部署コード, 部署名, 集計月, モノクロ, カラー, 合計枚数
COPIER_MAP = {"preview": "1", "code": "0", "month": "2", "fig.print.copies": "5"}


def test_the_copier_export_is_read_below_its_header_block():
    table = read_table(COPIER.name, COPIER.read_bytes())
    assert table.encoding == "Shift_JIS"
    assert table.header_line == 5
    assert table.columns == ("部署コード", "部署名", "集計月", "モノクロ", "カラー", "合計枚数")
    assert [cells[0] for _, cells in table.rows] == ["A1", "A2", "B1", ""]  # the totals row is read, then skipped
    assert decode("所属".encode("utf-8-sig")) == ("所属", "UTF-8")


def test_unreadable_files_are_refused_with_the_reason():
    with pytest.raises(InvalidInput, match="CSV（.csv）か Excel"):
        read_table("a.pdf", b"%PDF")
    with pytest.raises(InvalidInput, match="Excel（.xlsx）のファイルとして読めません"):
        read_table("a.xlsx", b"not a zip")
    with pytest.raises(InvalidInput, match="表が見つかりません"):
        read_table("a.csv", "ひとつだけ\n".encode())


def upload(client, token: str, path, name: str | None = None) -> str:
    sent = client.post(BASE, data={"csrf_token": token},
                       files={"file": (name or path.name, path.read_bytes(), "text/csv")})
    assert sent.status_code == 303, sent.text
    return sent.headers["location"]


def test_the_desk_imports_a_copier_export_through_mapping_preview_and_apply(client, session, world):
    token = sign_in(client, "desk@test.example")
    url = upload(client, token, COPIER)
    mapping = client.get(url)
    assert mapping.status_code == 200 and "Shift_JIS" in mapping.text and "5行目" in mapping.text
    preview = client.get(url, params=COPIER_MAP)
    assert preview.status_code == 200
    assert "新しい値 <strong>3</strong>件" in preview.text and "読み飛ばした行 <strong>1</strong>行" in preview.text
    assert "3件の値を取り込む" in preview.text
    assert session.exec(select(KpiValue)).first() is None  # the dry run wrote nothing
    session.rollback()
    body = {k: v for k, v in COPIER_MAP.items() if k != "preview"}
    sha = preview.text.split('name="sha256" value="')[1].split('"')[0]
    done = client.post(f"{url}/apply", data={**body, "sha256": sha, "csrf_token": csrf_from(preview.text)})
    assert done.status_code == 303, done.text
    values = {(v.unit_id, v.month, v.figure_key): v.value for v in session.exec(select(KpiValue))}
    assert values == {(world.a1.id, date(2026, 10, 1), "print.copies"): 7940,
                      (world.a2.id, date(2026, 10, 1), "print.copies"): 5313,
                      (world.b1.id, date(2026, 10, 1), "print.copies"): 3974}
    events = session.exec(select(KpiEvent)).all()
    assert {(e.source, e.note) for e in events} == {("import", f"取込み: {COPIER.name}")}
    session.rollback()
    assert "3件の実績値を取り込みました" in client.get(done.headers["location"]).text
    again = client.post(f"{url}/apply", data={**body, "sha256": sha, "csrf_token": token})
    assert again.status_code == 409 and "取込み済み" in again.text


def test_row_errors_are_named_and_nothing_is_imported(client, session, world):
    token = sign_in(client, "desk@test.example")
    url = upload(client, token, ERRORS)
    mapping = {"code": "0", "month": "2", "fig.print.copies": "3"}
    preview = client.get(url, params={**mapping, "preview": "1"})
    text = preview.text
    assert "誤り <strong>5</strong>件" in text
    assert "同じ所属・令和8年9月の値が4行目にもあります" in text  # the duplicate row
    assert "所属コード「Z9」の所属はありません" in text
    assert "マイナスの値は入力できません" in text and "数字で入力してください" in text
    assert "まだ来ていない月" in text
    assert "取り込む</button>" not in text
    refused = client.post(f"{url}/apply", data={**mapping, "sha256": "x", "csrf_token": token})
    assert refused.status_code == 409  # another file than the one previewed
    sha = hashlib.sha256(ERRORS.read_bytes()).hexdigest()
    refused = client.post(f"{url}/apply", data={**mapping, "sha256": sha, "csrf_token": token})
    assert refused.status_code == 422 and "取り込めません（何も変更していません）" in refused.text
    assert session.exec(select(KpiValue)).first() is None


def test_a_mapping_without_a_code_column_is_refused_at_the_field(client, world):
    token = sign_in(client, "desk@test.example")
    url = upload(client, token, COPIER)
    refused = client.get(url, params={"preview": "1", "month": "2", "fig.print.copies": "5"})
    assert refused.status_code == 422 and "所属コードの列を選んでください" in refused.text
    fixed = client.get(url, params={"preview": "1", "code": "0", "month_fixed": "令和8年10月", "fig.print.copies": "5"})
    assert fixed.status_code == 200 and "新しい値 <strong>3</strong>件" in fixed.text


def test_staff_may_not_import(client, world):
    token = sign_in(client, "leader.a1@test.example")
    assert client.get(BASE).status_code == 403
    sent = client.post(BASE, data={"csrf_token": token}, files={"file": ("a.csv", COPIER.read_bytes(), "text/csv")})
    assert sent.status_code == 403


def test_an_xlsx_export_with_dates_and_numbers_is_read(client, session, world):
    import io
    from datetime import datetime

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["FAX送受信件数 月次集計"])
    sheet.append(["出力日", datetime(2026, 11, 2)])
    sheet.append([])
    sheet.append(["所属コード", "所属名", "年月", "送信件数", "受信件数"])
    sheet.append(["A1", "A部 一課", datetime(2026, 9, 1), 12, 30.0])
    sheet.append(["B1", "B部 一課", "令和8年9月", "１，２００", None])
    sheet.append(["合計", None, None, 1212, 30])
    data = io.BytesIO()
    book.save(data)
    table = read_table("fax.xlsx", data.getvalue())
    assert table.encoding == "XLSX" and table.header_line == 4
    token = sign_in(client, "desk@test.example")
    sent = client.post(BASE, data={"csrf_token": token}, files={"file": ("fax.xlsx", data.getvalue(), "application/octet-stream")})
    url = sent.headers["location"]
    mapping = {"code": "0", "month": "2", "fig.fax.sent": "3", "fig.fax.received": "4"}
    preview = client.get(url, params={**mapping, "preview": "1"})
    assert "新しい値 <strong>3</strong>件" in preview.text and "誤り <strong>0</strong>件" in preview.text


def upload_text(client, token: str, name: str, text: str) -> str:
    sent = client.post(BASE, data={"csrf_token": token}, files={"file": (name, text.encode("utf-8"), "text/csv")})
    assert sent.status_code == 303, sent.text
    return sent.headers["location"]


BOTH = "所属コード,月,決裁件数,電子決裁件数\r\nA1,2026-09,100,95\r\nA2,2026-09,80,81\r\n"


def test_more_electronic_approvals_than_approvals_is_refused_with_the_row_and_the_reason(client, session, world):
    """電子決裁件数 above 決裁件数 of the same 所属 and month (a ratio's numerator above its denominator) cannot
    be imported: the row and the reason, whether both come from the file or the denominator is stored."""
    token = sign_in(client, "desk@test.example")
    url = upload_text(client, token, "approvals.csv", BOTH)
    mapping = {"code": "0", "month": "1", "fig.approvals.total": "2", "fig.approvals.electronic": "3"}
    preview = client.get(url, params={**mapping, "preview": "1"})
    row = preview.text.split('id="kpi-errors-caption"')[1].split("</tbody>")[0]
    assert "誤り <strong>1</strong>件" in preview.text
    assert "<th scope=\"row\">3行目</th><td>A2</td>" in row
    assert "令和8年9月: 電子決裁件数（81）が、決裁件数（80）を超えています" in row
    assert "取り込む</button>" not in preview.text
    sha = hashlib.sha256(BOTH.encode()).hexdigest()  # the file's own: refused for its rows, not as another file
    refused = client.post(f"{url}/apply", data={**mapping, "sha256": sha, "csrf_token": token})
    assert refused.status_code == 422
    assert session.exec(select(KpiValue)).first() is None  # A1's good row was not imported either
    session.rollback()

    # only 電子決裁件数 in the file: compared with the stored 決裁件数 (A1: 100)
    fine = upload_text(client, token, "totals.csv", "所属コード,月,決裁件数\r\nA1,2026-08,100\r\n")
    totals = {"code": "0", "month": "1", "fig.approvals.total": "2"}
    shown = client.get(fine, params={**totals, "preview": "1"}).text
    sha = shown.split('name="sha256" value="')[1].split('"')[0]
    assert client.post(f"{fine}/apply", data={**totals, "sha256": sha, "csrf_token": token}).status_code == 303
    url = upload_text(client, token, "electronic.csv", "所属コード,月,電子決裁件数\r\nA1,2026-08,101\r\nA1,2026-07,5\r\n")
    electronic = {"code": "0", "month": "1", "fig.approvals.electronic": "2"}
    preview = client.get(url, params={**electronic, "preview": "1"})
    assert "誤り <strong>1</strong>件" in preview.text
    assert ("2行目</th><td>A1</td><td>令和8年8月: 電子決裁件数（101）が、決裁件数（100）を超えています。"
            "「電子決裁率」が計算できないため、数を確認してください。（決裁件数は登録済みの値）") in preview.text
