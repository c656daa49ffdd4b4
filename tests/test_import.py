"""Import of filled-in Excel sheets: preview per file and row, all-or-nothing apply, bad files refused."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import replace

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func
from sqlmodel import select

from app.excel import importer, reader
from app.sheets.models import Answer, Sheet, SheetEvent
from tests import factories
from tests.conftest import make_settings, sign_in

K = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
     "briefing.bureau.paperless", "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet"]
TEXTS = ["資料を電子でも保管している", "個人用（メモ、資料の保管）に紙を印刷していない", "打合せをペーパーレスで行っている",
         "部局幹部との打合せをペーパーレスで行っている", "紙資料を配っていない", "資料の事前配布やタブレットを活用している"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PLAN = re.compile(r'name="plan" value="([^"]+)"')
LIMITS = reader.Limits.from_settings(make_settings("sqlite://"))


def paper_sheet(rows, *, code=None, name=None, entry="令和6年7月1日", title="Sheet1", extra_sheets=()) -> bytes:
    """A sheet as an office filled it in on the prefecture's original layout (no item keys)."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(["ペーパーレス化状況チェックシート"])
    ws.append(["記載日", None, entry])
    ws.append(["だいたいの目安 難易度 ☆☆☆：相手次第 ☆☆：ちょっと難しい ☆：やりやすい 達成状況 ◎：60%以上 ○：60～30%程度"])
    ws.append(["カテゴリ", "シーン", "チェック項目", "難易度", "達成状況", "メモ", "参考リンク"])
    for text, status, memo in rows:
        ws.append(["", "", text, "☆", status, memo, "—"])
    if code:
        ws["E2"], ws["F2"] = "所属コード", code
    if name:
        ws["E1"], ws["F1"] = "所属名", name
    for extra in extra_sheets:
        wb.create_sheet(extra)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def full_rows(statuses=("◎", "○", "△", "×", "該当なし", "◎"), memos=("",) * 6):
    return list(zip(TEXTS, statuses, memos, strict=True))


def state(session):
    """Everything an import could change: events, every answer, every sheet's entry date.

    Column queries only (never expire ORM objects: on SQLite, reloading one would begin a write
    transaction in the test's session and lock the app out), and the transaction is ended at once."""
    events = session.exec(select(func.count()).select_from(SheetEvent)).one()
    answers = session.exec(select(Answer.sheet_id, Answer.item_key, Answer.status, Answer.memo, Answer.version)
                           .order_by(Answer.id)).all()
    sheets = session.exec(select(Sheet.id, Sheet.entry_on, Sheet.state).order_by(Sheet.id)).all()
    session.commit()
    return events, answers, sheets


def answers_of(session, round_id, unit):
    rows = session.exec(select(Answer.item_key, Answer.status, Answer.memo).join(Sheet, Sheet.id == Answer.sheet_id)
                        .where(Sheet.round_id == round_id, Sheet.unit_id == unit.id)).all()
    session.commit()
    return {key: (status, memo) for key, status, memo in rows}


def entry_on(session, round_id, unit):
    value = session.exec(select(Sheet.entry_on).where(Sheet.round_id == round_id, Sheet.unit_id == unit.id)).one()
    session.commit()
    return value


def preview(client, token, round_id, *files):
    return client.post("/admin/import/preview", data={"csrf_token": token, "round_id": str(round_id)},
                       files=[("files", (name, content, XLSX)) for name, content in files])


def apply(client, token, page):
    match = PLAN.search(page.text)
    assert match, "no apply form on the preview"
    return client.post("/admin/import/apply", data={"csrf_token": token, "plan": match.group(1)})


@pytest.fixture
def admin(client, world):
    return sign_in(client, "admin@test.example")


