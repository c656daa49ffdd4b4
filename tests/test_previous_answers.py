"""Less work each round (issue 11.11): the previous round's answers offered on a sheet, joined by item key across
checklist versions, not counted until confirmed (「変更なし」 one item, 「前回どおりで確認」 all), written through the
one writer with their history; on SQLite and PostgreSQL (the confirm takes the sheet's lock)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.auth import service as auth_service
from app.checklists import service as checklists
from app.checklists.loader import load_checklist
from app.config import PROJECT_ROOT
from app.errors import Conflict, Forbidden
from app.jpdate import now_utc, today_jst
from app.sheets import figures, previous, service, writer
from app.sheets.models import EventSource, SheetEvent, SheetState
from tests import factories as f
from tests.conftest import sign_in
from tests.test_stored_tallies import recounted, stored

V2 = PROJECT_ROOT / "checklists" / "paperless" / "v2.yaml"
# Round 1 (checklist v1), 所属 A1's submitted answers: (status, memo) per item key, in sheet order.
BEFORE = {
    "office.daily.keep-electronic": ("◎", "共有フォルダに保存"),
    "office.daily.no-personal-printing": ("○", ""),
    "briefing.section.paperless": ("△", "紙が残る"),
    "briefing.bureau.paperless": ("×", ""),
    "meeting.internal.no-paper-handouts": ("該当なし", ""),
    "meeting.external.advance-or-tablet": ("○", "外部委員は紙"),
}
K1, K2, K3 = list(BEFORE)[:3]
HX = {"HX-Request": "true"}


def write(session, round_id, unit, answers: dict[str, tuple[str | None, str]]) -> None:
    """Answers with memos straight through the writer (set-up)."""
    [sheet] = writer.lock(session, [f.sheet_of(session, round_id, unit).id])
    definition = service.definition_of(session, round_id)
    current = writer.answers(session, sheet.id, list(answers))
    writer.write_answers(session, sheet, definition,
                         [writer.Change(definition.by_key[k], current[k], s, m) for k, (s, m) in answers.items()],
                         actor_id=None, source=EventSource.DEMO, now=now_utc(), entry_on=today_jst())


def submit(session, round_id, unit) -> None:
    [sheet] = writer.lock(session, [f.sheet_of(session, round_id, unit).id])
    writer.set_state(session, sheet, service.definition_of(session, round_id), SheetState.SUBMITTED, actor_id=None,
                     source=EventSource.DEMO, now=now_utc())


def carry_world(session):
    """The world's round (v1) becomes the previous one: A1 submitted every answer, A2 answered without submitting;
    then it is closed and a new round opens on checklist v2 (36 items, v1's 6 keys among them)."""
    world = f.build_world(session)
    write(session, world.round.id, world.a1, BEFORE)
    submit(session, world.round.id, world.a1)
    write(session, world.round.id, world.a2, {K1: ("○", "")})
    service.close_round(session, world.round)
    v2 = f.publish(session, load_checklist(V2))
    new = f.make_round(session, v2, title="令和8年度 第2回", opens_on=today_jst() - timedelta(days=2))
    session.commit()
    return world, new


@pytest.fixture
def carried(session):
    return carry_world(session)


def principal_of(session, user):
    return auth_service.load_principal(session, user.id)


def offer(session, world, new, user=None, code="A1"):
    principal = principal_of(session, user or world.member_a)
    return previous.offer_for(session, principal, service.get_sheet_for(session, principal, new.id, code))


def answers_of(session, round_id, unit):
    return writer.answers(session, f.sheet_of(session, round_id, unit).id)


def test_the_new_round_offers_last_rounds_answers_by_item_key_and_marks_new_items(session, carried):
    world, new = carried
    offered = offer(session, world, new)
    assert offered.round.id == world.round.id and offered.unit.id == world.a1.id
    # v2's order, v1's answers and memos (該当なし only where v2 still allows it)
    definition = service.definition_of(session, new.id)
    expected = {item.key: BEFORE[item.key] for item in definition.items if item.key in BEFORE
                and (item.allows_na or BEFORE[item.key][0] != "該当なし")}
    assert {k: (o.status, o.memo) for k, o in offered.offers.items()} == expected
    assert list(offered.offers) == [item.key for item in definition.items if item.key in expected]
    assert [i.key for i in definition.items if offered.is_new(i.key)] == [
        i.key for i in definition.items if i.key not in BEFORE]
    # offered, not counted: nothing is answered until confirmed
    score = figures.sheet_score(session, f.sheet_of(session, new.id, world.a1).id).overall
    assert score.answered == 0 and score.not_applicable == 0


def test_a_previous_sheet_never_submitted_offers_nothing(session, carried):
    world, new = carried
    assert offer(session, world, new, world.member_a2, code="A2") is None
    assert previous.confirm(session, principal_of(session, world.member_a2), new.id, "A2",
                            source=EventSource.PAGE) == 0


def test_confirm_one_item_writes_the_previous_answer_and_memo_with_its_history(session, carried):
    world, new = carried
    before = stored(session)
    written = previous.confirm(session, principal_of(session, world.member_a), new.id, "A1", item_key=K1, version=0,
                               source=EventSource.PAGE)
    session.commit()
    assert written == 1
    answer = answers_of(session, new.id, world.a1)[K1]
    assert (answer.status, answer.memo, answer.version, answer.updated_by_id) == ("◎", "共有フォルダに保存", 1,
                                                                                 world.member_a.id)
    sheet_id = f.sheet_of(session, new.id, world.a1).id
    [event] = session.execute(select(SheetEvent).where(SheetEvent.sheet_id == sheet_id)).scalars().all()
    assert (event.source, event.item_key, event.old_status, event.new_status, event.new_memo) == (
        "previous", K1, None, "◎", "共有フォルダに保存")
    assert event.note == "令和8年度 第1回の回答を変更なしで確認"
    assert stored(session) == recounted(session) != before
    assert K1 not in offer(session, world, new).offers


def test_confirm_all_fills_only_unanswered_items_and_keeps_a_memo_typed_now(session, carried):
    world, new = carried
    f.fill(session, new.id, world.a1, world.member_a, {K2: ("×", "今回は後退"), K3: (None, "今回のメモ")})
    written = previous.confirm(session, principal_of(session, world.leader_a), new.id, "A1", source=EventSource.API)
    session.commit()
    offered_before = {k for k, (s, _) in BEFORE.items() if k != K2}
    definition = service.definition_of(session, new.id)
    na_refused = {i.key for i in definition.items if i.key in BEFORE and not i.allows_na and BEFORE[i.key][0] == "該当なし"}
    assert written == len(offered_before - na_refused)
    now = answers_of(session, new.id, world.a1)
    assert (now[K2].status, now[K2].memo) == ("×", "今回は後退")  # answered in this round: never overwritten
    assert (now[K3].status, now[K3].memo) == ("△", "今回のメモ")  # the memo typed now stays
    assert (now[K1].status, now[K1].memo) == ("◎", "共有フォルダに保存")
    assert all(now[i.key].status is None for i in definition.items if i.key not in BEFORE)  # new items untouched
    assert stored(session) == recounted(session)
    assert offer(session, world, new).offers == {}
    # nothing left: a second 前回どおりで確認 writes nothing
    assert previous.confirm(session, principal_of(session, world.leader_a), new.id, "A1", source=EventSource.API) == 0


def test_confirm_one_refuses_a_stale_version_an_answered_item_and_an_item_without_a_previous_answer(session, carried):
    world, new = carried
    principal = principal_of(session, world.member_a)
    f.fill(session, new.id, world.a1, world.member_a, {K1: ("○", "")})
    f.fill(session, new.id, world.a1, world.member_a, {K1: (None, "")})  # cleared again: version 2
    with pytest.raises(Conflict) as stale:
        previous.confirm(session, principal, new.id, "A1", item_key=K1, version=0, source=EventSource.PAGE)
    assert stale.value.status_code == 409 and stale.value.extra["current"]["version"] == 2
    session.rollback()
    f.fill(session, new.id, world.a1, world.member_a, {K2: ("×", "")})
    with pytest.raises(Conflict, match="既に回答されています"):
        previous.confirm(session, principal, new.id, "A1", item_key=K2, version=1, source=EventSource.PAGE)
    session.rollback()
    fresh = next(i for i in service.definition_of(session, new.id).items if i.key not in BEFORE)
    with pytest.raises(Conflict, match="前回の回答がありません"):
        previous.confirm(session, principal, new.id, "A1", item_key=fresh.key, version=0, source=EventSource.PAGE)
    session.rollback()
    assert answers_of(session, new.id, world.a1)[K1].status is None
    assert stored(session) == recounted(session)


def test_a_submitted_sheet_a_closed_round_and_another_所属_refuse(session, carried):
    world, new = carried
    leader = principal_of(session, world.leader_a)
    submit(session, new.id, world.a1)  # (set-up: the writer submits whatever is answered)
    session.commit()
    with pytest.raises(Forbidden, match="提出済み"):
        previous.confirm(session, leader, new.id, "A1", source=EventSource.PAGE)
    session.rollback()
    with pytest.raises(Forbidden, match="受付期間外"):  # the closed previous round itself
        previous.confirm(session, leader, world.round.id, "A1", source=EventSource.PAGE)
    session.rollback()
    with pytest.raises(Forbidden):
        previous.confirm(session, principal_of(session, world.member_b), new.id, "A1", source=EventSource.PAGE)
    session.rollback()
    with pytest.raises(Forbidden):
        previous.confirm(session, principal_of(session, world.desk), new.id, "A1", source=EventSource.PAGE)


def test_a_renamed_所属_is_offered_its_predecessors_answers(session, carried):
    from app.orgs.models import LinkKind, UnitLink

    world, second = carried
    renamed = f.make_unit(session, "A9", "A部 新一課", parent=world.bureau_a, valid_from=today_jst() - timedelta(days=1))
    world.a1.valid_to = today_jst() - timedelta(days=1)
    session.add(world.a1)
    session.add(UnitLink(predecessor_id=world.a1.id, successor_id=renamed.id, kind=LinkKind.RENAME,
                         effective_on=renamed.valid_from))
    member = f.make_user(session, "member.a9@test.example", section=renamed)
    newer = f.make_round(session, world.version_id, title="令和8年度 第3回", opens_on=today_jst())
    session.commit()
    offered = offer(session, world, newer, member, code="A9")
    # the latest earlier round with a sheet of the lineage is 第2回 (A1, a draft): nothing offered
    assert offered is None
    write(session, second.id, world.a1, {k: ("◎", "") for k in BEFORE})
    submit(session, second.id, world.a1)
    session.commit()
    offered = offer(session, world, newer, member, code="A9")
    assert offered.unit.id == world.a1.id and offered.round.id == second.id
    assert {k: o.status for k, o in offered.offers.items()} == {k: "◎" for k in BEFORE}


# --- pages and API ------------------------------------------------------------------------------------------


def url(new, code="A1"):
    return f"/rounds/{new.id}/sections/{code}"


def test_the_sheet_page_shows_offers_new_items_and_confirm_all_and_counts_nothing_until_confirmed(
        client, session, carried):
    world, new = carried
    n = len(offer(session, world, new).offers)
    base = url(new)
    session.rollback()  # the test's session lets go of SQLite's write lock (and is not used before the app writes)
    token = sign_in(client, "leader.a1@test.example")
    html = client.get(base).text
    assert f"前回どおりで確認（残り{n}項目）" in html
    assert html.count("前回の回答：") == n and html.count(">変更なし</button>") == n
    assert html.count('<span class="tag prev-new">新しい項目</span>') == 30 + 1  # 30 rows and the panel's explanation
    assert "共有フォルダに保存" in html and "未回答 36 項目" in html
    response = client.post(f"{base}/previous", data={"csrf_token": token})
    assert response.status_code == 303, response.text[-800:]
    assert response.headers["location"].endswith(f"?confirmed={n}#previous-panel")
    html = client.get(response.headers["location"]).text
    assert f"{n}項目を前回の回答のまま確認しました。" in html and f"未回答 {36 - n} 項目" in html
    assert "前回の回答：" not in html and "前回どおりで確認（" not in html
    history = client.get(f"{base}/history").text
    assert history.count("前回の回答から確認") == n and "令和8年度 第1回の回答を変更なしで確認" in history


def test_the_confirm_step_loads_its_list_when_opened_and_without_javascript_it_is_a_page(client, session, carried):
    """The rows show each offer: the page carries the confirm step's link, not its list (issue 9: 8 KB at
    prefecture scale); the list comes by htmx when the step is opened, or as a page, for the 所属's staff only."""
    world, new = carried
    n = len(offer(session, world, new).offers)
    item = service.definition_of(session, new.id).by_key[K1]
    base = url(new)
    session.rollback()  # the test's session lets go of SQLite's write lock (and is not used before the app writes)
    token = sign_in(client, "leader.a1@test.example")
    html = client.get(base).text
    assert f'<details class=previous-confirm hx-get="{base}/previous" hx-trigger="toggle once"' in html
    assert f'<a href="{base}/previous">{n}項目の一覧を開く</a>' in html and "<li><a href=\"#r" not in html
    fragment = client.get(f"{base}/previous", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.startswith("<ul class=previous-confirm__list>") and fragment.text.count("<li>") == n
    assert f'<li><a href="#r{item.position}">{item.position}. {item.text}</a>：' in fragment.text
    assert "（メモ：共有フォルダに保存）" in fragment.text
    page = client.get(f"{base}/previous")
    assert page.status_code == 200 and "<html" in page.text
    assert page.text.count(f'<a href="{base}#r') == n  # each item leads to its row on the sheet
    assert f'<form method=post action="{base}/previous">' in page.text and f"{n}項目を前回どおりで確認する" in page.text
    assert client.post(f"{base}/previous", data={"csrf_token": token}).status_code == 303
    done = client.get(f"{base}/previous")
    assert done.status_code == 200 and "確認できる前回の回答はありません" in done.text and "<form method=post" not in done.text
    client.cookies.clear()
    sign_in(client, "member.b1@test.example")  # another 所属's staff
    assert client.get(f"{base}/previous").status_code == 403
    assert client.get(f"{base}/previous", headers=HX).status_code == 403


def test_変更なし_by_htmx_swaps_the_row_and_the_figures_and_without_javascript_returns_to_the_row(
        client, session, carried):
    world, new = carried
    definition = service.definition_of(session, new.id)
    position, k2 = definition.by_key[K1].position, definition.by_key[K2].position
    base = url(new)
    session.rollback()  # the test's session lets go of SQLite's write lock (and is not used before the app writes)
    token = sign_in(client, "member.a1@test.example")
    response = client.post(f"{base}/items/{K1}/previous", data={f"v{position}": "0"},
                           headers={**HX, "X-CSRF-Token": token})
    assert response.status_code == 200 and "<html" not in response.text
    assert f"id=r{position} " in response.text and "前回の回答で確認しました" in response.text
    assert 'id="score-panel"' in response.text and "hx-swap-oob" in response.text
    assert "前回どおりで確認（残り" in response.text  # the panel's count follows
    # the same again (stale version): the row comes back with the reason, nothing changed
    again = client.post(f"{base}/items/{K1}/previous", data={f"v{position}": "0"},
                        headers={**HX, "X-CSRF-Token": token})
    assert again.status_code == 409 and again.headers["HX-Retarget"] == f"#r{position}"
    plain = client.post(f"{base}/items/{K2}/previous", data={"csrf_token": token, f"v{k2}": "0"})
    assert plain.status_code == 303 and plain.headers["location"].endswith(f"?confirmed=1#r{k2}")
    assert [a.status for k, a in answers_of(session, new.id, world.a1).items() if k in (K1, K2)] == ["◎", "○"]


def test_the_sheet_json_has_previous_answers_and_the_api_confirms_them(client, session, carried):
    world, new = carried
    token = sign_in(client, "member.a1@test.example")
    sheet = client.get(f"/api/v1{url(new)}/sheet").json()
    assert sheet["previous_round"]["id"] == world.round.id
    by_key = {i["item_key"]: i for i in sheet["items"]}
    assert by_key[K1]["previous"] == {"status": "◎", "memo": "共有フォルダに保存"} and not by_key[K1]["is_new"]
    assert sum(i["is_new"] for i in sheet["items"]) == 30 and sheet["score"]["answered"] == 0
    confirm = f"/api/v1{url(new)}/previous-answers/confirm"
    one = client.post(confirm, json={"item_key": K1, "version": 0}, headers={"X-CSRF-Token": token})
    assert one.status_code == 200 and one.json()["confirmed"] == 1
    stale = client.post(confirm, json={"item_key": K1, "version": 0}, headers={"X-CSRF-Token": token})
    assert stale.status_code == 409
    assert client.post(confirm, json={"item_key": K2}, headers={"X-CSRF-Token": token}).status_code == 422
    rest = client.post(confirm, headers={"X-CSRF-Token": token}).json()
    assert rest["confirmed"] == sum(i["previous"] is not None for i in sheet["items"]) - 1
    assert all(i["previous"] is None for i in rest["sheet"]["items"])
    events = client.get(f"/api/v1{url(new)}/history").json()["events"]
    assert {e["source"] for e in events} == {"previous"}
    assert stored(session) == recounted(session)


# --- a race: 前回どおりで確認 against a save of one of its items (real concurrent HTTP clients) -------------------

PAIRS = 40


def test_前回どおりで確認_racing_a_save_never_overwrites_it_and_keeps_the_tallies(app, engine, live_server, backend):
    """A member saves one offered item (at version 0) while the leader confirms every previous answer. One goes
    first under the sheet's lock: the save first, and the confirm leaves that item alone (5 confirmed); the
    confirm first, and the save, now stale, gets 409 (6 confirmed). Never both, never a 5xx."""
    from concurrent.futures import ThreadPoolExecutor

    from app.auth.models import Membership, SectionRole
    from app.db import session_for
    from app.orgs.models import UnitKind
    from app.rounds import service as rounds_service
    from tests.test_races import People, answers_by_sheet, assert_tallies_in_step, leader_of, member_of, race

    last = {k: s for k, (s, _) in BEFORE.items()}
    with session_for(engine, write=True) as s:
        bureau = f.make_unit(s, "A", "A部", kind=UnitKind.BUREAU, position=1)
        units = [f.make_unit(s, f"S{i:03d}", f"A部 {i}課", parent=bureau, position=i) for i in range(1, PAIRS + 1)]
        people = {}
        for unit in units:
            for upn, role in ((member_of(unit.code), SectionRole.MEMBER), (leader_of(unit.code), SectionRole.LEADER)):
                if upn not in people:
                    people[upn] = f.make_user(s, upn)
                s.add(Membership(user_id=people[upn].id, unit_id=unit.id, role=role))
        version_id = f.publish(s)
        past = f.make_round(s, version_id, title="令和7年度 第1回", fiscal_year=2025,
                            opens_on=today_jst() - timedelta(days=400), open_it=False)
        rounds_service.open_round(s, past, sheets=len(units))
        definition = checklists.get_definition(s, version_id)
        writer.create(s, past, definition, [writer.NewSheet(u.id, bureau.id, statuses=last, state="submitted",
                                                            submitted_at=now_utc()) for u in units], now=now_utc())
        service.close_round(s, past)
        new = f.make_round(s, version_id, opens_on=today_jst() - timedelta(days=1))
        round_id, codes = new.id, [u.code for u in units]
        s.commit()
    crowd = People(live_server(app))
    crowd.sign_in(*{member_of(c) for c in codes}, *{leader_of(c) for c in codes})

    def save(code):
        return lambda: crowd.put(member_of(code), f"/api/v1/rounds/{round_id}/sections/{code}/answers/{K2}",
                                 json={"status": "×", "version": 0})

    def confirm_all(code):
        return lambda: crowd.post(leader_of(code), f"/api/v1/rounds/{round_id}/sections/{code}/previous-answers/confirm")

    outcome = {}
    try:
        with ThreadPoolExecutor(4) as pool:
            for start in range(0, len(codes), 2):
                pending = {code: race(pool, save(code), confirm_all(code)) for code in codes[start:start + 2]}
                for code, (saving, confirming) in pending.items():
                    confirmed = confirming.result()
                    assert confirmed.status_code == 200, confirmed.text
                    outcome[code] = (saving.result().status_code, confirmed.json()["confirmed"])
    finally:
        crowd.close()
    stored_now = answers_by_sheet(engine, round_id)
    for code, (saved, confirmed) in outcome.items():
        assert (saved, confirmed) in {(200, 5), (409, 6)}, (code, saved, confirmed)
        assert stored_now[code][K2] == (("×", 1) if saved == 200 else ("○", 1)), code
        assert all(stored_now[code][k] == (s, 1) for k, s in last.items() if k != K2), code
    print(f"\n[{backend}] save vs 前回どおりで確認: {dict(Counter(outcome.values()))}")
    assert_tallies_in_step(engine)


def test_the_demo_offers_previous_answers_in_its_open_round(session):
    """The demo's second 所属 of each 部局 submitted last round and has not started this one (README)."""
    from app import demo
    from app.auth.models import User
    from app.rounds.models import Round

    files = demo.version_files(PROJECT_ROOT / "checklists" / "paperless")
    demo.load(session, load_checklist(files[0]), demo.DemoPlan(sections=12, rounds=2, seed=1),
              newest=load_checklist(files[-1]))
    session.commit()
    newest = session.execute(select(Round).order_by(Round.opens_on.desc())).scalars().first()
    user = session.execute(select(User).where(User.upn == "leader.1002@demo.example")).scalar_one()
    principal = principal_of(session, user)
    view = service.get_sheet_for(session, principal, newest.id, "1002")
    offered = previous.offer_for(session, principal, view)
    assert figures.sheet_score(session, view.sheet.id).overall.answered == 0
    assert offered is not None and len(offered.offers) >= 5 and any(offered.is_new(i.key) for i in view.definition.items)
