"""The sheet page: the table in the shape of the original sheet, htmx row saves, the plain form."""

from __future__ import annotations

import re

from app.jpdate import today_jst, wareki
from tests.conftest import csrf_from, sign_in
from tests.factories import field

K1 = "office.daily.keep-electronic"
K_NA = "meeting.internal.no-paper-handouts"
HX = {"HX-Request": "true"}


def page_url(world, code="A1"):
    return f"/rounds/{world.round.id}/sections/{code}"


def test_sheet_page_has_the_original_columns_items_and_legend(client, world):
    sign_in(client, "member.a1@test.example")
    html = client.get(page_url(world)).text
    headers = re.findall(r'<th scope="col" class="c-[a-z]+"(?: id="[a-z-]+")?>([^<]+)</th>', html)
    assert headers == ["カテゴリ", "シーン", "チェック項目", "難易度", "達成状況", "メモ", "参考リンク"]
    assert html.count('class="item-row') == 6
    assert "☆☆☆" in html and "相手次第" in html and "60%以上" in html
    assert "リンク集&gt;働き方改革・女性活躍推進室&gt;働き方改革ラボ&gt;ペーパーレス会議のすすめ" in html
    # 該当なし is offered only on the two 会議 items
    assert html.count('value=該当なし') == 2
    # each group of options is named by the column and the item, each option by its symbol and meaning
    assert '<th scope=row id=t1>資料を電子でも保管している</th>' in html and 'aria-labelledby="h-status t1"' in html
    assert '>◎<span class=vh> 60%以上</span>' in html
    assert "記載日" in html and "未記入" in html


def test_entry_date_is_shown_in_the_japanese_era_after_a_save(client, world):
    sign_in(client, "member.a1@test.example")
    client.post(f"{page_url(world)}/items/{K1}", data={field("status", K1): "◎", field("version", K1): "0"},
                headers={**HX, "X-CSRF-Token": client.get("/api/v1/me").json()["csrf_token"]})
    assert wareki(today_jst()) in client.get(page_url(world)).text


def test_htmx_row_save_answers_with_save_state_new_version_and_score(client, world):
    token = sign_in(client, "member.a1@test.example")
    response = client.post(f"{page_url(world)}/items/{K1}",
                           data={field("status", K1): "○", field("memo", K1): "共有ドライブ", field("version", K1): "0"},
                           headers={**HX, "X-CSRF-Token": token})
    assert response.status_code == 200
    assert "保存しました" in response.text
    assert '<input type="hidden" id="v1" name="v1" value="1" hx-swap-oob="true">' in response.text
    assert 'id="score-panel"' in response.text and 'hx-swap-oob="true"' in response.text
    assert "66.7" in response.text  # ○ = 2 of 3 points
    assert "<html" not in response.text  # a fragment, not a page


def test_htmx_row_conflict_rerenders_the_row_with_what_the_other_person_saved(client, new_client, world):
    token = sign_in(client, "member.a1@test.example")
    other = new_client()
    other_token = sign_in(other, "leader.a1@test.example")
    other.post(f"{page_url(world)}/items/{K1}", data={field("status", K1): "△", field("version", K1): "0"},
               headers={**HX, "X-CSRF-Token": other_token})
    response = client.post(f"{page_url(world)}/items/{K1}", data={field("status", K1): "◎", field("version", K1): "0"},
                           headers={**HX, "X-CSRF-Token": token})
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#r1"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert "リーダー A1さんが変更しました（現在: △）" in response.text
    assert re.search(r'value=△ checked', response.text)


def test_htmx_row_invalid_input_keeps_what_was_typed(client, world):
    token = sign_in(client, "member.a1@test.example")
    response = client.post(f"{page_url(world)}/items/{K1}",
                           data={field("status", K1): "◎", field("memo", K1): "長" * 2001, field("version", K1): "0"},
                           headers={**HX, "X-CSRF-Token": token})
    assert response.status_code == 422
    assert "2,000文字以内" in response.text and 'aria-describedby=e1>' in response.text
    assert re.search(r'value=◎ checked', response.text)


def test_plain_form_saves_every_changed_row_without_javascript(client, world):
    sign_in(client, "member.a1@test.example")
    page = client.get(page_url(world)).text
    form = {"csrf_token": csrf_from(page), field("status", K1): "◎", field("version", K1): "0",
            field("status", K_NA): "該当なし", field("memo", K_NA): "会議なし", field("version", K_NA): "0"}
    response = client.post(page_url(world), data=form)
    assert response.status_code == 303
    assert response.headers["location"] == f"{page_url(world)}?saved=2"
    sheet = client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()
    answers = {i["item_key"]: i["answer"] for i in sheet["items"]}
    assert answers[K1]["status"] == "◎" and answers[K_NA]["status"] == "該当なし"
    assert answers[K_NA]["memo"] == "会議なし"
    assert "2件の回答を保存しました" in client.get(response.headers["location"]).text