def test_importing_a_file_made_by_the_export_gives_back_the_same_answers(client, new_client, session, world):
    memo = "共有フォルダ, 個人PC\n2行目「引用」\"二重\"\n  字下げ"
    factories.fill(session, world.round.id, world.a1, world.member_a, {
        K[0]: ("◎", memo), K[1]: ("○", "=1+1"), K[2]: ("△", ""), K[3]: ("×", "x"), K[4]: ("該当なし", "なし")})
    factories.fill(session, world.round.id, world.b1, world.member_b, {K[0]: ("○", "B1のメモ"), K[5]: ("◎", "")})
    desk = new_client()
    sign_in(desk, "desk@test.example")
    exported = desk.get(f"/api/v1/rounds/{world.round.id}/export.xlsx").content
    second = factories.make_round(session, world.version_id, title="令和8年度 第2回")
    session.commit()

    token = sign_in(client, "admin@test.example")
    page = preview(client, token, second.id, ("round1.xlsx", exported))
    assert page.status_code == 200, page.text
    assert "3所属のシートを読み取りました" in page.text and "変更される回答は 7 件" in page.text
    done = apply(client, token, page)
    assert done.status_code == 303
    assert "sections=2&answers=7" in done.headers["location"]
    assert "2所属・7件の回答を取り込みました" in client.get(done.headers["location"]).text
    for unit in (world.a1, world.a2, world.b1):
        assert answers_of(session, second.id, unit) == answers_of(session, world.round.id, unit)
    sheet = factories.sheet_of(session, second.id, world.a1)
    events = session.exec(select(SheetEvent).where(SheetEvent.sheet_id == sheet.id)).all()
    session.commit()
    assert len(events) == 5 and {(e.source, e.actor_id) for e in events} == {("import", world.admin.id)}
    assert all(e.note == "取り込み: round1.xlsx／A1 A部 一課" for e in events)
    history = client.get(f"/rounds/{second.id}/sections/A1/history").text
    assert "Excel取り込み" in history and "round1.xlsx" in history

    # Importing the same file again changes nothing and records nothing.
    before = state(session)
    again = preview(client, token, second.id, ("round1.xlsx", exported))
    assert "変更される回答は 0 件" in again.text
    assert apply(client, token, again).status_code == 303
    assert state(session) == before


def test_paper_era_files_matched_by_text_file_name_and_code_cell(client, admin, session, world):
    a1 = paper_sheet([("資料を電子でも　保管している", "〇", "紙の時代のメモ"),  # ideographic space, 〇 U+3007
                      ("個人用(メモ、資料の保管)に紙を印刷していない", "✕", None),  # half-width brackets, ✕
                      (" 打合せをペーパーレスで行っている ", "ｘ", ""),  # full-width x
                      ("（下の欄は記入不要）", None, None)],  # a note under the table
                     entry="令和6年7月1日")
    b1 = paper_sheet(full_rows(), code="B1", entry="2024/06/30")
    a2 = paper_sheet([(TEXTS[0], "◎", "")], name="A部 二課", entry="令和〇年〇月〇日")
    page = preview(client, admin, world.round.id, ("A1_ペーパーレス化状況チェックシート.xlsx", a1), ("b.xlsx", b1),
                   ("二課.xlsx", a2))
    assert page.status_code == 200, page.text
    assert "「A1_ペーパーレス化状況チェックシート」から「A部 一課（A1）」と判断しました" in page.text
    assert "ファイルにない項目が3件あります" in page.text
    assert apply(client, admin, page).status_code == 303
    assert answers_of(session, world.round.id, world.a1)[K[0]] == ("○", "紙の時代のメモ")
    assert answers_of(session, world.round.id, world.a1)[K[1]] == ("×", "")
    assert answers_of(session, world.round.id, world.a1)[K[2]] == ("×", "")
    assert answers_of(session, world.round.id, world.a2)[K[0]] == ("◎", "")
    assert answers_of(session, world.round.id, world.b1)[K[4]] == ("該当なし", "")
    assert str(entry_on(session, world.round.id, world.a1)) == "2024-07-01"
    assert str(entry_on(session, world.round.id, world.b1)) == "2024-06-30"


def test_blank_cells_leave_stored_answers_as_they_are(client, admin, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K[0]: ("△", "残すメモ"), K[1]: ("○", "")})
    page = preview(client, admin, world.round.id, ("A1.xlsx", paper_sheet([(TEXTS[0], None, None), (TEXTS[1], "◎", None)])))
    assert apply(client, admin, page).status_code == 303
    assert answers_of(session, world.round.id, world.a1)[K[0]] == ("△", "残すメモ")
    assert answers_of(session, world.round.id, world.a1)[K[1]] == ("◎", "")


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def with_cell(content: bytes, ref: str, value) -> bytes:
    wb = load_workbook(io.BytesIO(content))
    ws = wb[wb.sheetnames[-1]]
    ws[ref] = value
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


