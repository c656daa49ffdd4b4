"""Targets (目標): a leader sets up to five items and the status aimed for; members and the desk read
them; the next round shows target against result."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from app.scoring.rules import TargetResult, target_below_current, target_result
from app.statuses import Status
from app.trend.models import Target
from tests import factories as f
from tests.conftest import sign_in

KEEP = "office.daily.keep-electronic"
PRINT = "office.daily.no-personal-printing"
SECTION = "briefing.section.paperless"
BUREAU = "briefing.bureau.paperless"
INTERNAL = "meeting.internal.no-paper-handouts"
EXTERNAL = "meeting.external.advance-or-tablet"


@pytest.fixture
def answered(session, world):
    f.set_answers(session, world.round.id, world.a1, {KEEP: "△", PRINT: "×", SECTION: "○", BUREAU: "△",
                                                      INTERNAL: "×", EXTERNAL: "◎"})
    session.commit()
    return world


def post_targets(client, token, round_id, code="A1", **targets):
    data = {"csrf_token": token, "round_id": str(round_id)}
    data.update({f"target:{k}": v for k, v in targets.items()})
    return client.post(f"/sections/{code}/targets", data=data)


def stored(session, world):
    rows = session.exec(select(Target.item_key, Target.status).where(Target.unit_id == world.a1.id)
                        .order_by(Target.id)).all()
    session.commit()  # end the read: the test session must not keep holding SQLite's write lock
    return dict(rows)


@pytest.mark.parametrize(("target", "result", "expected"), [
    (Status.GOOD, Status.EXCELLENT, TargetResult.MET),
    (Status.GOOD, Status.GOOD, TargetResult.MET),
    (Status.EXCELLENT, Status.GOOD, TargetResult.NOT_MET),
    (Status.FAIR, Status.NOT_DONE, TargetResult.NOT_MET),
    (Status.GOOD, None, TargetResult.PENDING),
    (Status.GOOD, Status.NOT_APPLICABLE, TargetResult.NOT_COMPARABLE),
])
def test_target_against_result_rule(target, result, expected):
    assert target_result(target, result) is expected


def test_an_item_missing_from_the_result_round_cannot_be_judged():
    assert target_result(Status.GOOD, None, in_result_round=False) is TargetResult.NOT_COMPARABLE


def test_a_target_below_the_current_status_is_no_target():
    assert target_below_current(Status.FAIR, Status.GOOD)
    assert not target_below_current(Status.EXCELLENT, Status.EXCELLENT)
    assert not target_below_current(Status.FAIR, None) and not target_below_current(Status.FAIR, Status.NOT_APPLICABLE)


def test_a_leader_sets_targets_and_members_see_them(client, new_client, session, answered):
    token = sign_in(client, "leader.a1@test.example")
    response = post_targets(client, token, answered.round.id, **{KEEP: "○", PRINT: "△", SECTION: "", INTERNAL: "◎"})
    assert response.status_code == 303 and response.headers["location"] == "/sections/A1/trend?targets=saved#targets-saved"
    assert stored(session, answered) == {KEEP: "○", PRINT: "△", INTERNAL: "◎"}
    # Saving again replaces the set: an item put back to 目標なし loses its target
    post_targets(client, token, answered.round.id, **{KEEP: "◎", PRINT: ""})
    assert stored(session, answered) == {KEEP: "◎"}
    member = new_client()
    sign_in(member, "member.a1@test.example")
    body = member.get("/api/v1/sections/A1/targets").json()
    assert body["can_set"] is False and body["latest_round"] == {"id": answered.round.id, "title": answered.round.title}
    [current] = body["sets"]
    assert [(t["item_key"], t["target"], t["base_status"], t["result"]) for t in current["targets"]] == [
        (KEEP, "◎", "△", None)]
    html = member.get("/sections/A1/trend").text
    assert "目標の設定・変更は所属のDX推進リーダーだけができます" in html
    assert 'name="target:' not in html


@pytest.mark.parametrize(("targets", "message"), [
    ({"office.no-such-item": "○"}, "チェック項目「office.no-such-item」はこの調査回のチェックシートにありません。"),
    ({KEEP: "×"}, "「資料を電子でも保管している」の目標は ◎ ○ △ のいずれかを選んでください。"),
    ({KEEP: "たぶん"}, "の目標は ◎ ○ △ のいずれかを選んでください。"),
    ({KEEP: "該当なし"}, "の目標は ◎ ○ △ のいずれかを選んでください。"),
    ({SECTION: "△"}, "より低くなっています"),
    ({KEEP: "○", PRINT: "○", SECTION: "◎", BUREAU: "○", INTERNAL: "○", EXTERNAL: "◎"}, "目標は5項目までにしてください（6項目"),
])
def test_bad_targets_are_refused_with_a_message_and_nothing_changes(client, session, answered, targets, message):
    token = sign_in(client, "leader.a1@test.example")
    post_targets(client, token, answered.round.id, **{KEEP: "○"})
    response = post_targets(client, token, answered.round.id, **targets)
    assert response.status_code == 422
    assert message in response.text and 'role="alert"' in response.text
    assert stored(session, answered) == {KEEP: "○"}


def test_bad_targets_through_the_api_get_422_with_field_errors(client, answered):
    token = sign_in(client, "leader.a1@test.example")
    response = client.put("/api/v1/sections/A1/targets", headers={"X-CSRF-Token": token},
                          json={"round_id": answered.round.id, "targets": [{"item_key": KEEP, "status": "×"}]})
    assert response.status_code == 422
    assert KEEP in response.json()["errors"]
    response = client.put("/api/v1/sections/A1/targets", headers={"X-CSRF-Token": token},
                          json={"round_id": answered.round.id, "targets": [{"item_key": KEEP, "status": "◎"}]})
    assert response.status_code == 200 and response.json()["sets"][0]["targets"][0]["target"] == "◎"


def test_only_the_sections_leader_may_set_targets(client, new_client, session, answered):
    for upn, code in [("member.a1@test.example", "A1"), ("desk@test.example", "A1"), ("admin@test.example", "A1"),
                      ("leader.b1@test.example", "A1")]:
        c = new_client()
        token = sign_in(c, upn)
        assert post_targets(c, token, answered.round.id, code=code, **{KEEP: "○"}).status_code == 403, upn
        api = c.put(f"/api/v1/sections/{code}/targets", headers={"X-CSRF-Token": token},
                    json={"round_id": answered.round.id, "targets": [{"item_key": KEEP, "status": "○"}]})
        assert api.status_code == 403, upn
    assert stored(session, answered) == {}


def test_targets_are_set_from_the_latest_round_only(client, session, answered):
    token = sign_in(client, "leader.a1@test.example")
    assert post_targets(client, token, 999999, **{KEEP: "○"}).status_code == 409
    assert post_targets(client, token, "x", **{KEEP: "○"}).status_code == 422
    assert stored(session, answered) == {}


def test_the_next_round_shows_target_against_result(client, session, answered):
    for key, status in [(KEEP, "◎"), (PRINT, "○"), (SECTION, "○"), (INTERNAL, "○")]:
        f.make_target(session, answered.a1, answered.round.id, key, status, by=answered.leader_a)
    later = f.make_round(session, answered.version_id, title="令和8年度 第2回", opens_on=date.today() - timedelta(days=2))
    f.set_answers(session, later.id, answered.a1, {KEEP: "◎", PRINT: "△", INTERNAL: "該当なし"})
    session.commit()
    sign_in(client, "member.a1@test.example")
    body = client.get("/api/v1/sections/A1/targets").json()
    [past] = body["sets"]
    assert (past["base_round"]["id"], past["result_round"], past["met"]) == (
        answered.round.id, {"id": later.id, "title": "令和8年度 第2回"}, 1)
    assert {t["set_by_section"]["code"] for t in past["targets"]} == {"A1"}
    results = {t["item_key"]: (t["result_status"], t["result"]) for t in past["targets"]}
    assert results == {KEEP: ("◎", "met"), PRINT: ("△", "not_met"), SECTION: (None, "pending"),
                       INTERNAL: ("該当なし", "not_comparable")}
    html = client.get("/sections/A1/trend").text
    assert "令和8年度 第1回に設定した目標の結果" in html
    assert "4項目中 <strong>1項目</strong>を達成" in html
    assert "✓</span> 達成" in html and "✗</span> 未達" in html and "結果待ち（未回答）" in html


# --- errors at the field, a URL that reloads, the picker (issue 11.3) -------------------------------------

HX = {"HX-Request": "true"}


def _form_rows(html: str) -> list[tuple[str, list[str]]]:
    """(item key, offered statuses) of each row of the targets form, in page order."""
    rows = re.findall(r'<select id="target-[^"]+" name="target:([a-z.\-]+)"[^>]*>(.*?)</select>', html, re.S)
    return [(key, re.findall(r'<option value="([^"]+)"', options)) for key, options in rows]


def test_the_picker_offers_the_items_at_fair_and_not_done_first_and_only_statuses_above_the_result(client, answered):
    sign_in(client, "leader.a1@test.example")
    html = client.get("/sections/A1/trend").text
    rows = _form_rows(html)
    # △ and × first (sheet order within), then the rest; ◎ has nothing above it: no picker
    assert [key for key, _ in rows] == [KEEP, PRINT, BUREAU, INTERNAL, SECTION]
    assert dict(rows) == {KEEP: ["◎", "○"], PRINT: ["◎", "○", "△"], BUREAU: ["◎", "○"], INTERNAL: ["◎", "○", "△"],
                          SECTION: ["◎"]}
    assert html.index("改善したい項目（今回 △・×）") < html.index("そのほかの項目")
    assert "今回 ◎ のため目標は不要です" in html


def test_a_target_kept_at_the_current_status_stays_on_offer(client, session, answered):
    f.make_target(session, answered.a1, answered.round.id, EXTERNAL, "◎", by=answered.leader_a)
    session.commit()
    sign_in(client, "leader.a1@test.example")
    assert dict(_form_rows(client.get("/sections/A1/trend").text))[EXTERNAL] == ["◎"]


def test_a_refused_form_without_javascript_shows_the_error_in_view_and_its_url_reloads_cleanly(client, answered):
    token = sign_in(client, "leader.a1@test.example")
    page = client.get("/sections/A1/trend").text
    assert 'action="/sections/A1/targets#targets-error"' in page  # the browser lands on the message
    response = post_targets(client, token, answered.round.id, **{SECTION: "△", KEEP: "○"})
    assert response.status_code == 422 and "<h1>" in response.text  # the whole page
    summary = response.text[response.text.index('<div class="notice notice--error" role="alert" id="targets-error"'):]
    summary = summary[:summary.index("</div>")]
    assert 'tabindex="-1"' in summary and 'role="alert"' in summary
    assert re.findall(r'<a href="#target-([^"]+)">', summary) == ["briefing_section_paperless"]
    field = re.search(r'<select id="target-briefing_section_paperless"[^>]*>', response.text).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="terr-briefing_section_paperless"' in field
    assert 'id="terr-briefing_section_paperless">' in response.text
    # the form's address, opened again, leads back to the form
    again = client.get("/sections/A1/targets")
    assert again.status_code == 303 and again.headers["location"] == "/sections/A1/trend#targets"


def test_htmx_swaps_the_targets_section_with_the_error_at_the_field_then_with_the_saved_targets(
        client, session, answered):
    token = sign_in(client, "leader.a1@test.example")
    data = {"round_id": str(answered.round.id), f"target:{SECTION}": "△", f"target:{KEEP}": "○"}
    refused = client.post("/sections/A1/targets", data=data, headers={**HX, "X-CSRF-Token": token})
    assert refused.status_code == 422
    assert refused.text.lstrip().startswith('<section class="panel trend-section" id="targets"')
    assert "<h1>" not in refused.text and "data-focus-on-swap" in refused.text
    assert 'aria-invalid="true" aria-describedby="terr-briefing_section_paperless"' in refused.text
    assert re.search(r'<option value="○" selected>', refused.text)  # what was typed is kept
    assert stored(session, answered) == {}
    data[f"target:{SECTION}"] = "◎"
    saved = client.post("/sections/A1/targets", data=data, headers={**HX, "X-CSRF-Token": token})
    assert saved.status_code == 200 and 'id="targets-saved"' in saved.text and "<h1>" not in saved.text
    assert stored(session, answered) == {KEEP: "○", SECTION: "◎"}
