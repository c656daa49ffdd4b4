"""History of a sheet: every write path leaves its record; who may read it; page and JSON."""

from __future__ import annotations

from sqlmodel import select

from app.sheets.models import SheetEvent
from tests import factories
from tests.conftest import csrf_from, sign_in
from tests.factories import field

K1 = "office.daily.keep-electronic"
K2 = "office.daily.no-personal-printing"
ALL = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
       "briefing.bureau.paperless", "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet"]


def sheet_url(world, code="A1"):
    return f"/rounds/{world.round.id}/sections/{code}"


def api(world, code="A1"):
    return f"/api/v1/rounds/{world.round.id}/sections/{code}/history"


def events(session, world, unit=None):
    sheet = factories.sheet_of(session, world.round.id, unit or world.a1)
    rows = session.exec(select(SheetEvent).where(SheetEvent.sheet_id == sheet.id).order_by(SheetEvent.id)).all()
    session.commit()  # end the transaction (on SQLite the test's session would keep the write lock)
    return rows


def test_every_write_path_leaves_its_record(client, new_client, session, world):
    # 1. the plain page form (no JavaScript)
    token = sign_in(client, "member.a1@test.example")
    page = client.get(sheet_url(world))
    form = {"csrf_token": csrf_from(page.text), field("status", K1): "◎", field("memo", K1): "共有フォルダ", field("version", K1): "0"}
    assert client.post(sheet_url(world), data=form).status_code == 303
    # 2. one row through htmx
    row = client.post(f"{sheet_url(world)}/items/{K2}", data={field("status", K2): "△", field("version", K2): "0"},
                      headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert row.status_code == 200, row.text
    # 3. the JSON API, answering everything else, then 4. submit and 5. reopen with a reason (leader, API)
    for key, status in zip(ALL[2:], ["○", "×", "該当なし", "◎"], strict=True):
        response = client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}",
                              json={"status": status, "version": 0}, headers={"X-CSRF-Token": token})
        assert response.status_code == 200
    leader = new_client()
    leader_token = sign_in(leader, "leader.a1@test.example")
    base = f"/api/v1/rounds/{world.round.id}/sections/A1"
    assert leader.post(f"{base}/submit", headers={"X-CSRF-Token": leader_token}).status_code == 200
    assert leader.post(f"{base}/reopen", json={"reason": "記入漏れの修正"},
                       headers={"X-CSRF-Token": leader_token}).status_code == 200
    # 6. submit and reopen through the page
    page = leader.get(sheet_url(world))
    assert leader.post(f"{sheet_url(world)}/submit", data={"csrf_token": csrf_from(page.text)}).status_code == 303
    assert leader.post(f"{sheet_url(world)}/reopen", data={"csrf_token": csrf_from(page.text)}).status_code == 303

    recorded = [(e.kind, e.source, e.item_key, e.old_status, e.new_status, e.note) for e in events(session, world)]
    assert recorded == [
        ("answer", "page", K1, None, "◎", ""),
        ("answer", "page", K2, None, "△", ""),
        ("answer", "api", ALL[2], None, "○", ""),
        ("answer", "api", ALL[3], None, "×", ""),
        ("answer", "api", ALL[4], None, "該当なし", ""),
        ("answer", "api", ALL[5], None, "◎", ""),
        ("submit", "api", None, None, None, ""),
        ("reopen", "api", None, None, None, "記入漏れの修正"),
        ("submit", "page", None, None, None, ""),
        ("reopen", "page", None, None, None, ""),
    ]
    first = events(session, world)[0]
    assert (first.old_memo, first.new_memo, first.actor_id) == ("", "共有フォルダ", world.member_a.id)

    # The page shows them newest first, with who, the symbols and the reason.
    page = client.get(f"{sheet_url(world)}/history")
    assert page.status_code == 200
    html = page.text
    assert html.index("提出の取消") < html.index("記入漏れの修正") < html.index("共有フォルダ")
    assert "職員 A1" in html and "リーダー A1" in html and "理由：記入漏れの修正" in html
    assert "履歴 10件" in html


