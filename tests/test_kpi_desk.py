"""The desk's figures: 部局 and prefecture sums and per-employee figures from SQL, groups under five 所属
marked as withheld from staff, and 「評価と実績のずれ」 with both numbers."""

from __future__ import annotations

from datetime import date

import pytest

from app.config import PROJECT_ROOT
from app.kpis import service
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from tests import factories
from tests.conftest import sign_in

OCTOBER = date(2025, 10, 1)
COPIES = {"P1": 9000, "P2": 5000, "P3": 4000, "P4": 3000, "P5": 2500, "Q1": 1000, "Q2": 2000}


@pytest.fixture
def desk_world(session):
    world = factories.build_desk_world(session)
    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    changes = []
    for code, copies in COPIES.items():
        unit = world.sections[code]
        changes.append(service.Change(unit.id, OCTOBER, "print.copies", service.NOTHING, copies))
        changes.append(service.Change(unit.id, date(2025, 4, 1), "staff.count", service.NOTHING, 10))
    service.write_values(session, catalogue, changes, actor_id=None, source="demo")
    session.commit()
    return world


def test_bureau_and_prefecture_totals_and_per_employee(client, desk_world):
    sign_in(client, "desk@test.example")
    page = client.get("/desk/figures", params={"figure": "print.copies", "fy": 2025, "round": desk_world.round.id})
    assert page.status_code == 200
    rows = [r.split("</tr>")[0] for r in page.text.split('id="totals"')[1].split("</table>")[0].split("<tr")[2:]]
    assert "全庁" in rows[0] and ">7<" in rows[0] and "26,500枚" in rows[0] and "378.6枚" in rows[0]
    p_row = next(r for r in rows if "P部" in r)
    assert ">5<" in p_row and "23,500枚" in p_row and "470枚" in p_row and "参考" not in p_row
    q_row = next(r for r in rows if "Q部" in r)
    assert ">2<" in q_row and "3,000枚" in q_row and "参考（5所属未満" in q_row


def test_rating_and_figure_mismatches_show_both_numbers(client, desk_world):
    sign_in(client, "desk@test.example")
    page = client.get("/desk/figures", params={"figure": "print.copies", "fy": 2025, "round": desk_world.round.id})
    mismatches = page.text.split('id="mismatches"')[1]
    rows = mismatches.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2, [" ".join(r.split()) for r in rows]
    worst = next(r for r in rows if "P部 1課" in r)  # ◎ while 900 per person, the worst quarter starts at 500
    assert "◎" in worst and "900枚" in worst and "500枚" in worst and "悪い方の25%" in worst and "7所属中" in worst
    best = next(r for r in rows if "Q部 1課" in r)  # × while 100 per person, the best quarter ends at 200
    assert "×" in best and "100枚" in best and "200枚" in best and "良い方の25%" in best


def test_staff_never_see_the_desks_named_list(client, desk_world):
    sign_in(client, "leader.p1@test.example")
    assert client.get("/desk/figures").status_code == 403


def test_the_sections_page_compares_with_its_own_bureau_and_the_prefecture(client, desk_world):
    """The 所属's page sums its own 部局 (over that 部局's 所属 only) and the prefecture (over all)."""
    sign_in(client, "leader.p1@test.example")
    page = client.get("/sections/P1/figures", params={"fy": 2025})
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "P部: 470枚" in text  # 23,500 / 50 per person, 5 所属
    assert "全庁: 378.6枚" in text  # 26,500 / 70, 7 所属
    assert "Q部" not in text


def test_a_section_equal_to_the_quarters_edge_counts_as_inside(client, session, desk_world):
    """P1 (◎) corrected to 5,000 sheets: 500 per person, equal to P2 at the worst quarter's edge
    (⌈7/4⌉ = 2 worst: 500, 500): still listed, with the edge 500 beside it."""
    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    p1 = desk_world.sections["P1"]
    before = service.stored(session, [(p1.id, OCTOBER, "print.copies")])[(p1.id, OCTOBER, "print.copies")]
    service.write_values(session, catalogue, [service.Change(p1.id, OCTOBER, "print.copies", before, 5000)],
                         actor_id=None, source="demo")
    session.commit()
    sign_in(client, "desk@test.example")
    page = client.get("/desk/figures", params={"figure": "print.copies", "fy": 2025, "round": desk_world.round.id})
    rows = page.text.split('id="mismatches"')[1].split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    worst = next(r for r in rows if "P部 1課" in r)
    assert "◎" in worst and worst.count("500枚") == 2 and "悪い方の25%" in worst
