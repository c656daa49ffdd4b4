"""The JSON API contract, every status code named, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from app.jpdate import today_jst, wareki
from app.sheets.models import SheetEvent
from tests import factories
from tests.conftest import sign_in

SHEET = "/api/v1/rounds/{rid}/sections/{code}/sheet"
ANSWER = "/api/v1/rounds/{rid}/sections/{code}/answers/{key}"
K1 = "office.daily.keep-electronic"
K_NA = "meeting.internal.no-paper-handouts"
ALL_KEYS = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
            "briefing.bureau.paperless", "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet"]


def put(client, token, world, key=K1, code="A1", **body):
    body.setdefault("version", 0)
    return client.put(ANSWER.format(rid=world.round.id, code=code, key=key), json=body,
                      headers={"X-CSRF-Token": token})


def test_healthz_says_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_me_gives_the_user_roles_section_and_csrf_token(client, world):
    token = sign_in(client, "leader.a1@test.example")
    me = client.get("/api/v1/me").json()
    assert me["upn"] == "leader.a1@test.example"
    assert me["roles"] == ["leader"]
    assert me["section"] == {"code": "A1", "name": "A部 一課"}
    assert me["memberships"] == [{"section": {"code": "A1", "name": "A部 一課"}, "role": "leader"}]
    assert me["csrf_token"] != token  # masked afresh on every response; both verify
    for version, sent in enumerate((token, me["csrf_token"])):
        assert put(client, sent, world, status="○", version=version).status_code == 200


def test_rounds_list_id_title_fiscal_year_state_and_version(client, world):
    sign_in(client, "member.a1@test.example")
    [r] = client.get("/api/v1/rounds").json()
    assert r["id"] == world.round.id and r["title"] == "令和8年度 第1回"
    assert (r["fiscal_year"], r["fiscal_year_label"], r["state"]) == (2026, "令和8年度", "open")
    assert (r["checklist"], r["checklist_version"], r["current"]) == ("paperless", 1, True)


def test_a_round_being_prepared_is_listed_for_the_desk_and_admins_only(new_client, session, world):
    preparing = factories.make_round(session, world.version_id, title="令和9年度 第1回", fiscal_year=2027,
                                     open_it=False)
    session.commit()
    for upn, sees in (("member.a1@test.example", False), ("leader.a1@test.example", False),
                      ("desk@test.example", True), ("admin@test.example", True)):
        client = new_client()
        sign_in(client, upn)
        listed = {r["id"]: r["state"] for r in client.get("/api/v1/rounds").json()}
        assert (preparing.id in listed) is sees and listed[world.round.id] == "open", upn
        assert listed.get(preparing.id, "preparing") == "preparing", upn


def test_sheet_lists_every_item_unanswered_at_first(client, world):
    sign_in(client, "member.a1@test.example")
    sheet = client.get(SHEET.format(rid=world.round.id, code="A1")).json()
    assert [i["item_key"] for i in sheet["items"]] == ALL_KEYS
    assert sheet["round"] == {"id": world.round.id, "title": "令和8年度 第1回"}
    assert all(i["answer"]["status"] is None and i["answer"]["version"] == 0 for i in sheet["items"])
    assert sheet["state"] == "draft" and sheet["entry_date"] is None
    assert sheet["score"] == {"maturity": None, "completion": 0.0, "total": 6, "answered": 0,
                              "not_applicable": 0, "unanswered": 6}
    assert [i["allows_na"] for i in sheet["items"]] == [False, False, False, False, True, True]
    assert sheet["section"] == {"code": "A1", "name": "A部 一課"} and sheet["bureau"]["code"] == "A"


def test_saving_an_answer_returns_the_new_version_and_the_sheet_shows_it(client, world):
    token = sign_in(client, "member.a1@test.example")
    response = put(client, token, world, status="◎", memo="共有フォルダに保存", version=0)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert (saved["status"], saved["memo"], saved["version"], saved["updated_by"]) == ("◎", "共有フォルダに保存", 1, "職員 A1")
    sheet = client.get(SHEET.format(rid=world.round.id, code="A1")).json()
    assert sheet["items"][0]["answer"]["status"] == "◎"
    assert sheet["entry_date"] == today_jst().isoformat()
    assert sheet["entry_date_wareki"] == wareki(today_jst())
    assert sheet["score"]["maturity"] == 100.0 and sheet["score"]["answered"] == 1


def test_lookalike_symbols_are_stored_canonically_and_memo_is_kept_when_omitted(client, world):
    token = sign_in(client, "member.a1@test.example")
    put(client, token, world, status="◎", memo="メモ", version=0)
    response = put(client, token, world, status="〇", version=1)  # U+3007, as typed on many keyboards
    assert response.json()["status"] == "○" and response.json()["memo"] == "メモ"


def test_stale_version_gets_409_with_what_is_saved_now(client, new_client, world):
    token = sign_in(client, "member.a1@test.example")
    other = new_client()
    other_token = sign_in(other, "leader.a1@test.example")
    assert put(other, other_token, world, status="△", version=0).status_code == 200
    response = put(client, token, world, status="◎", version=0)
    assert response.status_code == 409
    body = response.json()
    assert body["current"]["status"] == "△" and body["current"]["version"] == 1
    assert "リーダー A1" in body["detail"]
    sheet = client.get(SHEET.format(rid=world.round.id, code="A1")).json()
    assert sheet["items"][0]["answer"]["status"] == "△"


def test_unknown_round_section_or_item_is_404(client, world):
    token = sign_in(client, "member.a1@test.example")
    assert client.put(ANSWER.format(rid=999, code="A1", key=K1), json={"status": "◎", "version": 0},
                      headers={"X-CSRF-Token": token}).status_code == 404
    assert put(client, token, world, code="ZZ", status="◎").status_code == 404
    response = put(client, token, world, key="no.such.item", status="◎")
    assert response.status_code == 404 and "no.such.item" in response.json()["detail"]
    assert client.get(SHEET.format(rid=999, code="A1")).status_code == 404


def test_another_sections_sheet_is_403_by_api_and_by_page(client, world):
    token = sign_in(client, "member.b1@test.example")
    response = client.get(SHEET.format(rid=world.round.id, code="A1"))
    assert response.status_code == 403
    assert "所属の職員" in response.json()["detail"]
    assert put(client, token, world, status="◎").status_code == 403
    page = client.get(f"/rounds/{world.round.id}/sections/A1")
    assert page.status_code == 403 and "所属の職員" in page.text


def test_bad_input_gets_422_with_an_actionable_message_and_changes_nothing(client, world):
    token = sign_in(client, "member.a1@test.example")
    url = ANSWER.format(rid=world.round.id, code="A1", key=K1)
    headers = {"X-CSRF-Token": token}
    cases = [
        ({"status": "☆", "version": 0}, "◎ ○ △ × 該当なし のいずれか"),
        ({"status": "◎", "memo": "あ" * 2001, "version": 0}, "2,000文字以内"),
        ({"status": "◎", "version": "abc"}, "version は整数"),
        ({"status": "◎"}, "version がありません"),
    ]
    for body, message in cases:
        response = client.put(url, json=body, headers=headers)
        assert response.status_code == 422, body
        assert message in response.json()["detail"], response.json()
    not_json = client.put(url, content=b"{status: oops", headers={**headers, "Content-Type": "application/json"})
    assert not_json.status_code == 422 and "JSON" in not_json.json()["detail"]
    na = put(client, token, world, key=K1, status="該当なし")
    assert na.status_code == 422 and "該当なし" in na.json()["detail"]
    assert put(client, token, world, key=K_NA, status="該当なし").status_code == 200
    sheet = client.get(SHEET.format(rid=world.round.id, code="A1")).json()
    assert sheet["items"][0]["answer"] == {**sheet["items"][0]["answer"], "status": None, "memo": "", "version": 0}


def test_a_memo_of_exactly_2000_characters_is_accepted(client, world):
    token = sign_in(client, "member.a1@test.example")
    assert put(client, token, world, status="○", memo="字" * 2000).status_code == 200


def test_missing_or_wrong_csrf_token_is_refused(client, world):
    sign_in(client, "member.a1@test.example")
    url = ANSWER.format(rid=world.round.id, code="A1", key=K1)
    assert client.put(url, json={"status": "◎", "version": 0}).status_code == 403
    response = client.put(url, json={"status": "◎", "version": 0}, headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 403 and "トークン" in response.json()["detail"]


def test_anonymous_api_gets_401_and_pages_redirect_to_sign_in(client, world):
    assert client.get(SHEET.format(rid=world.round.id, code="A1")).status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    page = client.get(f"/rounds/{world.round.id}/sections/A1")
    assert page.status_code == 303
    assert page.headers["location"] == f"/auth/login?next=/rounds/{world.round.id}/sections/A1"


def answer_all(client, token, world, code="A1", statuses=("◎", "○", "△", "×", "該当なし", "◎")):
    for key, status in zip(ALL_KEYS, statuses, strict=True):
        assert put(client, token, world, key=key, code=code, status=status).status_code == 200


def test_leader_submits_then_members_read_only_until_reopened(client, new_client, world):
    leader_token = sign_in(client, "leader.a1@test.example")
    submit = f"/api/v1/rounds/{world.round.id}/sections/A1/submit"
    incomplete = client.post(submit, headers={"X-CSRF-Token": leader_token})
    assert incomplete.status_code == 422 and "未回答の項目が6件" in incomplete.json()["detail"]
    answer_all(client, leader_token, world)
    submitted = client.post(submit, headers={"X-CSRF-Token": leader_token})
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    assert client.post(submit, headers={"X-CSRF-Token": leader_token}).status_code == 409

    member = new_client()
    member_token = sign_in(member, "member.a1@test.example")
    blocked = put(member, member_token, world, status="×", version=1)
    assert blocked.status_code == 403 and "提出済み" in blocked.json()["detail"]
    assert member.post(submit.replace("submit", "reopen"), headers={"X-CSRF-Token": member_token}).status_code == 403
    sheet = member.get(SHEET.format(rid=world.round.id, code="A1")).json()
    assert sheet["can_edit"] is False and sheet["items"][0]["answer"]["status"] == "◎"

    reopened = client.post(submit.replace("submit", "reopen"), json={"reason": "修正のため"},
                           headers={"X-CSRF-Token": leader_token})
    assert reopened.status_code == 200 and reopened.json()["state"] == "draft"
    assert put(member, member_token, world, status="×", version=1).status_code == 200


def test_desk_reads_every_section_but_changes_none(client, world):
    token = sign_in(client, "desk@test.example")
    assert client.get(SHEET.format(rid=world.round.id, code="B1")).status_code == 200
    response = put(client, token, world, code="B1", status="◎")
    assert response.status_code == 403 and "変更はできません" in response.json()["detail"]


def test_scores_by_section_and_by_bureau(client, new_client, world):
    token = sign_in(client, "member.a1@test.example")
    # A1: ◎ ○ △ × 該当なし ◎ → points 3+2+1+0+3 = 9 over 5 scored items → 9 / 15 = 60.0
    answer_all(client, token, world)
    other = new_client()
    other_token = sign_in(other, "member.a2@test.example")
    # A2: ○ only → 2/3 = 66.7; completion 1/6
    assert put(other, other_token, world, code="A2", status="○").status_code == 200

    desk = new_client()
    sign_in(desk, "desk@test.example")
    body = desk.get(f"/api/v1/rounds/{world.round.id}/scores?by=section").json()
    assert (body["round"]["id"], body["by"], body["page"]) == (
        world.round.id, "section", {"page": 1, "per_page": 50, "pages": 1, "total": 3})
    by_section = {s["section"]["code"]: s for s in body["rows"]}
    assert by_section["A1"]["bureau"] == {"code": "A", "name": "A部"} and by_section["A1"]["state"] == "draft"
    assert set(by_section) == {"A1", "A2", "B1"}
    assert by_section["A1"]["maturity"] == 60.0 and by_section["A1"]["completion"] == 100.0
    assert by_section["A2"]["maturity"] == 66.7 and by_section["A2"]["completion"] == 16.7
    assert by_section["B1"]["maturity"] is None and by_section["B1"]["completion"] == 0.0
    cats = {c["name"]: c["maturity"] for c in by_section["A1"]["categories"]}
    assert cats == {"所属内": 83.3, "打合せ": 16.7, "会議": 100.0}

    body = desk.get(f"/api/v1/rounds/{world.round.id}/scores?by=bureau").json()
    assert body["by"] == "bureau" and body["page"]["total"] == 2
    by_bureau = {b["bureau"]["code"]: b for b in body["rows"]}
    assert by_bureau["A"]["mean"] == round((60.0 + 66.7) / 2, 1)
    assert by_bureau["A"]["completion"] == round(7 / 12 * 100, 1)
    assert by_bureau["B"]["mean"] is None

    # A member sees only their own 所属, and no average of a group under five 所属.
    mine = client.get(f"/api/v1/rounds/{world.round.id}/scores?by=section").json()
    assert [s["section"]["code"] for s in mine["rows"]] == ["A1"] and mine["page"]["total"] == 1
    groups = client.get(f"/api/v1/rounds/{world.round.id}/scores?by=bureau").json()["rows"]
    assert all(g["suppressed"] and g["mean"] is None for g in groups)
    assert client.get(f"/api/v1/rounds/{world.round.id}/scores?by=nonsense").status_code == 422


def test_dev_login_unknown_user_is_404(client, world):
    from tests.conftest import csrf_from

    page = client.get("/auth/login")
    response = client.post("/auth/dev-login", data={"upn": "nobody@test.example", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 404


def test_scores_by_bureau_withhold_every_figure_of_a_small_group_from_sections(client, new_client, session):
    """部局 P has five 所属 of which four answered, Q two. A member of P sees of either nothing but its
    size: not the completion either (with two 所属, the 部局's completion and one's own give away the
    other's). The boundary at four and five answering 所属 is in tests/test_small_groups.py."""
    from tests import factories

    dw = factories.build_desk_world(session)
    sign_in(client, "member.p2@test.example")
    groups = {g["bureau"]["code"]: g for g in client.get(f"/api/v1/rounds/{dw.round.id}/scores?by=bureau").json()["rows"]}
    for code, size in (("P", 5), ("Q", 2)):
        g = groups[code]
        assert g["suppressed"] is True and g["sections"] == size
        assert (g["mean"], g["median"], g["completion"], g["categories"]) == (None, None, None, [])

    desk = new_client()
    sign_in(desk, "desk@test.example")
    rows = desk.get(f"/api/v1/rounds/{dw.round.id}/scores?by=bureau").json()["rows"]
    q = {g["bureau"]["code"]: g for g in rows}["Q"]
    assert q["suppressed"] is False and q["completion"] == 50.0 and q["mean"] == 0.0


def test_scores_are_paged_by_section_and_by_bureau(client, session):
    from tests import factories

    dw = factories.build_desk_world(session)
    sign_in(client, "desk@test.example")
    url = f"/api/v1/rounds/{dw.round.id}/scores"
    first = client.get(f"{url}?per_page=3").json()
    assert first["page"] == {"page": 1, "per_page": 3, "pages": 3, "total": 7}
    assert [r["section"]["code"] for r in first["rows"]] == ["P1", "P2", "P3"]
    last = client.get(f"{url}?per_page=3&page=3").json()
    assert [r["section"]["code"] for r in last["rows"]] == ["Q2"]
    past = client.get(f"{url}?per_page=3&page=99").json()  # past the end: the last page
    assert past["page"]["page"] == 3 and past["rows"] == last["rows"]
    bureaus = client.get(f"{url}?by=bureau&per_page=1&page=2").json()
    assert bureaus["page"] == {"page": 2, "per_page": 1, "pages": 2, "total": 2}
    assert [r["bureau"]["code"] for r in bureaus["rows"]] == ["Q"]
    assert client.get(f"{url}?per_page=1001").status_code == 422
    assert client.get(f"{url}?per_page=0").status_code == 422


def test_submit_records_who_and_when_and_reopen_clears_them_with_the_actor_in_the_history(client, session, world):
    token = sign_in(client, "leader.a1@test.example")
    answer_all(client, token, world)
    submit = f"/api/v1/rounds/{world.round.id}/sections/A1/submit"
    assert client.post(submit, headers={"X-CSRF-Token": token}).status_code == 200
    sheet = factories.sheet_of(session, world.round.id, world.a1)
    session.refresh(sheet)
    assert sheet.submitted_by_id == world.leader_a.id and sheet.submitted_at is not None
    session.commit()
    reopened = client.post(submit.replace("submit", "reopen"), json={"reason": "誤りを直すため"},
                           headers={"X-CSRF-Token": token})
    assert reopened.status_code == 200
    session.refresh(sheet)
    assert (sheet.state, sheet.submitted_by_id, sheet.submitted_at) == ("draft", None, None)
    events = session.exec(select(SheetEvent).where(SheetEvent.sheet_id == sheet.id, SheetEvent.item_key.is_(None))
                          .order_by(SheetEvent.id)).all()
    assert [(e.kind, e.actor_id, e.source, e.note) for e in events] == [
        ("submit", world.leader_a.id, "api", ""), ("reopen", world.leader_a.id, "api", "誤りを直すため")]
    answers = session.exec(select(SheetEvent).where(SheetEvent.sheet_id == sheet.id, SheetEvent.kind == "answer")).all()
    assert len(answers) == 6 and {(e.actor_id, e.note) for e in answers} == {(world.leader_a.id, "")}
    session.commit()