def test_history_json_newest_first_with_memo_before_and_after(client, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("△", "最初のメモ")})
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("○", "書き直したメモ")})
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎", "書き直したメモ")})
    sign_in(client, "member.a1@test.example")
    body = client.get(api(world)).json()
    assert body["total"] == 3 and body["section"] == {"code": "A1", "name": "A部 一課"}
    assert body["round"] == {"id": world.round.id, "title": world.round.title}
    newest, middle, oldest = body["events"]
    assert (newest["old_status"], newest["new_status"], newest["memo_changed"]) == ("○", "◎", False)
    assert newest["old_memo"] is None and newest["new_memo"] is None
    assert (middle["old_memo"], middle["new_memo"], middle["memo_changed"]) == ("最初のメモ", "書き直したメモ", True)
    assert (oldest["old_status"], oldest["actor"], oldest["source"]) == (None, "職員 A1", "page")
    assert newest["item_text"] == "資料を電子でも保管している"


def test_history_filtered_by_item_and_paginated(client, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K2: ("×", "")})
    for i in range(55):
        factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎" if i % 2 else "○", f"メモ{i}")},
                       commit=False)
    session.commit()
    sign_in(client, "member.a1@test.example")
    only_k2 = client.get(api(world), params={"item": K2}).json()
    assert only_k2["total"] == 1 and only_k2["events"][0]["item_key"] == K2
    paged = client.get(api(world), params={"item": K1, "limit": 50, "offset": 50}).json()
    assert paged["total"] == 55 and [e["new_memo"] for e in paged["events"]] == ["メモ4", "メモ3", "メモ2", "メモ1", "メモ0"]
    assert client.get(api(world), params={"offset": 1000}).json()["events"] == []

    first = client.get(f"{sheet_url(world)}/history", params={"item": K1})
    current = 'aria-current="page">{}<span class="visually-hidden">ページ</span>'
    assert "「資料を電子でも保管している」の履歴 55件" in first.text and current.format(1) in first.text
    assert "メモ54" in first.text and "メモ3<" not in first.text
    second = client.get(f"{sheet_url(world)}/history", params={"item": K1, "page": 2})
    assert current.format(2) in second.text and "メモ0" in second.text
    # a page past the end shows the last one; an htmx request gets only the results block
    assert current.format(2) in client.get(f"{sheet_url(world)}/history", params={"item": K1, "page": 99}).text
    fragment = client.get(f"{sheet_url(world)}/history", params={"item": K2}, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section id="history-results"') and "<html" not in fragment.text


def test_unknown_item_filter_is_404_and_a_malformed_one_422(client, world):
    sign_in(client, "member.a1@test.example")
    assert client.get(api(world), params={"item": "no.such.item"}).status_code == 404
    assert client.get(api(world), params={"item": "Bad Key!"}).status_code == 422
    assert client.get(f"{sheet_url(world)}/history", params={"item": "no.such.item"}).status_code == 404


def test_member_of_another_section_cannot_read_the_history_of_a1(client, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎", "")})
    sign_in(client, "member.b1@test.example")
    refused = client.get(api(world))
    assert refused.status_code == 403 and "所属の職員" in refused.json()["detail"]
    page = client.get(f"{sheet_url(world)}/history")
    assert page.status_code == 403 and "所属の職員" in page.text


def test_desk_reads_any_history_and_anonymous_is_refused(client, new_client, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎", "")})
    anonymous = new_client()
    assert anonymous.get(api(world)).status_code == 401
    assert anonymous.get(f"{sheet_url(world)}/history").status_code == 303
    sign_in(client, "desk@test.example")
    assert client.get(api(world)).json()["total"] == 1
    assert client.get(f"{sheet_url(world)}/history").status_code == 200


def test_history_cannot_be_deleted_or_changed(client, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎", "")})
    token = sign_in(client, "admin@test.example")
    for method in ("DELETE", "PUT", "POST", "PATCH"):
        response = client.request(method, api(world), headers={"X-CSRF-Token": token})
        assert response.status_code == 405, method
    assert len(events(session, world)) == 1


def test_sheet_page_links_to_its_history(client, world):
    sign_in(client, "member.a1@test.example")
    page = client.get(sheet_url(world))
    assert f'href="{sheet_url(world)}/history"' in page.text
