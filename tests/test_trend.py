"""Trends follow lineage (rename, move, merge, split) and join items by key across checklist versions."""

from __future__ import annotations

from datetime import date

import pytest

from app.orgs import service as orgs
from app.orgs.models import LinkKind, UnitKind, UnitLink
from app.scoring.rules import Change
from app.statuses import Status
from app.trend import service as trend_service
from tests import factories as f
from tests.conftest import sign_in

V2 = """\
id: paperless
version: 2
title: ペーパーレス化状況チェックシート
legend:
  difficulty: {1: やりやすい, 2: ちょっと難しい, 3: 相手次第}
  status: {◎: 60%以上, ○: 60～30%程度, △: 30%以下, ×: 未対応}
categories:
  - name: 所属内
    items:
      - {key: office.daily.keep-electronic, scene: 日常, text: 資料を電子で保管している, difficulty: 1}
      - {key: office.daily.no-personal-printing, scene: 日常, text: 個人用に紙を印刷していない, difficulty: 2}
      - {key: office.daily.teams-circulation, scene: 日常, text: 回覧をTeamsで行っている, difficulty: 1}
  - name: 会議
    items:
      - {key: meeting.internal.no-paper-handouts, scene: 庁内の会議, text: 紙資料を配っていない, difficulty: 1, allow_na: true}
"""
APRIL = date(2025, 4, 1)


set_answers = f.set_answers


def close(session, *units):
    for unit in units:
        unit.valid_to = APRIL
        session.add(unit)
    session.flush()


def link(session, old, new, kind):
    session.add(UnitLink(predecessor_id=old.id, successor_id=new.id, kind=kind, effective_on=APRIL))
    session.flush()


@pytest.fixture
def history(session):
    """FY2024 on v1, an April 2025 reorganisation, FY2025 on v2."""
    bureau = f.make_unit(session, "X", "X部", kind=UnitKind.BUREAU)
    old_a = f.make_unit(session, "A1", "旧総務課", parent=bureau)
    m1 = f.make_unit(session, "M1", "文書課", parent=bureau)
    m2 = f.make_unit(session, "M2", "法規課", parent=bureau)
    parent = f.make_unit(session, "P", "企画調整課", parent=bureau)
    member = f.make_user(session, "member.a1@test.example", section=old_a)
    v1 = f.publish(session)
    r1 = f.make_round(session, v1, title="令和6年度 第1回", fiscal_year=2024, opens_on=date(2024, 10, 1))
    set_answers(session, r1.id, old_a, {"office.daily.keep-electronic": "△", "office.daily.no-personal-printing": "○",
                                        "briefing.bureau.paperless": "×", "meeting.internal.no-paper-handouts": "該当なし"})
    set_answers(session, r1.id, m1, {"office.daily.keep-electronic": "◎"})
    set_answers(session, r1.id, m2, {"office.daily.keep-electronic": "×"})
    set_answers(session, r1.id, parent, {"office.daily.keep-electronic": "○"})

    close(session, old_a, m1, m2, parent)
    new_a = f.make_unit(session, "A1", "総務課", parent=bureau, valid_from=APRIL)
    link(session, old_a, new_a, LinkKind.RENAME)
    merged = f.make_unit(session, "M", "文書法規課", parent=bureau, valid_from=APRIL)
    link(session, m1, merged, LinkKind.MERGE)
    link(session, m2, merged, LinkKind.MERGE)
    s1 = f.make_unit(session, "S1", "企画課", parent=bureau, valid_from=APRIL)
    s2 = f.make_unit(session, "S2", "調整課", parent=bureau, valid_from=APRIL)
    link(session, parent, s1, LinkKind.SPLIT)
    link(session, parent, s2, LinkKind.SPLIT)
    from app.auth.models import Membership

    session.add(Membership(user_id=member.id, unit_id=new_a.id, role="member"))
    v2 = f.publish(session, f.checklist_yaml(V2))
    r2 = f.make_round(session, v2, title="令和7年度 第1回", fiscal_year=2025, opens_on=date(2025, 10, 1))
    set_answers(session, r2.id, new_a, {"office.daily.keep-electronic": "○", "office.daily.no-personal-printing": "△",
                                        "office.daily.teams-circulation": "◎", "meeting.internal.no-paper-handouts": "○"})
    set_answers(session, r2.id, merged, {"office.daily.keep-electronic": "○"})
    session.commit()
    return dict(old_a=old_a, new_a=new_a, m1=m1, m2=m2, merged=merged, parent=parent, s1=s1, s2=s2, r1=r1, r2=r2)


