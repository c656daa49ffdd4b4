"""The leader page: a 所属 beside its 部局 average and the prefecture median, worked out by hand on a
small organisation (部局 P with five 所属, 部局 Q with two), on SQLite and PostgreSQL.

In each round only four of P's five 所属 answered, so a 所属's leader sees P's figures withheld (fewer than
five contributing 所属, tests/test_small_groups.py); the figures themselves are checked as the desk sees them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from app.auth.models import SectionRole
from app.orgs.models import UnitKind
from app.scoring.rules import Change
from app.sheets import figures
from app.sheets.models import PREFECTURE
from app.statuses import Status
from app.trend import page as trend_page
from tests import factories as f
from tests.conftest import sign_in

KEEP = "office.daily.keep-electronic"
PRINT = "office.daily.no-personal-printing"
ALL = [KEEP, PRINT, "briefing.section.paperless", "briefing.bureau.paperless",
       "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet"]


def every(symbol: str) -> dict[str, str]:
    return dict.fromkeys(ALL, symbol)


@pytest.fixture
def org(session):
    """Two rounds answered as follows (maturity = points / (3 × answered) × 100):

    | 所属 | round 1                  | maturity | round 2          | maturity |
    |------|--------------------------|----------|------------------|----------|
    | P1   | ◎ on one item            | 100.0    | all ◎            | 100.0    |
    | P2   | five ◎, one ○            | 94.4     | all ◎            | 100.0    |
    | P3   | 電子保管 △, 個人印刷 ○   | 50.0     | 電子保管 ○, 個人印刷 △ | 50.0 |
    | P4   | all ×                    | 0.0      | nothing          | —        |
    | P5   | nothing                  | —        | all ×            | 0.0      |
    | Q1   | all ◎                    | 100.0    | all △            | 33.3     |
    | Q2   | three ◎, three ×         | 50.0     | all ◎            | 100.0    |
    """
    p = f.make_unit(session, "P", "P部", kind=UnitKind.BUREAU, position=1)
    q = f.make_unit(session, "Q", "Q部", kind=UnitKind.BUREAU, position=2)
    units = {code: f.make_unit(session, code, f"{code}課", parent=p, position=i)
             for i, code in enumerate(["P1", "P2", "P3", "P4", "P5"], start=1)}
    units |= {code: f.make_unit(session, code, f"{code}課", parent=q, position=i)
              for i, code in enumerate(["Q1", "Q2"], start=1)}
    f.make_user(session, "leader.p3@test.example", "リーダー P3", section=units["P3"], role=SectionRole.LEADER)
    f.make_user(session, "member.p3@test.example", "職員 P3", section=units["P3"])
    f.make_user(session, "leader.q1@test.example", "リーダー Q1", section=units["Q1"], role=SectionRole.LEADER)
    f.make_user(session, "desk@test.example", "窓口", is_desk=True)
    v1 = f.publish(session)
    r1 = f.make_round(session, v1, title="令和6年度 第1回", fiscal_year=2024, opens_on=date(2024, 10, 1))
    f.set_answers(session, r1.id, units["P1"], {KEEP: "◎"})
    f.set_answers(session, r1.id, units["P2"], every("◎") | {PRINT: "○"})
    f.set_answers(session, r1.id, units["P3"], {KEEP: "△", PRINT: "○"})
    f.set_answers(session, r1.id, units["P4"], every("×"))
    f.set_answers(session, r1.id, units["Q1"], every("◎"))
    f.set_answers(session, r1.id, units["Q2"], dict(zip(ALL, ["◎", "◎", "◎", "×", "×", "×"], strict=True)))
    r2 = f.make_round(session, v1, title="令和7年度 第1回", fiscal_year=2025, opens_on=date(2025, 10, 1))
    f.set_answers(session, r2.id, units["P1"], every("◎"))
    f.set_answers(session, r2.id, units["P2"], every("◎"))
    f.set_answers(session, r2.id, units["P3"], {KEEP: "○", PRINT: "△"})
    f.set_answers(session, r2.id, units["P5"], every("×"))
    f.set_answers(session, r2.id, units["Q1"], every("△"))
    f.set_answers(session, r2.id, units["Q2"], every("◎"))
    session.commit()
    return dict(p=p, q=q, r1=r1, r2=r2, v1=v1, **units)


def figure(g) -> tuple:
    return (g.sections, g.scored, g.mean, g.median, g.suppressed)


def groups_seen_by(session, upn, round_ids) -> dict:
    """{(round id, 部局 id or 0 for the prefecture): (sections, scored, mean, median, suppressed)}"""
    found = figures.groups(session, _leader(session, upn), round_ids)
    return {(k.round_id, k.bureau_id): figure(g) for k, g in found.items() if k.category == ""}


def test_group_figures_per_round_worked_by_hand(session, org):
    groups = groups_seen_by(session, "desk@test.example", [org["r1"].id, org["r2"].id])
    r1, r2 = org["r1"].id, org["r2"].id
    # Round 1, 部局 P: 100, 94.4, 50.0, 0.0 and P5 unanswered → mean 61.1, median (50.0 + 94.4) / 2 = 72.2
    assert groups[(r1, org["p"].id)] == (5, 4, 61.1, 72.2, False)
    # 部局 Q: 100 and 50
    assert groups[(r1, org["q"].id)] == (2, 2, 75.0, 75.0, False)
    # Prefecture: 0, 50, 50, 94.4, 100, 100 → median 72.2; mean 394.4 / 6 = 65.7
    assert groups[(r1, PREFECTURE)] == (7, 6, 65.7, 72.2, False)
    # Round 2, 部局 P: 100, 100, 50.0, 0.0 (P4 unanswered) → mean 62.5, median 75.0
    assert groups[(r2, org["p"].id)] == (5, 4, 62.5, 75.0, False)
    assert groups[(r2, PREFECTURE)] == (7, 6, 63.9, 75.0, False)
    # A leader: four of P's five 所属 answered, both of Q's: too few contributors to show either 部局;
    # six answered in the prefecture.
    leader = groups_seen_by(session, "leader.p3@test.example", [r1, r2])
    for r in (r1, r2):
        assert leader[(r, org["p"].id)] == (5, 4, None, None, True)
        assert leader[(r, org["q"].id)] == (2, 2, None, None, True)
    assert leader[(r1, PREFECTURE)] == (7, 6, 65.7, 72.2, False)


def test_the_desk_sees_a_small_group_that_a_leader_does_not(session, org):
    r1 = org["r1"].id
    assert groups_seen_by(session, "desk@test.example", [r1])[(r1, org["q"].id)] == (2, 2, 75.0, 75.0, False)
    assert groups_seen_by(session, "leader.q1@test.example", [r1])[(r1, org["q"].id)] == (2, 2, None, None, True)


def test_a_round_with_no_answers_has_no_figures_and_a_leader_sees_them_withheld(session, org):
    r3 = f.make_round(session, org["v1"], title="令和8年度 第1回", fiscal_year=2026, opens_on=date(2026, 4, 20))
    session.commit()
    assert groups_seen_by(session, "desk@test.example", [r3.id])[(r3.id, org["p"].id)] == (5, 0, None, None, False)
    three = groups_seen_by(session, "leader.p3@test.example", [r3.id])
    # No 所属 answered: nothing to show, and a leader is not told either whether the others have answered
    assert three[(r3.id, org["p"].id)] == (5, 0, None, None, True)
    assert three[(r3.id, org["q"].id)] == (2, 0, None, None, True)
    assert three[(r3.id, PREFECTURE)] == (7, 0, None, None, True)
    page = trend_page.build(session, _leader(session, "leader.p3@test.example"), org["P3"])
    assert [r.round.title for r in page.rows] == ["令和6年度 第1回", "令和7年度 第1回", "令和8年度 第1回"]
    assert page.rows[2].main.score.overall.maturity is None
    # an open round with nothing answered yet is 集計中 (no change), never compared (issue 11, point 5)
    assert page.rows[2].change is None and page.rows[2].comparison.label == "集計中"
    assert all(c.change is Change.NOT_COMPARABLE for c in page.items)
    assert page.next_steps == []


def _leader(session, upn):
    from app.auth import service as auth_service

    user = auth_service.find_user_by_upn(session, upn)
    return auth_service.load_principal(session, user.id)


def test_the_view_model_compares_categories_and_items_with_the_previous_round(session, org):
    leader = trend_page.build(session, _leader(session, "leader.p3@test.example"), org["P3"])
    assert [r.bureau_figure.suppressed for r in leader.rows] == [True, True]  # four of five answered
    assert leader.can_set_targets and leader.can_request
    page = trend_page.build(session, _leader(session, "desk@test.example"), org["P3"])
    assert [(r.main.score.overall.maturity, r.change) for r in page.rows] == [
        (50.0, Change.NEW_ITEM), (50.0, Change.UNCHANGED)]
    assert [r.bureau_figure.mean for r in page.rows] == [61.1, 62.5]
    assert [r.prefecture.median for r in page.rows] == [72.2, 75.0]
    office = page.categories[0]
    assert (office.name, office.before, office.after, office.change) == ("所属内", 50.0, 50.0, Change.UNCHANGED)
    # 所属内 in round 2 across 部局 P: 100, 100, 50.0, 0.0 (P4 unanswered) → 62.5; prefecture adds 33.3, 100
    assert figure(office.bureau) == (5, 4, 62.5, 75.0, False)
    assert office.prefecture.median == 75.0
    changes = {c.key: c.change for c in page.items}
    assert changes[KEEP] is Change.IMPROVED and changes[PRINT] is Change.REGRESSED
    assert changes["briefing.section.paperless"] is Change.NOT_COMPARABLE
    assert [(s.item.key, s.status) for s in page.next_steps] == [(PRINT, Status.FAIR)]
    assert page.next_steps[0].hints == () and "少し準備が要る" in page.next_steps[0].fallback


def test_the_page_shows_the_groups_and_says_why_a_small_bureau_has_no_average(client, new_client, org):
    sign_in(client, "desk@test.example")
    html = client.get("/sections/P3/trend").text
    assert "61.1" in html and "72.2" in html and "62.5" in html
    assert "▲</span> 改善" in html and "▼</span> 後退" in html
    assert "順位は表示しません" in html
    leader = new_client()
    sign_in(leader, "leader.p3@test.example")
    html = leader.get("/sections/P3/trend").text
    assert "61.1" not in html and "72.2" in html  # P withheld (four answered), the prefecture shown (six)
    assert "P部は5所属、回答4所属（5未満）" in html
    other = new_client()
    sign_in(other, "leader.q1@test.example")
    html = other.get("/sections/Q1/trend").text
    assert "Q部は2所属、回答2所属（5未満）" in html
    assert "部局平均（Q部）：回答した所属が5未満のため表示しません" in html


def test_the_item_changes_show_each_status_as_a_badge_that_says_its_label(client, org):
    """Colour is never the only signal: the symbol is shown, and screen readers hear symbol and label."""
    sign_in(client, "desk@test.example")
    html = client.get("/sections/P3/trend").text
    fair = ('<span class="badge st-fair"><span aria-hidden="true">△</span>'
            '<span class="visually-hidden">△ 30%以下</span></span>')
    good = ('<span class="badge st-good"><span aria-hidden="true">○</span>'
            '<span class="visually-hidden">○ 60～30%程度</span></span>')
    unanswered = '<span class="badge st-unanswered">未回答</span>'
    assert f"<th scope=\"row\">資料を電子でも保管している</th>\n        <td>{fair}</td>\n        <td>{good}</td>" in html
    assert f"<th scope=\"row\">個人用（メモ、資料の保管）に紙を印刷していない</th>\n        <td>{good}</td>\n        <td>{fair}</td>" in html
    assert f"<td>{unanswered}</td>\n        <td>{unanswered}</td>" in html  # the items P3 never answered


def test_the_trend_api_carries_the_group_figures(client, new_client, org):
    sign_in(client, "desk@test.example")
    rounds = client.get("/api/v1/sections/P3/trend").json()["rounds"]
    first = rounds[0]
    assert (first["bureau"], first["bureau_sections"], first["bureau_mean"]) == ({"code": "P", "name": "P部"}, 5, 61.1)
    assert (first["prefecture_sections"], first["prefecture_median"]) == (7, 72.2)
    assert first["bureau_suppressed"] is False and first["maturity"] == 50.0
    member = new_client()
    sign_in(member, "member.p3@test.example")
    own = member.get("/api/v1/sections/P3/trend").json()["rounds"][0]
    assert (own["bureau_suppressed"], own["bureau_mean"], own["prefecture_median"]) == (True, None, 72.2)
    other = new_client()
    sign_in(other, "leader.q1@test.example")
    q1 = other.get("/api/v1/sections/Q1/trend").json()["rounds"][0]
    assert q1["bureau_suppressed"] is True and q1["bureau_mean"] is None
    assert q1["prefecture_median"] == 72.2


def test_a_member_cannot_see_another_sections_trend(client, new_client, org):
    sign_in(client, "member.p3@test.example")
    page = client.get("/sections/Q1/trend")
    assert page.status_code == 403 and "業務DX相談窓口" in page.text
    assert client.get("/api/v1/sections/Q1/trend").status_code == 403
    assert client.get("/sections/NOPE/trend").status_code == 404
    anonymous = new_client()
    response = anonymous.get("/sections/P3/trend")
    assert response.status_code == 303 and response.headers["location"].startswith("/auth/login")


def test_the_menu_leads_a_member_to_their_own_trend(client, org):
    sign_in(client, "member.p3@test.example")
    assert 'href="/trend"' in client.get("/sections/P3/trend").text
    response = client.get("/trend")
    assert response.status_code == 303 and response.headers["location"] == "/sections/P3/trend"


def test_every_chart_on_the_page_is_well_formed_svg_with_title_and_desc(client, org):
    sign_in(client, "desk@test.example")
    html = client.get("/sections/P3/trend").text
    charts = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(charts) == 2
    for svg in charts:
        root = ET.fromstring(svg)  # noqa: S314 — our own output
        ns = "{http://www.w3.org/2000/svg}"
        assert root.get("role") == "img"
        assert root.find(f"{ns}title").text and root.find(f"{ns}desc").text
    assert "令和6年度 第1回: この所属 50.0点、部局平均 61.1点、全庁の中央値 72.2点" in html


HINTED = """\
id: hinted
version: 1
title: ヒント付きチェックシート
legend:
  difficulty: {1: やりやすい, 2: ちょっと難しい, 3: 相手次第}
  status: {◎: 60%以上, ○: 60～30%程度, △: 30%以下, ×: 未対応}