GOOD = paper_sheet(full_rows(), code="A1")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("notes.xlsx", b"this is not a workbook", "XLSXファイル（Excelのブック .xlsx）ではありません"),
    ("archive.xlsx", zip_bytes({"readme.txt": b"hello"}), "XLSXファイル（Excelのブック）ではありません"),
    ("broken.xlsx", b"PK\x03\x04" + b"\0" * 100, "ファイルが壊れているため読めません"),
    ("results.csv", "所属コード,達成状況\nA1,◎\n".encode(), "CSVファイルは取り込めません"),
    ("empty.xlsx", b"", "空のファイルです"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "古い形式（.xls）"),
    ("macro.xlsm", GOOD, "マクロ付きブック"),
    ("other.xlsx", zip_bytes({"xl/workbook.xml": b"<not-a-workbook"}), "Excelのブックとして読めません"),
    ("wrong-sheet.xlsx", with_cell(paper_sheet([]), "C4", "項目"), "チェックシートの表が見つかりません"),
    ("symbols.xlsx", with_cell(GOOD, "E6", "☆"), "セルE6: 達成状況「☆」は使えません"),
    ("formula.xlsx", with_cell(GOOD, "E7", '=IF(TRUE,"◎","×")'), "セルE7に数式が入っています"),
    ("na.xlsx", with_cell(GOOD, "E5", "該当なし"), "セルE5: 「資料を電子でも保管している」では「該当なし」は選べません"),
    ("unknown-item.xlsx", with_cell(GOOD, "C6", "FAXを使っていない"), "6行目: チェック項目「FAXを使っていない」はこの調査回"),
    ("no-section.xlsx", paper_sheet(full_rows()), "所属が分かりません"),
    ("other-round.xlsx", paper_sheet(full_rows(), code="Z9"), "所属コード「Z9」はこの調査回にありません"),
    ("unknown-name.xlsx", paper_sheet(full_rows(), name="存在しない課"), "所属名「存在しない課」はこの調査回にありません"),
    ("twice.xlsx", with_cell(GOOD, "C11", TEXTS[0]), "「資料を電子でも保管している」は5行目にもあります"),
    ("long-memo.xlsx", with_cell(GOOD, "F5", "字" * 2001), "メモは2,000文字以内"),
])
def test_a_bad_file_gets_its_message_and_nothing_is_stored(client, admin, session, world, name, content, message):
    before = state(session)
    # Sent together with a good file: one bad file stops the whole import.
    page = preview(client, admin, world.round.id, ("B1.xlsx", paper_sheet(full_rows(), code="B1")), (name, content))
    assert page.status_code == 422
    assert message in page.text, page.text[page.text.find("確認結果"):][:3000]
    assert "取り込めない内容が" in page.text and 'name="plan"' not in page.text
    assert state(session) == before


def test_the_same_section_twice_and_a_submitted_sheet_are_refused(client, new_client, admin, session, world):
    factories.fill(session, world.round.id, world.a2, world.member_a2, {k: ("◎", "") for k in K[:4]} | {
        K[4]: ("◎", ""), K[5]: ("◎", "")})
    leader = new_client()
    leader_token = sign_in(leader, "leader.a1@test.example")
    factories.fill(session, world.round.id, world.a1, world.leader_a, {k: ("○", "") for k in K})
    assert leader.post(f"/api/v1/rounds/{world.round.id}/sections/A1/submit",
                       headers={"X-CSRF-Token": leader_token}).status_code == 200
    before = state(session)
    page = preview(client, admin, world.round.id, ("x.xlsx", paper_sheet(full_rows(), code="A1")),
                   ("y.xlsx", paper_sheet(full_rows(), code="A2")), ("z.xlsx", paper_sheet(full_rows(), code="a2")))
    assert page.status_code == 422
    assert "提出済みのため取り込めません" in page.text
    assert "所属「A部 二課」は「y.xlsx／Sheet1」でも取り込もうとしています" in page.text
    assert state(session) == before


def test_oversize_upload_is_refused_before_it_is_read(database_url, world):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(make_settings(database_url, max_upload_bytes=50_000))
    with TestClient(app, follow_redirects=False) as small:
        token = sign_in(small, "admin@test.example")
        response = preview(small, token, world.round.id, ("big.xlsx", b"PK\x03\x04" + b"x" * 60_000))
        assert response.status_code == 413 and "大きすぎます" in response.text
    app.state.engine.dispose()
    (refused,) = reader.read_upload([("big.xlsx", GOOD)], replace(LIMITS, max_file_bytes=100))
    assert refused.error.startswith("ファイルが大きすぎます")