def test_lineage_names_how_each_predecessor_relates(session, history):
    def relations(unit):
        return [(a.unit.code, a.unit.name, a.relation) for a in orgs.lineage(session, unit.id)]

    assert relations(history["new_a"]) == [("A1", "総務課", "self"), ("A1", "旧総務課", "continued")]
    assert relations(history["merged"]) == [("M", "文書法規課", "self"), ("M1", "文書課", "merged"),
                                            ("M2", "法規課", "merged")]
    assert relations(history["s2"]) == [("S2", "調整課", "self"), ("P", "企画調整課", "split")]
    assert relations(history["old_a"]) == [("A1", "旧総務課", "self")]


def test_a_renamed_sections_trend_continues(session, history):
    trend = trend_service.section_trend(session, history["new_a"])
    assert [(p.round.title, p.unit.name, p.relation) for p in trend.points] == [
        ("令和6年度 第1回", "旧総務課", "continued"), ("令和7年度 第1回", "総務課", "self")]
    # FY2024: △1 ○2 ×0 over 3 scored items → 3/9 = 33.3; FY2025: ○2 △1 ◎3 ○2 → 8/12 = 66.7
    assert [p.score.overall.maturity for p in trend.points] == [33.3, 66.7]


def test_comparison_joins_items_by_key_and_says_when_an_item_did_not_exist(session, history):
    trend = trend_service.section_trend(session, history["new_a"])
    rows = {c.key: c for c in trend_service.compare(session, trend, history["r1"].id, history["r2"].id)}
    assert rows["office.daily.keep-electronic"].change is Change.IMPROVED  # △ → ○
    assert rows["office.daily.keep-electronic"].text == "資料を電子で保管している"  # reworded: the newer text
    assert rows["office.daily.no-personal-printing"].change is Change.REGRESSED  # ○ → △
    assert rows["office.daily.teams-circulation"].change is Change.NEW_ITEM
    assert rows["briefing.bureau.paperless"].change is Change.REMOVED_ITEM
    assert rows["meeting.internal.no-paper-handouts"].change is Change.NOT_COMPARABLE  # 該当なし → ○
    assert rows["office.daily.teams-circulation"].after is Status.EXCELLENT


def test_a_merged_section_shows_each_predecessors_past_side_by_side(session, history):
    trend = trend_service.section_trend(session, history["merged"])
    assert [(p.unit.code, p.relation) for p in trend.points] == [("M1", "merged"), ("M2", "merged"), ("M", "self")]
    rows = {c.key: c for c in trend_service.compare(session, trend, history["r1"].id, history["r2"].id)}
    row = rows["office.daily.keep-electronic"]
    assert [(unit.name, status) for unit, status in row.before] == [("文書課", Status.EXCELLENT),
                                                                    ("法規課", Status.NOT_DONE)]
    assert row.change is None


def test_a_split_section_shows_its_parents_past_marked(session, history):
    trend = trend_service.section_trend(session, history["s1"])
    assert [(p.unit.code, p.relation, p.relation_label) for p in trend.points] == [
        ("P", "split", "分割前の所属（参考）"), ("S1", "self", "")]


def test_trend_api_follows_the_same_access_rules(client, new_client, session, history):
    sign_in(client, "member.a1@test.example")
    body = client.get("/api/v1/sections/A1/trend").json()
    assert [r["section"]["name"] for r in body["rounds"]] == ["旧総務課", "総務課"]
    assert body["section"] == {"code": "A1", "name": "総務課"}
    assert [r["round"]["id"] for r in body["rounds"]] == [history["r1"].id, history["r2"].id]
    assert body["compared"] == [history["r1"].id, history["r2"].id]
    changes = {c["item_key"]: c for c in body["changes"]}
    kept = next(c for c in body["changes"] if c["in_before"])
    assert [b["section"]["name"] for b in kept["before"]] == ["旧総務課"] and kept["before"][0]["section"]["code"]
    assert changes["office.daily.teams-circulation"]["in_before"] is False
    assert changes["office.daily.teams-circulation"]["change_label"] == "前回はなかった項目"
    assert client.get("/api/v1/sections/M/trend").status_code == 403
    assert client.get("/api/v1/sections/NOPE/trend").status_code == 404
    f.make_user(session, "desk@test.example", is_desk=True)
    session.commit()
    desk = new_client()
    sign_in(desk, "desk@test.example")
    assert desk.get("/api/v1/sections/M/trend").status_code == 200
    anonymous = new_client()
    assert anonymous.get("/api/v1/sections/A1/trend").status_code == 401
