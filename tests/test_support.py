"""伴走支援: the desk records and edits consultations and sees open follow-ups; a leader's 「相談する」
opens a 受付 record; a 所属's staff read their own records only; the effect shows in the next round."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from app.jpdate import today_jst, wareki
from app.support import service
from app.support.models import SupportRecord, SupportRecordItem
from app.support.service import Due, due
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import field

KEEP = "office.daily.keep-electronic"
PRINT = "office.daily.no-personal-printing"
TODAY = today_jst()


def records(session) -> list[tuple]:
    rows = session.exec(select(SupportRecord.unit_id, SupportRecord.origin, SupportRecord.state,
                               SupportRecord.advice, SupportRecord.request_message).order_by(SupportRecord.id)).all()
    session.commit()  # end the read (SQLite's write lock)
    return list(rows)


def items_of(session, record_id: int) -> list[str]:
    keys = session.exec(select(SupportRecordItem.item_key).where(SupportRecordItem.record_id == record_id)
                        .order_by(SupportRecordItem.item_key)).all()
    session.commit()
    return list(keys)


def desk_form(token, **values):
    data = {"csrf_token": token, "consulted_on": TODAY.isoformat(), "state": "in_progress", "desk_staff": "窓口 太郎",
            "contact_person": "リーダー A1", "request_message": "", "advice": "会議資料をTeamsで共有する手順を説明",
            "follow_up_on": (TODAY + timedelta(days=14)).isoformat()}
    data.update(values)
    return data


@pytest.mark.parametrize(("state", "follow", "expected"), [
    ("in_progress", TODAY - timedelta(days=1), Due.OVERDUE),
    ("received", TODAY, Due.TODAY),
    ("in_progress", TODAY + timedelta(days=7), Due.SOON),
    ("in_progress", TODAY + timedelta(days=8), Due.LATER),
    ("received", None, Due.UNSCHEDULED),
    ("done", TODAY - timedelta(days=30), Due.CLOSED),
])
def test_follow_up_urgency(state, follow, expected):
    assert due(state, follow, TODAY) is expected


def test_the_desk_records_a_consultation_and_edits_it(client, session, world):
    token = sign_in(client, "desk@test.example")
    form = client.get("/support/new?section=A1")
    assert form.status_code == 200 and "相談を記録する" in form.text
    response = client.post("/support/new?section=A1", data=desk_form(token) | {"items": [PRINT, KEEP]})
    assert response.status_code == 303
    record_id = int(response.headers["location"].split("/")[2].split("?")[0])
    assert records(session) == [(world.a1.id, "desk", "in_progress", "会議資料をTeamsで共有する手順を説明", "")]
    assert items_of(session, record_id) == [KEEP, PRINT]
    page = client.get(f"/support/{record_id}").text
    assert "窓口 太郎" in page and wareki(TODAY) in page and "資料を電子でも保管している" in page
    response = client.post(f"/support/{record_id}/edit", data=desk_form(token, state="done", advice="完了しました",
                                                                         follow_up_on="", version="0", items=[KEEP]))
    assert response.status_code == 303
    assert records(session)[0][2:4] == ("done", "完了しました")
    assert items_of(session, record_id) == [KEEP]
    # the page read at version 0 is stale now: 409, nothing changed
    stale = client.post(f"/support/{record_id}/edit", data=desk_form(token, advice="古い画面から", version="0"))
    assert stale.status_code == 409 and "他の方が変更しました" in stale.text
    assert records(session)[0][3] == "完了しました"


@pytest.mark.parametrize(("values", "message"), [
    ({"consulted_on": "2025/13/40"}, "相談日は「2025-11-29」の形"),
    ({"consulted_on": ""}, "相談日を入力してください。"),
    ({"follow_up_on": (TODAY - timedelta(days=1)).isoformat()}, "次回フォローアップ日は相談日以降"),
    ({"state": "closed"}, "状態は 受付・対応中・完了 のいずれか"),
    ({"items": ["office.no-such-item"]}, "チェック項目「office.no-such-item」は"),
    ({"desk_staff": "あ" * 101}, "窓口の担当者は100文字以内"),
    ({"advice": "", "request_message": ""}, "いずれかを入力してください"),
])
def test_bad_records_are_refused_and_nothing_is_stored(client, session, world, values, message):
    token = sign_in(client, "desk@test.example")
    response = client.post("/support/new?section=A1", data=desk_form(token, **values))
    assert response.status_code == 422
    assert message in response.text and 'role="alert"' in response.text
    assert records(session) == []


def test_open_follow_ups_come_first_overdue_first(session, world):
    def make(state, follow, days_ago=0):
        return f.make_support_record(session, world.a1, round_id=world.round.id, state=state, follow_up_on=follow,
                                     consulted_on=TODAY - timedelta(days=days_ago)).id

    later = make("in_progress", TODAY + timedelta(days=20))
    undated = make("in_progress", None)
    request = make("received", None, days_ago=3)
    done = make("done", TODAY - timedelta(days=40))
    overdue = make("in_progress", TODAY - timedelta(days=2))
    today = make("received", TODAY)
    # a 「相談する」 request nobody has taken up yet: first, though it has no follow-up date
    new_request = f.make_support_record(session, world.a1, round_id=world.round.id, state="received", origin="request",
                                        consulted_on=TODAY - timedelta(days=1)).id
    session.commit()
    desk = _principal(session, world.desk)
    rows = service.list_records(session, desk)
    assert [r.record.id for r in rows] == [new_request, overdue, today, later, request, undated, done]
    assert [r.due for r in rows] == [Due.UNSCHEDULED, Due.OVERDUE, Due.TODAY, Due.LATER, Due.UNSCHEDULED,
                                     Due.UNSCHEDULED, Due.CLOSED]
    open_rows = service.list_records(session, desk, states=["received", "in_progress"])
    assert done not in [r.record.id for r in open_rows]
    assert [r.record.id for r in service.list_records(session, desk, only="new")] == [new_request]
    assert [r.record.id for r in service.list_records(session, desk, only="overdue")] == [overdue]
    assert service.state_counts(session) == {"received": 3, "in_progress": 3, "done": 1, "overdue": 1, "new": 1}


def _principal(session, user):
    from app.auth import service as auth_service

    return auth_service.load_principal(session, user.id)


def test_the_desk_list_shows_overdue_follow_ups_with_a_symbol_and_words(client, session, world):
    f.make_support_record(session, world.a1, round_id=world.round.id, follow_up_on=TODAY - timedelta(days=1))
    session.commit()
    sign_in(client, "desk@test.example")
    html = client.get("/support").text
    assert "⚠</span> 期限超過" in html and "A部 一課" in html
    assert client.get("/support?state=done").text.count("support-row--") == 0


def test_a_leaders_consultation_request_reaches_the_desk(client, new_client, session, world):
    f.set_answers(session, world.round.id, world.a1, {KEEP: "×", PRINT: "△"})
    session.commit()
    token = sign_in(client, "leader.a1@test.example")
    form = client.get(f"/sections/A1/consult?item={KEEP}")
    assert form.status_code == 200
    assert f'value="{KEEP}" checked' in form.text and f'value="{PRINT}">' in form.text
    response = client.post("/sections/A1/consult", data={"csrf_token": token, "items": [KEEP],
                                                         "request_message": "共有フォルダの整理方法を相談したい"})
    assert response.status_code == 303 and response.headers["location"].endswith("?requested=1")
    [(unit_id, origin, state, _, message)] = records(session)
    assert (unit_id, origin, state, message) == (world.a1.id, "request", "received", "共有フォルダの整理方法を相談したい")
    desk = new_client()
    sign_in(desk, "desk@test.example")
    html = desk.get("/support").text
    assert "所属からの相談" in html and "資料を電子でも保管している" in html
    [row] = desk.get("/api/v1/support-records").json()
    assert (row["state"], row["state_label"], row["origin"], row["section"]["code"]) == (
        "received", "受付", "request", "A1")
    assert row["contact_person"] == "リーダー A1" and row["bureau"] == {"code": "A", "name": "A部"}
    assert [i["item_key"] for i in row["items"]] == [KEEP] and row["items"][0]["text"]


def test_a_consultation_needs_an_item_or_a_message(client, session, world):
    token = sign_in(client, "leader.a1@test.example")
    response = client.post("/sections/A1/consult", data={"csrf_token": token, "request_message": "  "})
    assert response.status_code == 422 and "相談したい項目を選ぶか" in response.text
    response = client.post("/sections/A1/consult", data={"csrf_token": token, "items": ["nope.item"]})
    assert response.status_code == 422 and "チェック項目「nope.item」" in response.text
    assert records(session) == []


def test_a_leader_may_change_their_own_request_until_the_desk_takes_it_up(client, new_client, session, world):
    token = sign_in(client, "leader.a1@test.example")
    body = client.post("/api/v1/sections/A1/support-requests", headers={"X-CSRF-Token": token},
                       json={"item_keys": [KEEP], "message": "相談です"}).json()
    record_id = body["id"]
    assert body["state"] == "received" and body["items"][0]["item_key"] == KEEP
    edited = client.post(f"/support/{record_id}/edit", data={"csrf_token": token, "version": "0",
                                                              "request_message": "追記しました", "items": [PRINT]})
    assert edited.status_code == 303
    assert records(session)[0][4] == "追記しました" and items_of(session, record_id) == [PRINT]
    # the leader cannot change the desk's fields, whatever the form or the API sends: refused, not ignored
    refused = client.post(f"/support/{record_id}/edit", data={"csrf_token": token, "version": "1", "state": "done",
                                                               "advice": "自分で完了"})
    assert refused.status_code == 403 and "窓口だけが変更できます" in refused.text
    refused = client.patch(f"/api/v1/support-records/{record_id}", headers={"X-CSRF-Token": token},
                           json={"request_message": "追記", "state": "done", "version": 1})
    assert refused.status_code == 403 and "窓口だけが変更できます" in refused.json()["detail"]
    assert records(session)[0][2:5] == ("received", "", "追記しました")
    desk = new_client()
    desk_token = sign_in(desk, "desk@test.example")
    taken = desk.patch(f"/api/v1/support-records/{record_id}", headers={"X-CSRF-Token": desk_token},
                       json={"state": "in_progress", "desk_staff": "窓口 花子", "version": 1})
    assert taken.status_code == 200 and taken.json()["state_label"] == "対応中"
    refused = client.post(f"/support/{record_id}/edit", data={"csrf_token": token, "version": "2",
                                                               "request_message": "もう一度"})
    assert refused.status_code == 403 and "窓口が対応を始めた" in refused.text


def test_who_sees_which_records(client, new_client, session, world):
    record = f.make_support_record(session, world.a1, round_id=world.round.id, items=(KEEP,), by=world.desk)
    session.commit()
    member = new_client()
    member_token = sign_in(member, "member.a1@test.example")
    assert member.get(f"/support/{record.id}").status_code == 200
    assert member.get("/sections/A1/support").status_code == 200
    assert member.get("/api/v1/sections/A1/support-records").json()[0]["id"] == record.id
    # read-only: members neither edit nor send requests, and the desk's list is not theirs
    assert member.get(f"/support/{record.id}/edit").status_code == 403
    assert member.post(f"/support/{record.id}/edit", data={"csrf_token": member_token, "version": "0",
                                                           "advice": "x"}).status_code == 403
    refused = member.post("/sections/A1/consult", data={"csrf_token": member_token, "request_message": "相談"})
    assert refused.status_code == 403 and "DX推進リーダーから送ります" in refused.text
    assert member.get("/support").status_code == 403
    assert member.get("/api/v1/support-records").status_code == 403
    other = new_client()
    other_token = sign_in(other, "member.b1@test.example")
    assert other.get(f"/support/{record.id}").status_code == 403
    assert other.get("/sections/A1/support").status_code == 403
    assert other.get(f"/api/v1/support-records/{record.id}").status_code == 403
    assert other.get("/api/v1/sections/A1/support-records").status_code == 403
    assert other.post("/sections/A1/consult", data={"csrf_token": other_token, "request_message": "x"}).status_code == 403
    leader_b = new_client()
    token_b = sign_in(leader_b, "leader.b1@test.example")
    assert leader_b.post("/api/v1/sections/A1/support-requests", headers={"X-CSRF-Token": token_b},
                         json={"message": "x"}).status_code == 403
    assert len(records(session)) == 1
    anonymous = new_client()
    assert anonymous.get(f"/api/v1/support-records/{record.id}").status_code == 401
    assert anonymous.get("/api/v1/support-records/999999").status_code == 401


def test_the_desk_cannot_change_a_sheet(client, session, world):
    token = sign_in(client, "desk@test.example")
    response = client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{KEEP}",
                          headers={"X-CSRF-Token": token}, json={"status": "◎", "version": 0})
    assert response.status_code == 403
    page = client.post(f"/rounds/{world.round.id}/sections/A1",
                       data={"csrf_token": token, field("status", KEEP): "◎", field("version", KEEP): "0"})
    assert page.status_code == 403
    assert client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()["items"][0]["answer"]["status"] is None


def test_the_desk_writes_records_through_the_api(client, session, world):
    token = sign_in(client, "desk@test.example")
    headers = {"X-CSRF-Token": token}
    created = client.post("/api/v1/sections/A1/support-records", headers=headers,
                          json={"consulted_on": TODAY.isoformat(), "advice": "訪問して説明", "item_keys": [KEEP]})
    assert created.status_code == 201
    body = created.json()
    assert (body["state"], body["origin"], body["version"], body["effect"]["next_round"]) == (
        "received", "desk", 0, None)
    assert body["round"] == {"id": world.round.id, "title": world.round.title}
    bad = client.post("/api/v1/sections/A1/support-records", headers=headers, json={"advice": "日付なし"})
    assert bad.status_code == 422 and "consulted_on" in bad.json()["errors"]
    bad = client.patch(f"/api/v1/support-records/{body['id']}", headers=headers, json={"state": "closed", "version": 0})
    assert bad.status_code == 422
    stale = client.patch(f"/api/v1/support-records/{body['id']}", headers=headers, json={"advice": "x", "version": 5})
    assert stale.status_code == 409
    assert client.get("/api/v1/support-records/999999").status_code == 404


def test_supported_items_show_how_they_moved_in_the_next_round(client, session, world):
    f.set_answers(session, world.round.id, world.a1, {KEEP: "×", PRINT: "△"})
    f.set_answers(session, world.round.id, world.a2, {KEEP: "×", PRINT: "△"})
    record = f.make_support_record(session, world.a1, round_id=world.round.id, items=(KEEP, PRINT), by=world.desk)
    later = f.make_round(session, world.version_id, title="令和8年度 第2回", opens_on=date.today() - timedelta(days=2))
    f.set_answers(session, later.id, world.a1, {KEEP: "○", PRINT: "△"})
    f.set_answers(session, later.id, world.a2, {KEEP: "×", PRINT: "×"})
    session.commit()
    sign_in(client, "desk@test.example")
    body = client.get(f"/api/v1/support-records/{record.id}").json()
    assert body["effect"]["next_round"] == {"id": later.id, "title": "令和8年度 第2回"}
    assert [b["section"]["code"] for b in body["effect"]["items"][0]["before"]] == ["A1"]
    assert {i["item_key"]: (i["after"], i["change"]) for i in body["effect"]["items"]} == {
        KEEP: ("○", "improved"), PRINT: ("△", "unchanged")}
    html = client.get(f"/support/{record.id}").text
    assert "▲</span> 改善" in html and "＝</span> 変化なし" in html
    [pair] = service.comparison(session)
    # supported: A1's two items (one improved); others: A2's two items (one regressed)
    assert (pair.supported.total, pair.supported.improved, pair.supported.unchanged) == (2, 1, 1)
    assert (pair.others.total, pair.others.improved, pair.others.regressed) == (2, 0, 1)
    effects_page = client.get("/support/effects").text
    assert "支援した項目" in effects_page and "50.0%" in effects_page


def test_the_desk_picks_a_section_then_the_form_offers_its_items(client, world):
    sign_in(client, "desk@test.example")
    chooser = client.get("/support/new").text
    assert '<h3 class="section-choices__bureau">A部</h3>' in chooser
    assert '<a href="/support/new?section=B1">B部 一課<span class="code">（B1）</span></a>' in chooser
    form = client.get(f"/support/new?section=A1&items={KEEP}").text
    assert f'value="{KEEP}" checked' in form and 'value="リーダー A1"' in form and 'value="窓口"' in form
    assert client.get("/support/new?section=NOPE").status_code == 404


def test_the_trend_page_loads_the_newest_records_from_the_support_room(client, new_client, session, world):
    desk = new_client()
    token = sign_in(desk, "desk@test.example")
    for n in range(3):
        assert desk.post("/support/new?section=A1", data=desk_form(token, advice=f"助言{n}")).status_code == 303
    sign_in(client, "leader.a1@test.example")
    trend = client.get("/sections/A1/trend").text
    assert 'hx-get="/sections/A1/support?recent=10"' in trend and 'href="/sections/A1/support"' in trend
    fragment = client.get("/sections/A1/support?recent=2", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.count("<tr") == 3  # a header row and the two newest records
    assert "この所属の記録をすべて見る" in fragment.text
    assert client.get("/sections/A2/support?recent=2", headers={"HX-Request": "true"}).status_code == 403


# --- a new 相談 is easy to see (issue 11.4) -------------------------------------------------------------


def test_the_desk_start_page_loads_new_requests_and_overdue_follow_ups_first(client, session, world):
    request = f.make_support_record(session, world.a1, round_id=world.round.id, state="received", origin="request",
                                    message="部局会議の資料を電子化したい", by=world.leader_a)
    late = f.make_support_record(session, world.b1, round_id=world.round.id, state="in_progress",
                                 follow_up_on=TODAY - timedelta(days=3))
    f.make_support_record(session, world.a2, round_id=world.round.id, state="in_progress",
                          follow_up_on=TODAY + timedelta(days=3))
    session.commit()
    sign_in(client, "desk@test.example")
    board = client.get("/", follow_redirects=True).text
    # the board's first region (before the round's figures) loads the support room's list; without
    # JavaScript its link leads to the same list as a page
    assert board.index('hx-get="/support/inbox"') < board.index('id="overall-title"')
    assert '<a href="/support/inbox">' in board
    page = client.get("/support/inbox")
    assert page.status_code == 200 and "<h1>" in page.text
    fragment = client.get("/support/inbox", headers={"HX-Request": "true"}).text
    assert fragment.lstrip().startswith('<section id="desk-inbox"') and "<h1>" not in fragment
    new_part, overdue_part = fragment.split('id="inbox-overdue-title"')
    assert "所属からの新しい相談（受付）<span class=\"inbox__count\">1件</span>" in new_part
    assert f'href="/support/{request.id}"' in new_part and f'href="/support/{late.id}"' not in new_part
    assert "部局会議の資料を電子化したい" in new_part
    assert '<span class="inbox__count">1件</span>' in overdue_part and f'href="/support/{late.id}"' in overdue_part
    assert 'href="/support?state=new"' in new_part and 'href="/support?state=overdue"' in overdue_part
    listed = client.get("/support?state=new").text
    assert f'href="/support/{request.id}"' in listed and f'href="/support/{late.id}"' not in listed
    assert f'href="/support/{late.id}"' in client.get("/support?state=overdue").text


def test_staff_of_a_section_do_not_get_the_desk_inbox(client, world):
    sign_in(client, "leader.a1@test.example")
    assert client.get("/support/inbox").status_code == 403


def test_record_support_links_only_for_the_desk_prefilled_with_the_section_and_item(client, new_client, session,
                                                                                     world):
    f.set_answers(session, world.round.id, world.a2, {KEEP: "×"})  # ☆ at ×: a quick win
    session.commit()
    sign_in(client, "desk@test.example")
    sheet = client.get(f"/rounds/{world.round.id}/sections/A1").text
    assert 'href="/support/new?section=A1">支援を記録' in sheet
    quick = client.get(f"/desk/quick-wins?round={world.round.id}&scope=all").text  # A2 is not submitted
    link = f'href="/support/new?section=A2&amp;items={KEEP}">支援を記録'
    assert link in quick
    form = client.get(f"/support/new?section=A2&items={KEEP}").text
    assert re.search(rf'value="{re.escape(KEEP)}"[^>]* checked', form)
    leader = new_client()
    sign_in(leader, "leader.a1@test.example")
    assert "支援を記録" not in leader.get(f"/rounds/{world.round.id}/sections/A1").text


def _picked(html: str) -> list[str]:
    return re.findall(r'href="/support/new\?section=([^"]+)"', html)


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["A1", "A2", "B1"]),            # no search: every 所属 in force
    ("二課", ["A2"]),                      # part of the name
    ("ａ", ["A1", "A2"]),                  # the code's start, full-width and lower case alike
    ("B部", ["B1"]),                       # the 部局's name
    ("1", []),                            # a code does not match in its middle
    ("該当なし" * 20, []),                 # an over-long search is cut, not refused
])
def test_the_desk_finds_a_section_for_a_new_record_by_name_or_code(client, world, query, expected):
    sign_in(client, world.desk.upn)
    response = client.get("/support/new", params={"q": query} if query else None)
    assert response.status_code == 200
    assert _picked(response.text) == expected
    assert '<label for="section-q">所属名・部局名・所属コード</label>' in response.text
    assert f"{len(expected)}件" in response.text
    if not expected:
        assert "当てはまる所属がありません" in response.text


def test_the_section_search_returns_only_the_list_to_htmx_and_the_link_opens_the_form(client, world):
    sign_in(client, world.desk.upn)
    fragment = client.get("/support/new?q=A", headers={"HX-Request": "true"}).text
    assert fragment.lstrip().startswith('<div id="section-choices"')
    assert "<html" not in fragment and _picked(fragment) == ["A1", "A2"]
    form = client.get("/support/new?section=A2")
    assert form.status_code == 200 and "A部 二課" in form.text
