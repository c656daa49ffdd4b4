"""Small groups stay anonymous: a group figure is shown to a 所属's member or leader only when at least five
所属 contributed to it (answered what it is made of), not when the group merely has five 所属. 部局 G has
six 所属; at the boundary four or five of them have answered. Every place that shows a group figure is
checked: the 部局 scores, the trend (JSON and page), the items of a 部局 and the leader's export."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from app.auth.models import SectionRole
from app.orgs.models import UnitKind
from tests import factories
from tests.conftest import sign_in
from tests.factories import V1_KEYS

K1, K2 = V1_KEYS[0], V1_KEYS[1]


def build(session, contributors: int):
    """部局 G (G1…G6) and H (H1…H5, all answered: the prefecture is never small). G1…G<contributors> answer
    K1 (○) and, G1 only, K2 (◎); G's other 所属 have a sheet and nothing in it."""
    g = factories.make_unit(session, "G", "G部", kind=UnitKind.BUREAU, position=1)
    h = factories.make_unit(session, "H", "H部", kind=UnitKind.BUREAU, position=2)
    units = {f"G{i}": factories.make_unit(session, f"G{i}", f"G部 {i}課", parent=g, position=i) for i in range(1, 7)}
    units |= {f"H{i}": factories.make_unit(session, f"H{i}", f"H部 {i}課", parent=h, position=i) for i in range(1, 6)}
    factories.make_user(session, "leader.g1@test.example", "リーダー G1", section=units["G1"], role=SectionRole.LEADER)
    factories.make_user(session, "desk@test.example", "窓口", is_desk=True)
    version = factories.publish(session)
    round_ = factories.make_round(session, version)
    for i in range(1, contributors + 1):
        factories.set_answers(session, round_.id, units[f"G{i}"], {K1: "○", **({K2: "◎"} if i == 1 else {})})
    for i in range(1, 6):
        factories.set_answers(session, round_.id, units[f"H{i}"], {K1: "×", K2: "×"})
    session.commit()
    return round_


@pytest.mark.parametrize("contributors", [4, 5])
def test_the_bureau_figures_need_five_contributing_sections(client, new_client, session, contributors):
    round_ = build(session, contributors)
    shown = contributors >= 5
    sign_in(client, "leader.g1@test.example")

    rows = client.get(f"/api/v1/rounds/{round_.id}/scores?by=bureau").json()["rows"]
    g = next(r for r in rows if r["bureau"]["code"] == "G")
    assert g["sections"] == 6 and g["suppressed"] is not shown
    # ○ = 66.7; G1's ○ and ◎ = 83.3: the mean over five is 70.0
    assert (g["mean"], g["median"]) == ((70.0, 66.7) if shown else (None, None))
    assert (g["completion"] is None) is not shown

    trend = client.get("/api/v1/sections/G1/trend").json()["rounds"][0]
    assert trend["bureau_sections"] == 6 and trend["bureau_suppressed"] is not shown
    assert trend["bureau_mean"] == (70.0 if shown else None)
    page = client.get("/sections/G1/trend").text
    assert ("回答した所属が5未満のため表示しません" in page) is not shown

    items = client.get(f"/api/v1/rounds/{round_.id}/weak-items?bureau=G&scope=all")
    if shown:
        by_key = {i["item"]["item_key"]: i for i in items.json()["items"]}
        assert by_key[K1]["suppressed"] is False and by_key[K1]["counts"]["good"] == 5
        # K2: only G1 answered it; its ◎ is G1's own answer, so the item stays hidden, and comes last.
        assert by_key[K2]["suppressed"] is True
        assert (by_key[K2]["counts"], by_key[K2]["shares"], by_key[K2]["maturity"]) == (None, None, None)
        assert items.json()["items"][-1]["suppressed"] is True
    else:
        assert items.status_code == 403 and "回答した所属が5未満" in items.json()["detail"]

    book = load_workbook(io.BytesIO(client.get(f"/api/v1/rounds/{round_.id}/export.xlsx?section=G1").content))
    summary = [list(r) for r in book["集計"].iter_rows(values_only=True)]
    g_row = next(r for r in summary if r[0] == "G" and isinstance(r[2], int))
    assert (g_row[3] == "—") is not shown
    assert (g_row[3] == 70.0) is shown

    desk = new_client()
    sign_in(desk, "desk@test.example")
    rows = desk.get(f"/api/v1/rounds/{round_.id}/scores?by=bureau").json()["rows"]
    assert next(r for r in rows if r["bureau"]["code"] == "G")["mean"] == (70.0 if shown else 70.8)
    desk_items = desk.get(f"/api/v1/rounds/{round_.id}/weak-items?bureau=G&scope=all").json()["items"]
    assert not any(i["suppressed"] for i in desk_items)