categories:
  - name: 会議
    items:
      - key: meeting.internal.no-paper-handouts
        scene: 庁内の会議
        text: 紙資料を配っていない
        difficulty: 1
        links:
          - {label: "リンク集>ペーパーレス会議のすすめ", url: "https://intranet.example/paperless"}
        hints:
          - 会議資料は前日までにTeamsのチャネルに置く
          - 投影用のモニターを予約する
      - key: meeting.internal.no-printing
        scene: 庁内の会議
        text: 会議の前に資料を印刷していない
        difficulty: 2
"""


def test_next_steps_show_the_hints_and_links_of_the_checklist_file(client, session):
    bureau = f.make_unit(session, "H", "H部", kind=UnitKind.BUREAU)
    unit = f.make_unit(session, "H1", "H部 一課", parent=bureau)
    f.make_user(session, "leader.h1@test.example", section=unit, role=SectionRole.LEADER)
    version = f.publish(session, f.checklist_yaml(HINTED))
    r = f.make_round(session, version, title="令和8年度 第1回")
    f.set_answers(session, r.id, unit, {"meeting.internal.no-paper-handouts": "×", "meeting.internal.no-printing": "△"})
    session.commit()
    sign_in(client, "leader.h1@test.example")
    html = client.get("/sections/H1/trend").text
    steps = html[html.index('id="next-steps"'):html.index('id="support"')]
    assert "会議資料は前日までにTeamsのチャネルに置く" in steps and "投影用のモニターを予約する" in steps
    assert ('<a href="https://intranet.example/paperless" target="_blank" rel="noopener">リンク集&gt;ペーパーレス会議のすすめ'
            '<span class="visually-hidden">（外部サイト・新しいウィンドウで開きます）</span></a>') in steps
    # the second item has no hints and no links: the advice for its difficulty, and no system note about
    # what the checklist lacks (the 相談する button is the way on)
    second = steps[steps.index("会議の前に資料を印刷していない"):]
    assert trend_page.FALLBACK_HINTS[2] in second and "<h4>参考リンク</h4>" not in second
    assert "まだ登録されていません" not in steps and "参考リンクはありません" not in steps
    assert steps.count("<h4>参考リンク</h4>") == 1
    assert steps.count("/sections/H1/consult?item=") == 2


def test_a_new_section_without_any_round_gets_an_empty_page_and_may_still_ask_for_help(client, session, world):
    fresh = f.make_unit(session, "A9", "A部 新設課", parent=world.bureau_a, valid_from=date.today())
    f.make_user(session, "leader.a9@test.example", section=fresh, role=SectionRole.LEADER)
    session.commit()
    token = sign_in(client, "leader.a9@test.example")
    html = client.get("/sections/A9/trend").text
    assert "この所属には、まだ調査回の結果がありません。" in html
    assert "調査回の結果がまだないため、目標は設定できません。" in html
    assert client.get("/api/v1/sections/A9/targets").json() == {
        "section": {"code": "A9", "name": "A部 新設課"}, "latest_round": None, "can_set": False, "sets": []}
    assert client.post("/sections/A9/targets", data={"csrf_token": token, "round_id": "1"}).status_code == 404
    response = client.post("/sections/A9/consult", data={"csrf_token": token, "request_message": "始め方を相談したい"})
    assert response.status_code == 303


def test_the_trend_chooser_refuses_a_malformed_code(client, world):
    sign_in(client, "desk@test.example")
    assert client.get("/trend").status_code == 200
    assert client.get("/trend?code=A1").headers["location"] == "/sections/A1/trend"
    refused = client.get("/trend?code=//evil.example/x")
    assert refused.status_code == 422 and "所属コードは英数字" in refused.text


def test_group_figures_follow_a_saved_answer(client, session, org):
    r2 = org["r2"].id
    before = groups_seen_by(session, "leader.p3@test.example", [r2])[(r2, org["p"].id)]
    assert before == (5, 4, None, None, True)
    session.commit()
    # P4 answers its first item in round 2 through the API (the sheets service touches the sheet)
    f.make_user(session, "member.p4@test.example", section=org["P4"])
    session.commit()
    token = sign_in(client, "member.p4@test.example")
    response = client.put(f"/api/v1/rounds/{r2}/sections/P4/answers/{KEEP}",
                          headers={"X-CSRF-Token": token}, json={"status": "◎", "version": 0})
    assert response.status_code == 200, response.text
    after = groups_seen_by(session, "leader.p3@test.example", [r2])[(r2, org["p"].id)]
    # 部局 P: 100, 100, 50.0, 100 (P4 now), 0.0 → mean 70.0, median 100.0; five answered: shown to the leader
    assert after == (5, 5, 70.0, 100.0, False)
