"""Figures follow reorganisations (issue 13, point 3; docs/kpis.md「組織改正と実績値」): a renamed, moved or
merged 所属 sees its predecessors' figures for the months before the change (a merge: their sum; a split
predecessor's are not taken); the desk's 部局 totals and caps count each 所属 under the 部局 it belongs to now."""

from __future__ import annotations

from datetime import date

import pytest

from app.config import PROJECT_ROOT
from app.kpis import service
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from app.orgs.models import LinkKind, UnitLink
from tests import factories
from tests.conftest import sign_in

APRIL = date(2026, 4, 1)


@pytest.fixture
def reorganised(session, world):
    """April 2026: A1 moved to 部局 B as X1; A2 and B1 merged into M1 of 部局 A; B2 split into S1 and S2."""
    b2 = factories.make_unit(session, "B2", "B部 二課", parent=world.bureau_b, position=2)
    for unit in (world.a1, world.a2, world.b1, b2):
        unit.valid_to = APRIL
        session.add(unit)
    x1 = factories.make_unit(session, "X1", "B部 企画課", parent=world.bureau_b, valid_from=APRIL, position=3)
    m1 = factories.make_unit(session, "M1", "A部 総務課", parent=world.bureau_a, valid_from=APRIL, position=4)
    s1 = factories.make_unit(session, "S1", "B部 分課", parent=world.bureau_b, valid_from=APRIL, position=5)
    links = [(world.a1, x1, LinkKind.MOVE), (world.a2, m1, LinkKind.MERGE), (world.b1, m1, LinkKind.MERGE),
             (b2, s1, LinkKind.SPLIT)]
    for old, new, kind in links:
        session.add(UnitLink(predecessor_id=old.id, successor_id=new.id, kind=kind, effective_on=APRIL))
    values = [(world.a1, date(2025, 10, 1), 100), (world.a2, date(2025, 10, 1), 30), (world.b1, date(2025, 10, 1), 40),
              (b2, date(2025, 10, 1), 7), (x1, date(2026, 5, 1), 200), (m1, date(2026, 5, 1), 60)]
    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    service.write_values(session, catalogue, [service.Change(u.id, m, "print.copies", service.NOTHING, v)
                                              for u, m, v in values], actor_id=None, source="demo")
    session.commit()
    return {"x1": x1, "m1": m1, "s1": s1}


def copies(client, code: str) -> dict[str, float | None]:
    found = client.get(f"/api/v1/sections/{code}/figures", params={"from": "2025-10", "to": "2026-05"})
    assert found.status_code == 200, found.text
    return {r["month"]: r["value"] for r in found.json()["rows"] if r["figure_key"] == "print.copies"
            and r["value"] is not None}


def test_a_moved_or_merged_section_sees_its_predecessors_figures(client, reorganised):
    sign_in(client, "desk@test.example")
    assert copies(client, "X1") == {"2025-10": 100, "2026-05": 200}  # moved: A1's October
    assert copies(client, "M1") == {"2025-10": 70, "2026-05": 60}  # merged: A2 + B1
    assert copies(client, "S1") == {}  # split: B2's 7 cannot be divided, not taken
    page = client.get("/sections/M1/figures", params={"fy": 2025})
    assert page.status_code == 200
    block = page.text.split('id="fig-print-copies"')[1].split("</table>")[0]
    assert "70枚" in block


def test_the_staff_of_the_successor_see_it_too(client, session, world, reorganised):
    factories.make_user(session, "leader.x1@test.example", section=reorganised["x1"],
                        role=factories.SectionRole.LEADER)
    session.commit()
    sign_in(client, "leader.x1@test.example")
    assert copies(client, "X1") == {"2025-10": 100, "2026-05": 200}


def test_the_desks_bureau_totals_count_each_section_under_its_bureau_now(client, reorganised):
    sign_in(client, "desk@test.example")
    page = client.get("/desk/figures", params={"figure": "print.copies", "fy": 2025})
    rows = [" ".join(r.split("</tr>")[0].split()) for r in
            page.text.split('id="totals"')[1].split("</table>")[0].split("<tr")[2:]]
    a_row = next(r for r in rows if "A部" in r)
    b_row = next(r for r in rows if "B部" in r)
    assert "70枚" in a_row  # A2 and B1, merged into M1 of 部局 A (A1 moved away)
    assert "107枚" in b_row  # A1, moved to 部局 B as X1, and B2 (split within B)
    assert not any("廃止" in r for r in rows)