def test_preview_without_files_or_round_says_what_is_missing(client, admin, world):
    page = client.post("/admin/import/preview", data={"csrf_token": admin, "round_id": ""},
                       files=[("files", ("", b"", "application/octet-stream"))])
    assert page.status_code == 422
    assert "取り込む調査回を選んでください" in page.text and "取り込むファイル（.xlsx）を選んでください" in page.text
    assert 'aria-describedby="files-hint files-error"' in page.text


def test_answers_changed_after_the_preview_stop_the_apply(client, admin, session, world):
    page = preview(client, admin, world.round.id, ("a.xlsx", paper_sheet(full_rows(), code="A1")),
                   ("b.xlsx", paper_sheet(full_rows(), code="B1")))
    factories.fill(session, world.round.id, world.b1, world.member_b, {K[0]: ("×", "その後の変更")})
    before = state(session)
    response = apply(client, admin, page)
    assert response.status_code == 409 and "確認の後にチェックシートの内容が変わりました" in response.text
    assert state(session) == before
    # The new preview it shows can be applied.
    assert apply(client, admin, response).status_code == 303
    assert answers_of(session, world.round.id, world.b1)[K[0]] == ("◎", "その後の変更")


def test_a_tampered_or_foreign_preview_is_refused(client, new_client, admin, session, world):
    page = preview(client, admin, world.round.id, ("a.xlsx", paper_sheet(full_rows(), code="A1")))
    plan = PLAN.search(page.text).group(1)
    before = state(session)
    forged = client.post("/admin/import/apply", data={"csrf_token": admin, "plan": plan[:-3] + "AAA"})
    assert forged.status_code == 422 and "改ざん" in forged.text
    factories.make_user(session, "admin2@test.example", "管理者2", is_admin=True)
    session.commit()
    other = new_client()
    other_token = sign_in(other, "admin2@test.example")
    foreign = other.post("/admin/import/apply", data={"csrf_token": other_token, "plan": plan})
    assert foreign.status_code == 403
    assert client.post("/admin/import/apply", data={"csrf_token": admin}).status_code == 422
    assert state(session) == before


def test_only_admins_import(client, new_client, world):
    for upn in ("desk@test.example", "leader.a1@test.example"):
        other = new_client()
        token = sign_in(other, upn)
        assert other.get("/admin/import").status_code == 403
        assert preview(other, token, world.round.id, ("a.xlsx", GOOD)).status_code == 403
    admin_token = sign_in(client, "admin@test.example")
    assert client.get("/admin/import").status_code == 200
    assert preview(client, "forged", world.round.id, ("a.xlsx", GOOD)).status_code == 403
    assert admin_token


def test_draft_round_is_refused_with_a_message(client, admin, session, world):
    draft = factories.make_round(session, world.version_id, title="準備中の回", open_it=False)
    session.commit()
    page = preview(client, admin, draft.id, ("a.xlsx", GOOD))
    assert page.status_code == 422 and "準備中（開始前）の調査回には取り込めません" in page.text


def test_plan_and_apply_services_write_nothing_on_error(session, world):
    files = reader.read_upload([("a.xlsx", paper_sheet(full_rows(), code="A1")),
                                ("b.xlsx", with_cell(GOOD, "E6", "？"))], LIMITS)
    plan = importer.plan_import(session, world.round.id, files)
    assert not plan.ok and plan.error_count == 1
    with pytest.raises(Exception, match="取り込めない内容が1件"):
        importer.apply_import(session, plan, actor=None)
    assert session.exec(select(func.count()).select_from(SheetEvent)).one() == 0
    assert all(s.entry_on is None for s in session.exec(select(Sheet)).all())


def test_a_preview_too_large_to_carry_asks_to_split_the_files(client, admin, world, monkeypatch):
    from app.excel import routes

    monkeypatch.setattr(routes, "PLAN_MAX_CHARS", 100)
    page = preview(client, admin, world.round.id, ("a.xlsx", paper_sheet(full_rows(), code="A1")))
    assert page.status_code == 422 and "ファイルを分けて取り込んでください" in page.text
    assert 'name="plan"' not in page.text
