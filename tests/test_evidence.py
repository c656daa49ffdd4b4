"""Evidence on an answer (根拠資料, issue 14.1 and 14.5), on both databases: links and files added and removed
through the one writer with history, only while the sheet may be changed and by those who may change it; read by
the 所属's staff and the desk only; files served as attachments; bad input refused with a message, nothing
stored."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import quote

import pytest
from sqlmodel import select

from app.auth import service as auth_service
from app.errors import Forbidden, InvalidInput
from app.sheets import evidence, service
from app.sheets.evidence_rules import Limits
from app.sheets.history import sheet_history
from app.sheets.models import AnswerEvidence, EventSource, SheetEvent
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import V1_KEYS

K1, K2 = V1_KEYS[0], V1_KEYS[1]
LIMITS = Limits(max_file_bytes=100_000, max_files=2, max_links=2)
PDF = b"%PDF-1.7\n%evidence\n1 0 obj<<>>endobj\n%%EOF\n"
LINK = "https://pref.sharepoint.com/sites/dx/Shared%20Documents/plan.pdf"


def who(session, user):
    return auth_service.load_principal(session, user.id)


def stored(session):
    rows = [(e.id, e.kind) for e in session.exec(select(AnswerEvidence)).all()]
    session.commit()  # ends the read (SQLite: the write lock the requests need) without expiring the world
    return rows


def evidence_events(session):
    return session.exec(select(SheetEvent.kind, SheetEvent.note).where(SheetEvent.kind.like("evidence%"))
                        .order_by(SheetEvent.id)).all()


def test_a_member_adds_a_link_and_a_file_and_history_says_so(session, world):
    member = who(session, world.member_a)
    evidence.add_link(session, member, world.round.id, "A1", K1, url=LINK, label="業務計画", limits=LIMITS)
    file_id = evidence.add_file(session, member, world.round.id, "A1", K1, filename="証跡　計画.pdf", data=PDF,
                                limits=LIMITS)
    session.commit()
    view = service.get_sheet_for(session, member, world.round.id, "A1")
    shown = evidence.of_view(session, member, view)
    assert [(e.kind, e.name) for e in shown.of(K1)] == [("link", f"業務計画（{LINK}）"), ("file", "証跡　計画.pdf")]
    assert shown.of(K2) == [] and shown.can_edit
    [_, the_file] = shown.of(K1)
    assert (the_file.content_type, the_file.size, the_file.id) == ("application/pdf", len(PDF), file_id)
    assert evidence_events(session) == [("evidence_add", f"リンクを追加: 業務計画（{LINK}）"),
                                        ("evidence_add", "根拠資料を追加: 証跡　計画.pdf")]
    history = sheet_history(session, member, world.round.id, "A1", item_key=K1)
    assert [e.kind_label for e in history.entries] == ["根拠資料の追加", "根拠資料の追加"]
    # removing keeps the row for history, drops the bytes, and says so
    evidence.remove(session, member, world.round.id, "A1", K1, file_id)
    session.commit()
    assert evidence_events(session)[-1] == ("evidence_remove", "根拠資料を削除: 証跡　計画.pdf")
    row = session.get(AnswerEvidence, file_id)
    session.refresh(row)
    assert row.removed_at is not None and row.data is None and row.sha256
    assert [e.kind for e in evidence.of_view(session, member, view).of(K1)] == ["link"]


def test_only_those_who_may_change_the_sheet_add_or_remove_evidence_and_only_while_it_may_change(session, world):
    round_id = world.round.id
    for user in (world.member_b, world.desk, world.admin):
        with pytest.raises(Forbidden):
            evidence.add_link(session, who(session, user), round_id, "A1", K1, url=LINK, label="", limits=LIMITS)
    session.rollback()
    f.set_answers(session, round_id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    service.submit(session, who(session, world.leader_a), round_id, "A1", source=EventSource.PAGE)
    session.commit()
    with pytest.raises(Forbidden, match="提出済み"):
        evidence.add_link(session, who(session, world.member_a), round_id, "A1", K1, url=LINK, label="",
                          limits=LIMITS)
    session.rollback()
    assert stored(session) == []


def test_evidence_is_read_by_the_section_and_the_desk_only(session, world):
    member = who(session, world.member_a)
    file_id = evidence.add_file(session, member, world.round.id, "A1", K1, filename="a.pdf", data=PDF, limits=LIMITS)
    session.commit()
    for user, readable in ((world.member_a, True), (world.leader_a, True), (world.desk, True), (world.admin, False)):
        view = service.get_sheet_for(session, who(session, user), world.round.id, "A1")
        assert (evidence.of_view(session, who(session, user), view) is not None) is readable, user.upn
        if readable:
            assert evidence.file_for(session, who(session, user), view, file_id).data == PDF
        else:
            with pytest.raises(Forbidden, match="根拠資料は、所属の職員と業務DX相談窓口だけ"):
                evidence.file_for(session, who(session, user), view, file_id)
    desk_view = service.get_sheet_for(session, who(session, world.desk), world.round.id, "A1")
    assert not evidence.of_view(session, who(session, world.desk), desk_view).can_edit  # the desk reads only


def office_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<x/>")
        z.writestr("word/media/zeros.bin", b"\x00" * 30_000_000)
    return buffer.getvalue()


@pytest.mark.parametrize(("kind", "value", "says"), [
    ("file", PDF + b"\x00" * LIMITS.max_file_bytes, "ファイルが大きすぎます"),
    ("file", b"MZ\x90\x00" + b"\x00" * 200, "Windowsの実行ファイルは添付できません"),
    ("file", b"#!/bin/sh\necho hi\n", "スクリプトは添付できません"),
    ("file", b"", "ファイルが空です"),
    ("file", "bomb", "圧縮爆弾"),
    ("link", "javascript:alert(document.cookie)", "「javascript:」で始まるリンクは登録できません"),
    ("link", "file:///C:/secret.txt", "「file:」で始まるリンク"),
    ("link", "data:text/html;base64,PHNjcmlwdD4=", "「data:」で始まるリンク"),
    ("link", "https://evil.example.com/phish", "「evil.example.com」へのリンクは登録できません"),
])
def test_bad_evidence_is_refused_with_a_message_and_nothing_is_stored(session, world, kind, value, says):
    member = who(session, world.member_a)
    with pytest.raises(InvalidInput, match=says):
        if kind == "file":
            data = office_bomb() if value == "bomb" else value
            evidence.add_file(session, member, world.round.id, "A1", K1, filename="report.pdf", data=data,
                              limits=Limits(max_file_bytes=LIMITS.max_file_bytes))
        else:
            evidence.add_link(session, member, world.round.id, "A1", K1, url=value, label="", limits=LIMITS)
    session.rollback()
    assert stored(session) == [] and evidence_events(session) == []


def test_too_many_files_or_links_on_one_answer_are_refused(session, world):
    member = who(session, world.member_a)
    for n in range(LIMITS.max_files):
        evidence.add_file(session, member, world.round.id, "A1", K1, filename=f"{n}.pdf", data=PDF, limits=LIMITS)
    for n in range(LIMITS.max_links):
        evidence.add_link(session, member, world.round.id, "A1", K1, url=f"{LINK}?{n}", label="", limits=LIMITS)
    session.commit()
    with pytest.raises(InvalidInput, match="ファイルは2件まで"):
        evidence.add_file(session, member, world.round.id, "A1", K1, filename="x.pdf", data=PDF, limits=LIMITS)
    with pytest.raises(InvalidInput, match="リンクは2件まで"):
        evidence.add_link(session, member, world.round.id, "A1", K1, url=LINK, label="", limits=LIMITS)
    session.rollback()
    assert len(stored(session)) == 4
    # another item has its own count
    evidence.add_file(session, member, world.round.id, "A1", K2, filename="y.pdf", data=PDF, limits=LIMITS)


# --- over HTTP: the page's forms, the download's headers --------------------------------------------------------


def evidence_path(world, key=K1):
    return f"/evidence/rounds/{world.round.id}/sections/A1/items/{key}"


def test_the_page_adds_a_pdf_and_a_link_and_serves_the_file_as_an_attachment(client, session, world):
    token = sign_in(client, "member.a1@test.example")
    sheet = f"/rounds/{world.round.id}/sections/A1"
    response = client.post(evidence_path(world), data={"csrf_token": token, "do": "file"},
                           files={"file": ("業務計画書.pdf", PDF, "application/octet-stream")}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith(f"{sheet}?evidence=1#evb1")
    response = client.post(evidence_path(world), data={"csrf_token": token, "do": "link", "url": LINK,
                                                       "label": "計画"}, follow_redirects=False)
    assert response.status_code == 303
    page = client.get(sheet + "?evidence=1").text
    assert "根拠資料<span class=item-refs__n>（2）" in page and ">計画<" in page and "業務計画書.pdf" in page
    [file_id] = [i for i, kind in stored(session) if kind == "file"]
    download = client.get(f"{sheet}/evidence/{file_id}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == (
        f"attachment; filename=\"_____.pdf\"; filename*=UTF-8''{quote('業務計画書.pdf')}")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "sandbox"
    # htmx: the item's box alone, open, with what happened
    response = client.post(evidence_path(world), data={"remove": str(file_id)},
                           headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    assert response.text.lstrip().startswith("<details")
    assert "削除しました: 業務計画書.pdf" in response.text and " open>" in response.text
    assert client.get(f"{sheet}/evidence/{file_id}").status_code == 404


def test_a_closed_box_carries_no_fields_and_its_fields_come_when_asked_for(client, session, world):
    sign_in(client, "member.a1@test.example")
    sheet = f"/rounds/{world.round.id}/sections/A1"
    page = client.get(sheet).text
    assert 'href="?evidence=1#evb1">追加・削除</a>' in page
    assert "id=evu1" not in page and "<form id=ev1 " not in page and 'id=evidence-forms></div>' in page
    # without JavaScript: the page with that box open, its fields, and its forms only
    page = client.get(sheet + "?evidence=1").text
    assert "id=evb1 open" in page and "id=evu1" in page and "<form id=ev1 " in page and "<form id=evr1 " in page
    assert "id=evu2" not in page and "<form id=ev2 " not in page
    # htmx: the box alone, open, its first field focused, its two forms out of band into #evidence-forms
    box = client.get(evidence_path(world), headers={"HX-Request": "true"})
    assert box.status_code == 200 and box.text.lstrip().startswith("<details class=evidence id=evb1 open>")
    assert "autofocus" in box.text and 'hx-swap-oob="beforeend:#evidence-forms"' in box.text
    assert box.text.count("<form ") == 2 and "csrf_token" in box.text
    # a plain GET of the same address goes back to the page with the box open
    plain = client.get(evidence_path(world), follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == f"{sheet}?evidence=1#evb1"


def test_the_desk_may_not_ask_for_the_fields(client, session, world):
    sign_in(client, "desk@test.example")
    page = client.get(f"/rounds/{world.round.id}/sections/A1?evidence=1").text
    assert "id=evu1" not in page and "追加・削除" not in page
    assert client.get(evidence_path(world), headers={"HX-Request": "true"}).status_code == 403


def test_the_page_refuses_bad_input_with_the_message_beside_the_item(client, session, world):
    token = sign_in(client, "member.a1@test.example")
    response = client.post(evidence_path(world), data={"csrf_token": token, "do": "file"},
                           files={"file": ("setup.pdf", b"MZ" + b"\x00" * 100, "application/pdf")})
    assert response.status_code == 422 and "Windowsの実行ファイルは添付できません" in response.text
    assert "id=evb1 open" in response.text  # the item's box is open, the message in it
    response = client.post(evidence_path(world), data={"do": "link", "url": "javascript:alert(1)", "label": "x"},
                           headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert response.status_code == 422 and "「javascript:」で始まるリンクは登録できません" in response.text
    assert 'value="javascript:alert(1)"' in response.text  # what was typed stays to be corrected (escaped)
    response = client.post(evidence_path(world), data={"csrf_token": token, "do": "file"},
                           files={"file": ("", b"", "application/octet-stream")})
    assert response.status_code == 422 and "添付するファイルを選んでください" in response.text
    assert stored(session) == []
    # without the CSRF token nothing happens
    assert client.post(evidence_path(world), data={"do": "link", "url": LINK}).status_code == 403
    assert stored(session) == []


def test_the_desk_sees_the_evidence_read_only_and_the_history_page_lists_it(client, session, world):
    member = who(session, world.member_a)
    evidence.add_link(session, member, world.round.id, "A1", K1, url=LINK, label="", limits=LIMITS)
    session.commit()
    sign_in(client, "desk@test.example")
    page = client.get(f"/rounds/{world.round.id}/sections/A1").text
    assert LINK in page and "リンクを追加" not in page and "name=remove" not in page
    history = client.get(f"/rounds/{world.round.id}/sections/A1/history").text
    assert "根拠資料の追加" in history and f"リンクを追加: {LINK}" in history


# --- exports and the XLSX import's round trip -------------------------------------------------------------------


def test_exports_list_evidence_as_links_and_importing_the_export_leaves_evidence_alone(session, world):
    from openpyxl import load_workbook

    from app.excel import export, importer, reader, writer
    from tests.conftest import make_settings

    member = who(session, world.member_a)
    evidence.add_link(session, member, world.round.id, "A1", K1, url=LINK, label="計画", limits=LIMITS)
    file_id = evidence.add_file(session, member, world.round.id, "A1", K1, filename="a.pdf", data=PDF, limits=LIMITS)
    f.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎", "電子保管"), K2: ("○", "")})
    session.commit()
    base = "https://paperless.example.jp/"
    download = f"https://paperless.example.jp/rounds/{world.round.id}/sections/A1/evidence/{file_id}"
    bundle = export.gather(session, who(session, world.desk), world.round.id, section="A1", public_url=base)
    answers = {a.item.key: a for a in bundle.sheets[0].answers}
    assert answers[K1].evidence == (LINK, download) and answers[K2].evidence == ()
    # an administrator who is not the desk exports the sheet without its evidence
    assert all(not a.evidence for s in export.gather(session, who(session, world.admin), world.round.id,
                                                     public_url=base).sheets for a in s.answers)
    csv_text = writer.write_csv(bundle).decode("utf-8-sig")
    assert csv_text.splitlines()[0].endswith(",根拠資料") and f'"{LINK}\n{download}"' in csv_text.replace("\r\n", "\n")
    xlsx = writer.write_xlsx(bundle)
    book = load_workbook(io.BytesIO(xlsx))
    [ws] = [w for w in book.worksheets if w["I5"].value == "根拠資料"]
    assert ws["I6"].value == f"{LINK}\n{download}" and ws["H6"].value == K1
    # the export imported back: answers unchanged, evidence unchanged, no evidence event
    before = (stored(session), evidence_events(session))
    session.commit()
    files = reader.read_upload([("a1.xlsx", xlsx)], reader.Limits.from_settings(make_settings("sqlite://")))
    plan = importer.plan_import(session, world.round.id, files)
    assert plan.ok
    importer.apply_import(session, plan, actor=None)
    session.commit()
    assert (stored(session), evidence_events(session)) == before


def test_a_merge_during_an_open_round_carries_the_folded_sheet_s_evidence_along(session, world):
    """The sheet of a 所属 merged away leaves the round (writer.fold): its evidence goes with its history to the sheet
    handed on, instead of blocking the fold (the evidence's foreign key) or being lost."""
    f.set_answers(session, world.round.id, world.a1, {K1: "◎"})
    a2_member = f.make_user(session, "member.a2.evidence@test.example", section=world.a2)
    session.commit()
    evidence.add_link(session, who(session, a2_member), world.round.id, "A2", K2, url=LINK, label="A2の手順",
                      limits=LIMITS)
    session.commit()
    merged = f.make_unit(session, "A12", "A部 統合課", parent=world.bureau_a, position=9)
    assert service.merge_sheets(session, world.round.id, [world.a1, world.a2], merged)
    session.commit()
    kept = f.sheet_of(session, world.round.id, merged)
    assert [(e.item_key, e.label) for e in evidence.for_sheets(session, [kept.id])[kept.id]] == [(K2, "A2の手順")]


def test_a_row_s_save_reads_no_evidence_and_the_page_reads_it_once(client, app, world):
    from sqlalchemy import event

    token = sign_in(client, "member.a1@test.example")
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", record)
    try:
        saved = client.post(f"/rounds/{world.round.id}/sections/A1/items/{K1}", data={"s1": "◎", "m1": "", "v1": "0"},
                            headers={"X-CSRF-Token": token, "HX-Request": "true"})
        assert saved.status_code == 200 and "保存しました" in saved.text
        assert not [s for s in seen if "answer_evidence" in s]
        seen.clear()
        assert client.get(f"/rounds/{world.round.id}/sections/A1").status_code == 200
        assert len([s for s in seen if "answer_evidence" in s]) == 1
    finally:
        event.remove(app.state.engine, "before_cursor_execute", record)