def test_plain_form_with_an_error_saves_nothing_and_shows_the_rows(client, world):
    sign_in(client, "member.a1@test.example")
    page = client.get(page_url(world)).text
    form = {"csrf_token": csrf_from(page), field("status", K1): "◎", field("version", K1): "0",
            field("status", K_NA): "？", field("version", K_NA): "0"}
    response = client.post(page_url(world), data=form)
    assert response.status_code == 422
    assert "1件の項目に誤りがあります" in response.text
    assert "達成状況「？」は使えません" in response.text
    assert re.search(r'value=◎ checked', response.text)  # what was typed is still there
    sheet = client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()
    assert all(i["answer"]["status"] is None for i in sheet["items"])


def test_member_of_another_section_gets_a_403_page_in_japanese(client, world):
    sign_in(client, "member.b1@test.example")
    response = client.get(page_url(world))
    assert response.status_code == 403
    assert "所属の職員と業務DX相談窓口だけが見られます" in response.text


def test_page_posts_without_csrf_token_are_refused(client, world):
    sign_in(client, "member.a1@test.example")
    response = client.post(page_url(world), data={field("status", K1): "◎", field("version", K1): "0"})
    assert response.status_code == 403 and "確認用トークン" in response.text
    response = client.post(f"{page_url(world)}/items/{K1}", data={field("status", K1): "◎", field("version", K1): "0"},
                           headers=HX)
    assert response.status_code == 403 and response.headers["HX-Retarget"] == "#flash"


def test_leader_submits_by_page_and_members_then_see_it_read_only(client, new_client, world):
    token = sign_in(client, "leader.a1@test.example")
    keys = [K1, "office.daily.no-personal-printing", "briefing.section.paperless", "briefing.bureau.paperless",
            K_NA, "meeting.external.advance-or-tablet"]
    for key in keys:
        client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}", json={"status": "○", "version": 0},
                   headers={"X-CSRF-Token": token})
    page = client.get(page_url(world)).text
    assert "提出する" in page
    response = client.post(f"{page_url(world)}/submit", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    member = new_client()
    sign_in(member, "member.a1@test.example")
    html = member.get(page_url(world)).text
    assert "提出済" in html and "取り消しを依頼" in html
    assert "hx-post" not in html and "まとめて保存する" not in html
    assert re.search(r'value=○ checked disabled', html)
    assert "readonly" in html


def test_desk_sees_any_sheet_read_only(client, world):
    sign_in(client, "desk@test.example")
    html = client.get(page_url(world, "B1")).text
    assert "変更はできません" in html and "hx-post" not in html


def test_home_sends_members_to_their_sheet_and_the_desk_to_the_board(client, new_client, world):
    sign_in(client, "member.a1@test.example")
    assert client.get("/").headers["location"] == page_url(world)
    desk = new_client()
    sign_in(desk, "desk@test.example")
    assert desk.get("/").headers["location"] == f"/desk/board?round={world.round.id}"


def test_unknown_page_is_a_japanese_404(client, world):
    sign_in(client, "member.a1@test.example")
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "見つかりません" in response.text


def test_memo_with_markup_is_stored_as_typed_and_shown_escaped(client, world):
    token = sign_in(client, "member.a1@test.example")
    memo = '<script>alert("x")</script> & \'; DROP TABLE answer; --'
    client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{K1}",
               json={"status": "◎", "memo": memo, "version": 0}, headers={"X-CSRF-Token": token})
    html = client.get(page_url(world)).text
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;; DROP TABLE answer; --" in html
    sheet = client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()
    assert sheet["items"][0]["answer"]["memo"] == memo


def test_a_leader_reopens_with_a_reason_that_the_history_keeps(client, world):
    from sqlmodel import Session, select

    from app.sheets.models import SheetEvent

    token = sign_in(client, "leader.a1@test.example")
    keys = [K1, "office.daily.no-personal-printing", "briefing.section.paperless", "briefing.bureau.paperless",
            K_NA, "meeting.external.advance-or-tablet"]
    for key in keys:
        client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}", json={"status": "○", "version": 0},
                   headers={"X-CSRF-Token": token})
    client.post(f"{page_url(world)}/submit", data={"csrf_token": token})
    page = client.get(page_url(world)).text
    assert "取り消す理由" in page
    response = client.post(f"{page_url(world)}/reopen", data={"csrf_token": token, "reason": "メモの追記のため"})
    assert response.status_code == 303
    with Session(client.app.state.engine) as s:
        kinds = s.exec(select(SheetEvent.kind, SheetEvent.note).where(SheetEvent.kind.in_(["submit", "reopen"]))
                       .order_by(SheetEvent.id)).all()
    assert [tuple(k) for k in kinds] == [("submit", ""), ("reopen", "メモの追記のため")]
