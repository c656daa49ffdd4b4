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
    # the original sheet's columns; its last also holds the item's 根拠資料 for those who may read them
    assert headers == ["カテゴリ", "シーン", "チェック項目", "難易度", "達成状況", "メモ", "参考リンク・根拠資料"]
    assert html.count('class=item-row') == 6
    assert "☆☆☆" in html and "相手次第" in html and "60%以上" in html
    assert "リンク集&gt;働き方改革・女性活躍推進室&gt;働き方改革ラボ&gt;ペーパーレス会議のすすめ" in html
    # 該当なし is offered only on the two 会議 items
    assert html.count('value=該当なし') == 2
    # each group of options is named by the column and the item, each option by its symbol and meaning
    assert '<th scope=row id=t1>資料を電子でも保管している\n' in html and 'aria-labelledby="h-status t1"' in html
    assert '>◎<i> 60%以上</i>' in html  # an <i> in a row is visually hidden (app.css), as .vh
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
    assert "提出済" in html and "所属のDX推進リーダーに取り消しを依頼してください" in html
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


# --- 提出 too early (issue 11.2) ---------------------------------------------------------------------

ALL_KEYS = [K1, "office.daily.no-personal-printing", "briefing.section.paperless", "briefing.bureau.paperless",
            K_NA, "meeting.external.advance-or-tablet"]


def _answer(client, world, token, keys, status="○"):
    for key in keys:
        client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}", json={"status": status, "version": 0},
                   headers={"X-CSRF-Token": token})


def test_the_submit_panel_counts_the_unanswered_items_beside_the_button(client, world):
    token = sign_in(client, "leader.a1@test.example")
    _answer(client, world, token, ALL_KEYS[:2])
    html = client.get(page_url(world)).text
    panel = html[html.index('id="submit-panel"'):html.index("</section>", html.index('id="submit-panel"'))]
    assert "未回答 4 項目" in panel and "提出する" in panel
    assert f'href="{page_url(world)}?only=unanswered#sheet-rows">未回答のみ表示' in panel


def test_only_unanswered_shows_the_unanswered_rows_with_their_category_and_scene(client, world):
    token = sign_in(client, "member.a1@test.example")
    _answer(client, world, token, [K1, "briefing.section.paperless"])
    html = client.get(f"{page_url(world)}?only=unanswered").text
    assert html.count('class=item-row') == 4
    assert "<th scope=row id=t1>" not in html and "<th scope=row id=t3>" not in html
    # the second item of 所属内 is shown with its category (no 〃 pointing at a hidden row)
    assert "<tr id=r2 class=item-row" in html and 'class=ditto><i>所属内' not in html
    assert re.search(r'<a href="[^"]+\?only=unanswered#sheet-rows" aria-current="page">未回答のみ表示', html)
    everything = client.get(page_url(world)).text
    assert everything.count('class=item-row') == 6
    assert client.get(f"{page_url(world)}?only=junk").status_code == 422


def test_the_plain_form_saved_from_the_filtered_view_returns_to_it(client, world):
    sign_in(client, "member.a1@test.example")
    page = client.get(f"{page_url(world)}?only=unanswered").text
    response = client.post(page_url(world), data={"csrf_token": csrf_from(page), "only": "unanswered",
                                                  field("status", K1): "◎", field("version", K1): "0"})
    assert response.status_code == 303 and response.headers["location"].endswith("?saved=1&only=unanswered")
    assert client.get(response.headers["location"]).text.count('class=item-row') == 5


def test_a_premature_submit_returns_to_the_sheet_listing_every_unanswered_item_with_a_link_to_its_row(client, world):
    token = sign_in(client, "leader.a1@test.example")
    _answer(client, world, token, ALL_KEYS[:2])
    page = client.get(page_url(world)).text
    response = client.post(f"{page_url(world)}/submit", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert response.headers["location"] == f"{page_url(world)}?submit=incomplete#submit-error"
    html = client.get(response.headers["location"]).text  # a URL that reloads cleanly
    message = html[html.index('id="submit-error"'):html.index("</div>", html.index('id="submit-error"'))]
    assert 'role="alert"' in message and 'tabindex="-1"' in message
    assert "未回答の項目が4件" in message
    assert re.findall(r'<a href="#r(\d+)">', message) == ["3", "4", "5", "6"]
    assert "提出済" not in html[:html.index('id="submit-panel"')]  # still a draft
    # answered meanwhile: the same URL no longer shows a refusal
    _answer(client, world, token, ALL_KEYS[2:])
    assert 'id="submit-error"' not in client.get(response.headers["location"]).text


def test_a_premature_submit_by_htmx_swaps_the_panel_with_the_list(client, world):
    token = sign_in(client, "leader.a1@test.example")
    _answer(client, world, token, ALL_KEYS[:4])
    _answer(client, world, token, [K_NA], "該当なし")  # an answer too
    response = client.post(f"{page_url(world)}/submit", headers={**HX, "X-CSRF-Token": token})
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#submit-panel" and response.headers["HX-Reswap"] == "outerHTML"
    assert response.text.lstrip().startswith('<section id="submit-panel"') and "<html" not in response.text
    assert re.findall(r'<a href="#r(\d+)">', response.text) == ["6"] and "data-focus-on-swap" in response.text
    _answer(client, world, token, ALL_KEYS[5:])
    done = client.post(f"{page_url(world)}/submit", headers={**HX, "X-CSRF-Token": token})
    assert done.status_code == 200 and done.headers["HX-Redirect"] == f"{page_url(world)}?submitted=1"
    assert "提出済" in client.get(page_url(world)).text


def test_a_row_save_updates_the_unanswered_count_out_of_band(client, world):
    token = sign_in(client, "member.a1@test.example")
    response = client.post(f"{page_url(world)}/items/{K1}", data={field("status", K1): "◎", field("version", K1): "0"},
                           headers={**HX, "X-CSRF-Token": token})
    assert '<p id="unanswered-count" class="submit-count" hx-swap-oob="true">' in response.text
    assert "未回答 5 項目" in response.text


def test_the_board_flags_a_sheet_with_every_item_answered_that_is_not_submitted(client, new_client, world):
    token = sign_in(client, "leader.a1@test.example")
    _answer(client, world, token, ALL_KEYS)
    desk = new_client()
    sign_in(desk, "desk@test.example")
    board = desk.get(f"/desk/board?round={world.round.id}").text
    rows = {code: row for row in board.split("<tr>")[1:]
            for code in re.findall(r'<span class="code">([A-Z0-9]+)</span>', row)}
    assert "全項目回答済・未提出" in rows["A1"]
    assert "全項目回答済・未提出" not in rows["A2"] and "全項目回答済・未提出" not in rows["B1"]
    client.post(f"{page_url(world)}/submit", data={"csrf_token": token})
    assert "全項目回答済・未提出" not in desk.get(f"/desk/board?round={world.round.id}").text
