"""The desk's review on the sheet page: plain forms (no JavaScript), htmx (the panel alone), the leader's view of a
差戻し (a notice at the top, the comment beside the item), the history page and the board."""

from __future__ import annotations

import re

from tests.conftest import csrf_from, sign_in
from tests.factories import V1_KEYS

K1 = V1_KEYS[0]
HX = {"HX-Request": "true"}


def url(world, code="A1"):
    return f"/rounds/{world.round.id}/sections/{code}"


def submit_a1(client, world):
    token = sign_in(client, "leader.a1@test.example")
    for key in V1_KEYS:
        client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}", json={"status": "○", "version": 0},
                   headers={"X-CSRF-Token": token})
    assert client.post(f"{url(world)}/submit", data={"csrf_token": token}).status_code == 303


def test_the_desk_sends_an_item_back_without_javascript_and_the_leader_sees_the_comment(client, new_client, world):
    submit_a1(client, world)
    desk = new_client()
    sign_in(desk, "desk@test.example")
    page = desk.get(url(world)).text
    assert "窓口の確認" in page and "未確認" in page and "シート全体を確認済にする" in page
    token = csrf_from(page)
    refused = desk.post(f"{url(world)}/review/items/{K1}", data={"csrf_token": token, "mark": "returned", "comment": ""})
    assert refused.status_code == 422 and "差戻しにはコメントが必要です" in refused.text
    assert 'aria-invalid="true"' in refused.text
    sent = desk.post(f"{url(world)}/review/items/{K1}",
                     data={"csrf_token": token, "mark": "returned", "comment": "紙の保管場所も書いてください"})
    assert sent.status_code == 303 and sent.headers["location"].endswith("?reviewed=returned#review-panel")
    after = desk.get(sent.headers["location"]).text
    assert "差し戻しました" in after and re.search(r'class="review-state">差戻し<', after)
    leader = client.get(url(world)).text
    assert "差戻し：" in leader and "1件の項目が差し戻されました" in leader and 'href="#r1"' in leader
    assert re.search(r"class=review-comment><strong><span aria-hidden=true>⚠</span> 差戻し</strong>（窓口のコメント）："
                     r"紙の保管場所も書いてください", leader)
    assert "提出する" in leader  # open again for the 所属
    assert "窓口の確認" not in leader  # the panel is the desk's
    history = client.get(f"{url(world)}/history").text
    assert "差戻し（窓口）" in history and "コメント：紙の保管場所も書いてください" in history


def test_htmx_boosts_the_panels_forms_and_swaps_the_panel(client, new_client, world):
    submit_a1(client, world)
    desk = new_client()
    sign_in(desk, "desk@test.example")
    page = desk.get(url(world)).text
    assert re.search(r'id="review-panel"[^>]*hx-boost="true" hx-target="#review-panel" hx-select="#review-panel"', page)
    response = desk.post(f"{url(world)}/review/confirm-all", data={"csrf_token": csrf_from(page)}, headers=HX)
    assert response.status_code == 303
    assert re.search(r'class="review-state">確認済<', desk.get(response.headers["location"]).text)


def test_review_posts_need_the_csrf_token(client, new_client, world):
    submit_a1(client, world)
    desk = new_client()
    sign_in(desk, "desk@test.example")
    response = desk.post(f"{url(world)}/review/confirm-all", data={})
    assert response.status_code == 403
    assert "review-state\">未確認" in desk.get(url(world)).text


def test_the_panel_says_why_a_draft_cannot_be_reviewed(client, world):
    sign_in(client, "desk@test.example")
    page = client.get(url(world)).text
    assert "提出されていないチェックシートは確認できません" in page and "シート全体を確認済にする" not in page


def test_the_board_counts_the_review_states(client, new_client, world):
    submit_a1(client, world)
    desk = new_client()
    sign_in(desk, "desk@test.example")
    board = desk.get(f"/desk/board?round={world.round.id}").text
    assert "窓口の確認" in board
    assert re.search(r"<dt>未確認</dt><dd><span class=\"figure__value\">1</span>", board)


def test_the_boards_list_flags_a_sheet_sent_back(client, new_client, world):
    submit_a1(client, world)
    desk = new_client()
    token = sign_in(desk, "desk@test.example")
    desk.post(f"{url(world)}/review/items/{K1}", data={"csrf_token": token, "mark": "returned", "comment": "再確認"})
    board = desk.get(f"/desk/board?round={world.round.id}").text
    assert re.search(r"<dt>差戻し</dt><dd><span class=\"figure__value\">1</span>", board)
    assert '<span class="flag flag--returned">差戻し</span>' in board
