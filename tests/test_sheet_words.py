"""One vocabulary, only actions that can be taken, messages that fit the reader (issue 11.8): the sheet page as a
所属's staff, its DX推進リーダー and the desk see it, in an open round and after the round is closed."""

from __future__ import annotations

import re

from app.auth import service as auth_service
from app.rounds import service as rounds_service
from app.sheets import service as sheets_service
from app.sheets.models import EventSource
from tests import factories
from tests.conftest import sign_in
from tests.factories import V1_KEYS

NO_ACTION_HINTS = ("取り消しを依頼", "提出を取り消す", "提出する", "まとめて保存する")


def page_url(world, code="A1"):
    return f"/rounds/{world.round.id}/sections/{code}"


def header_state(html: str) -> str:
    """The word in the sheet's 「状態」 line."""
    match = re.search(r'<span id="progress-state"><span class="state state--[a-z_]+">([^<]+)</span>', html)
    assert match, "the sheet shows its state"
    return match.group(1)


def board_state(html: str, section_name: str) -> str:
    """The word the desk's board shows for a 所属 (its row in the list of 所属 not yet submitted)."""
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S) if section_name in r)
    return re.search(r'<span class="state state--[a-z_]+">([^<]+)</span>', row).group(1)


def test_an_empty_sheet_is_未着手_on_the_sheet_as_on_the_board(client, new_client, world):
    sign_in(client, "desk@test.example")
    assert board_state(client.get(f"/desk/board?round={world.round.id}").text, "A部 一課") == "未着手"
    assert header_state(client.get(page_url(world)).text) == "未着手"
    member = new_client()
    sign_in(member, "member.a1@test.example")
    assert header_state(member.get(page_url(world)).text) == "未着手"


def test_a_started_sheet_is_入力中_and_a_submitted_one_提出済(client, session, world):
    factories.set_answers(session, world.round.id, world.a1, {V1_KEYS[0]: "○"})
    factories.set_answers(session, world.round.id, world.b1, dict.fromkeys(V1_KEYS, "○"))
    leader = auth_service.load_principal(session, world.leader_b.id)
    sheets_service.submit(session, leader, world.round.id, "B1", source=EventSource.PAGE)
    session.commit()
    sign_in(client, "desk@test.example")
    assert board_state(client.get(f"/desk/board?round={world.round.id}").text, "A部 一課") == "入力中"
    assert header_state(client.get(page_url(world)).text) == "入力中"
    assert header_state(client.get(page_url(world, "B1")).text) == "提出済"


def test_the_state_changes_with_the_first_saved_answer(client, world):
    """The header follows a row save (htmx, out of band): 未着手 becomes 入力中 without a reload."""
    token = sign_in(client, "member.a1@test.example")
    key = V1_KEYS[0]
    html = client.post(f"{page_url(world)}/items/{key}", data={"s1": "○", "v1": "0"},
                       headers={"HX-Request": "true", "X-CSRF-Token": token}).text
    assert re.search(r'<span id="progress-state" hx-swap-oob="true"><span class="state state--in_progress">入力中</span>', html)


def _close_with_a1_submitted(session, world) -> None:
    factories.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    leader = auth_service.load_principal(session, world.leader_a.id)
    sheets_service.submit(session, leader, world.round.id, "A1", source=EventSource.PAGE)
    rounds_service.close_round(session, world.round)
    session.commit()


def test_a_closed_round_offers_no_reopen_and_no_request_to_reopen(new_client, session, world):
    _close_with_a1_submitted(session, world)
    for upn in ("member.a1@test.example", "leader.a1@test.example", "desk@test.example"):
        client = new_client()
        sign_in(client, upn)
        html = client.get(page_url(world)).text
        assert "この調査回は締め切られました（提出済）。回答の変更・提出・提出の取消はできません。" in html, upn
        for words in NO_ACTION_HINTS:
            assert words not in html, (upn, words)
        assert "/reopen" not in html and "/submit" not in html, upn
    # a sheet left unsubmitted when the round closed says so, and offers nothing either
    client = new_client()
    sign_in(client, "leader.b1@test.example")
    html = client.get(page_url(world, "B1")).text
    assert "この調査回は締め切られました（未提出）。" in html
    assert "/submit" not in html and "提出する" not in html


def test_the_desk_is_told_who_acts_not_asked_to_ask_the_leader(client, session, world):
    sign_in(client, "desk@test.example")
    draft = client.get(page_url(world)).text
    assert "未提出です。提出と提出の取消は、所属のDX推進リーダーが行います。" in draft
    assert "リーダーだけができます" not in draft and "リーダーが内容を確認して提出します" not in draft
    factories.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    leader = auth_service.load_principal(session, world.leader_a.id)
    sheets_service.submit(session, leader, world.round.id, "A1", source=EventSource.PAGE)
    session.commit()
    submitted = client.get(page_url(world)).text
    assert "提出済みです。提出と提出の取消は、所属のDX推進リーダーが行います。" in submitted
    assert "取り消しを依頼" not in submitted and "提出を取り消す" not in submitted


def test_staff_are_told_the_leader_submits_and_to_ask_the_leader_to_take_it_back(client, session, world):
    sign_in(client, "member.a1@test.example")
    assert "入力が終わったら、所属のDX推進リーダーが内容を確認して提出します。" in client.get(page_url(world)).text
    factories.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    leader = auth_service.load_principal(session, world.leader_a.id)
    sheets_service.submit(session, leader, world.round.id, "A1", source=EventSource.PAGE)
    session.commit()
    html = client.get(page_url(world)).text
    assert "提出済みです。変更が必要なときは、所属のDX推進リーダーに取り消しを依頼してください。" in html
    assert "提出を取り消す" not in html
