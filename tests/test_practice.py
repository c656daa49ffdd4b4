"""Good practice (issue 14.3): a 所属 at ◎ ticks 「取組事例として共有する」 on its memo; a 所属 at △ or × sees it in
its hints (the sheet row's 改善のヒント, the trend page's 次の一歩) with the sharing 所属's name and asks the desk
to connect them; the desk features or hides it; the weak items count them. Nothing is shared without the
tick, and un-ticking, another status or an emptied memo removes it everywhere."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func
from sqlmodel import select

from app.sheets.models import Answer, SheetEvent
from app.support.models import SupportRecord
from tests import factories
from tests.conftest import sign_in
from tests.factories import field

K1 = "office.daily.keep-electronic"
K2 = "office.daily.no-personal-printing"
HX = {"HX-Request": "true"}
MEMO = "共有フォルダの命名規則を決め、紙の原本は電子化の後に廃棄している"
B1_NAME = "B部 一課"


def sheet_url(world, code):
    return f"/rounds/{world.round.id}/sections/{code}"


def save_row(client, token, world, code, key, *, status="◎", memo=MEMO, tick: bool | None = None):
    """An htmx row save as the page sends it: the hidden x<n>=0 then, when ticked, the checkbox's x<n>=1."""
    version = client.get(f"/api/v1/rounds/{world.round.id}/sections/{code}/sheet").json()
    version = next(i["answer"]["version"] for i in version["items"] if i["item_key"] == key)
    data = {field("status", key): status, field("memo", key): memo, field("version", key): str(version)}
    if tick is not None:
        data[field("x", key)] = ["0", "1"] if tick else ["0"]
    response = client.post(f"{sheet_url(world, code)}/items/{key}", data=data, headers={**HX, "X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
def a1_weak(session, world):
    """A1 answers K1 △ (its hints are where practices show); A2 answers K1 ◎ (it gets none)."""
    factories.set_answers(session, world.round.id, world.a1, {K1: "△"})
    factories.set_answers(session, world.round.id, world.a2, {K1: "◎"})
    session.commit()
    return world


def a1_sees(new_client, world) -> str:
    viewer = new_client()
    sign_in(viewer, "leader.a1@test.example")
    return viewer.get(sheet_url(world, "A1")).text


def b1_sheet_id(session, world) -> int:
    found = factories.sheet_of(session, world.round.id, world.b1).id
    session.commit()  # end the read: SQLite's write lock (commit, not rollback: that would expire the world)
    return found


def count(session, model, **where) -> int:
    found = session.exec(select(func.count()).select_from(model).filter_by(**where)).one()
    session.commit()
    return found


def newest_record(session) -> SupportRecord:
    found = session.exec(select(SupportRecord).order_by(SupportRecord.id.desc())).first()
    session.commit()
    return found


def test_a_memo_is_shared_only_with_the_tick_and_unticking_removes_it(client, new_client, session, a1_weak):
    world = a1_weak
    token = sign_in(client, "member.b1@test.example")
    save_row(client, token, world, "B1", K1, tick=None)  # a save without the field: not shared
    save_row(client, token, world, "B1", K1, memo=MEMO + "。", tick=False)
    assert MEMO not in a1_sees(new_client, world)

    save_row(client, token, world, "B1", K1, memo=MEMO, tick=True)
    page = a1_sees(new_client, world)
    assert MEMO in page and f"取組事例：{B1_NAME}" in page and "この所属に聞いてみる" in page
    # B1's own row shows the tick checked; the memo's autosave (the row's fields, tick included) keeps it shared
    assert re.search(r"name=x1 value=1 [^>]*checked", client.get(sheet_url(world, "B1")).text)
    save_row(client, token, world, "B1", K1, memo=MEMO + "（更新）", tick=True)
    assert MEMO + "（更新）" in a1_sees(new_client, world)
    assert count(session, SheetEvent, item_key=K1, note="取組事例として共有") == 1  # the history says when it started being shared

    save_row(client, token, world, "B1", K1, memo=MEMO + "（更新）", tick=False)
    assert MEMO not in a1_sees(new_client, world)
    assert count(session, Answer, item_key=K1, shared=True) == 0


def test_another_status_or_an_emptied_memo_stops_sharing_and_needs_a_new_tick(client, new_client, session, a1_weak):
    world = a1_weak
    token = sign_in(client, "member.b1@test.example")
    save_row(client, token, world, "B1", K1, tick=True)
    assert MEMO in a1_sees(new_client, world)
    save_row(client, token, world, "B1", K1, status="○", tick=True)  # still ticked on the page, but ○
    assert MEMO not in a1_sees(new_client, world)
    save_row(client, token, world, "B1", K1, status="◎", tick=None)  # back to ◎: not shared without a tick
    assert MEMO not in a1_sees(new_client, world)
    save_row(client, token, world, "B1", K1, status="◎", tick=True)
    assert MEMO in a1_sees(new_client, world)
    save_row(client, token, world, "B1", K1, status="◎", memo="  ", tick=True)  # an empty memo shares nothing
    assert f"取組事例：{B1_NAME}" not in a1_sees(new_client, world)


def test_a_weak_section_sees_it_with_the_name_a_section_at_excellent_does_not(client, new_client, session, a1_weak):
    world = a1_weak
    factories.share_practice(session, world.round.id, world.b1, K1, MEMO)
    session.commit()
    assert f"取組事例：{B1_NAME}" in a1_sees(new_client, world)
    a2 = new_client()
    sign_in(a2, "member.a2@test.example")
    assert MEMO not in a2.get(sheet_url(world, "A2")).text  # A2 answered ◎: no hint
    # the trend page's 次の一歩 shows it too, with the button for the leader
    trend = new_client()
    sign_in(trend, "leader.a1@test.example")
    html = trend.get("/sections/A1/trend").text
    next_steps = html[html.index('id="next-steps"'):]
    assert MEMO in next_steps and B1_NAME in next_steps and "この所属に聞いてみる" in next_steps
    # the weak 所属's own earlier ◎ is not a practice any more: its latest answer of the item counts (△ here)
    assert "取組事例：A部 一課" not in a1_sees(new_client, world)


def test_asking_creates_a_request_naming_both_sections(client, new_client, session, a1_weak):
    world = a1_weak
    factories.share_practice(session, world.round.id, world.b1, K1, MEMO)
    session.commit()
    token = sign_in(client, "leader.a1@test.example")
    url = f"/sections/A1/practices/{b1_sheet_id(session, world)}/{K1}/ask"
    response = client.post(url, data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/support/")
    record = newest_record(session)
    assert record.unit_id == world.a1.id and record.origin == "request" and record.state == "received"
    assert B1_NAME in record.request_message and "A部 一課" in record.request_message
    assert MEMO in record.request_message
    # a member of A1 is refused (the leader asks, as with 「相談する」), nothing stored
    member_client = new_client()
    member = sign_in(member_client, "member.a1@test.example")
    before = count(session, SupportRecord)
    assert member_client.post(url, data={"csrf_token": member}).status_code == 403
    assert count(session, SupportRecord) == before


def test_the_desk_hides_and_features_a_practice(client, new_client, session, a1_weak):
    world = a1_weak
    factories.share_practice(session, world.round.id, world.b1, K1, MEMO)
    factories.share_practice(session, world.round.id, world.a2, K1, "A2の事例")
    session.commit()
    page = a1_sees(new_client, world)
    assert page.index("A2の事例") < page.index(MEMO)  # the newest first
    token = sign_in(client, "desk@test.example")
    sheet_id = b1_sheet_id(session, world)
    assert client.post(f"/desk/practices/{sheet_id}/{K1}", data={"csrf_token": token, "action": "feature"},
                       follow_redirects=False).status_code == 303
    page = a1_sees(new_client, world)
    assert page.index(MEMO) < page.index("A2の事例") and "（おすすめ）" in page
    client.post(f"/desk/practices/{sheet_id}/{K1}", data={"csrf_token": token, "action": "hide"})
    assert MEMO not in a1_sees(new_client, world)
    listed = client.get(f"/desk/practices?item={K1}").text  # the desk still lists it, marked 非表示
    assert MEMO in listed and "非表示" in listed and "表示に戻す" in listed
    leader = new_client()
    leader_token = sign_in(leader, "leader.a1@test.example")
    assert leader.post(f"/sections/A1/practices/{sheet_id}/{K1}/ask",
                       data={"csrf_token": leader_token}).status_code == 404
    # only the desk and admins mark; a bad action is refused with a message
    assert leader.post(f"/desk/practices/{sheet_id}/{K1}", data={"csrf_token": leader_token, "action": "show"},
                       ).status_code == 403
    bad = client.post(f"/desk/practices/{sheet_id}/{K1}", data={"csrf_token": token, "action": "delete"})
    assert bad.status_code == 422 and "操作" in bad.text
    client.post(f"/desk/practices/{sheet_id}/{K1}", data={"csrf_token": token, "action": "show"})
    assert MEMO in a1_sees(new_client, world)


def test_weak_items_count_the_practices_per_item(client, session, a1_weak):
    world = a1_weak
    factories.share_practice(session, world.round.id, world.b1, K1, MEMO)
    factories.share_practice(session, world.round.id, world.a2, K1, "A2の事例")
    factories.share_practice(session, world.round.id, world.a1, K2, "紙を使わない", share=False)
    session.commit()
    sign_in(client, "desk@test.example")
    html = client.get("/desk/weak-items?scope=all").text
    counts = dict(re.findall(r'<a href="/desk/practices\?item=([a-z.\-]+)&amp;round=\d+">(\d+)件', html))
    assert counts == {K1: "2"}


def test_a_section_s_latest_answer_of_the_item_counts_in_the_order_rounds_were_held(new_client, session, a1_weak):
    """B1 shared ◎ last year (a round entered after this one, so with a greater id); this year it answers ○:
    last year's practice is no longer shown. While this year's item is unanswered, last year's still is."""
    from datetime import date

    world = a1_weak
    past = factories.make_round(session, world.version_id, title="令和7年度 第1回", fiscal_year=2025,
                                opens_on=date(2025, 5, 1))
    assert past.id > world.round.id
    factories.share_practice(session, past.id, world.b1, K1, "昨年度の事例")
    session.commit()
    assert "昨年度の事例" in a1_sees(new_client, world)
    factories.set_answers(session, world.round.id, world.b1, {K1: "○"})
    session.commit()
    assert "昨年度の事例" not in a1_sees(new_client, world)


# --- 「この所属に聞いてみる」 only for a 所属 at △ or × on the item (its latest answered round) -------------------


def ask(client, token, session, world, key=K1):
    return client.post(f"/sections/A1/practices/{b1_sheet_id(session, world)}/{key}/ask", data={"csrf_token": token},
                       follow_redirects=False)


def trend_steps(client) -> str:
    html = client.get("/sections/A1/trend").text
    return html[html.index('id="next-steps"'):] if 'id="next-steps"' in html else ""


@pytest.mark.parametrize("status", ["◎", "○", "該当なし", None])
def test_a_section_not_at_fair_or_not_done_cannot_ask_and_sees_no_button(client, session, a1_weak, status):
    world = a1_weak
    factories.share_practice(session, world.round.id, world.b1, K1, MEMO)
    factories.set_answers(session, world.round.id, world.a1, {K1: status})
    session.commit()
    token = sign_in(client, "leader.a1@test.example")
    before = count(session, SupportRecord)
    refused = ask(client, token, session, world)
    assert refused.status_code == 403 and "△か×と回答している所属が使えます" in refused.text
    assert ("最新の回答は「" + status + "」です" if status else "まだ回答していません") in refused.text
    assert count(session, SupportRecord) == before  # nothing stored
    assert "この所属に聞いてみる" not in client.get(sheet_url(world, "A1")).text
    assert "この所属に聞いてみる" not in trend_steps(client)


def test_the_latest_answered_round_decides_in_the_order_rounds_were_held(client, session, a1_weak):
    """A1 answered × last year (a round entered later, so with a greater id). This year unanswered: last year's ×
    is its latest answer, it may ask. Once it answers ◎ this year it may not, even from last year's sheet, whose
    row still shows the practice in its hints (× there) without the button."""
    from datetime import date

    world = a1_weak
    past = factories.make_round(session, world.version_id, title="令和7年度 第1回", fiscal_year=2025,
                                opens_on=date(2025, 5, 1))
    factories.set_answers(session, past.id, world.a1, {K1: "×"})
    factories.set_answers(session, world.round.id, world.a1, {K1: None})
    factories.share_practice(session, world.round.id, world.b1, K1, MEMO)
    session.commit()
    token = sign_in(client, "leader.a1@test.example")
    past_sheet = f"/rounds/{past.id}/sections/A1"
    assert "この所属に聞いてみる" in client.get(past_sheet).text
    assert ask(client, token, session, world).status_code == 303

    factories.set_answers(session, world.round.id, world.a1, {K1: "◎"})
    session.commit()
    page = client.get(past_sheet).text
    assert f"取組事例：{B1_NAME}" in page and "この所属に聞いてみる" not in page
    refused = ask(client, token, session, world)
    assert refused.status_code == 403 and "最新の回答は「◎」です" in refused.text


def test_a_section_at_fair_or_not_done_sees_the_button_where_the_practice_shows(client, session, a1_weak):
    world = a1_weak  # A1 at △ on K1
    factories.share_practice(session, world.round.id, world.b1, K1, MEMO)
    session.commit()
    sign_in(client, "leader.a1@test.example")
    assert "この所属に聞いてみる" in client.get(sheet_url(world, "A1")).text
    assert "この所属に聞いてみる" in trend_steps(client)
