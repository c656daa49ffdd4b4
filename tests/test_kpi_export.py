"""The 「実績値」 worksheet of a round's XLSX export (issue 13, point 4): the figures of the exported 所属 per
month of the round's fiscal year, counts as stored and ratios computed; only the 所属 the export covers."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from app.config import PROJECT_ROOT
from app.kpis import service
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from tests.conftest import sign_in


@pytest.fixture
def figures(session, world):
    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    values = [(world.a1, date(2026, 10, 1), "print.copies", 12345), (world.a1, date(2026, 10, 1), "approvals.total", 80),
              (world.a1, date(2026, 10, 1), "approvals.electronic", 76), (world.a1, date(2026, 4, 1), "staff.count", 20),
              (world.b1, date(2026, 9, 1), "fax.sent", 7), (world.a1, date(2025, 10, 1), "print.copies", 999)]
    service.write_values(session, catalogue, [service.Change(u.id, m, k, service.NOTHING, v) for u, m, k, v in values],
                         actor_id=None, source="demo")
    session.commit()
    return world


def sheet_rows(content: bytes) -> tuple[list[str], list[list]]:
    wb = load_workbook(io.BytesIO(content))
    assert wb.sheetnames[:3] == ["集計", "所属別集計", "実績値"]
    ws = wb["実績値"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    header_at = next(i for i, r in enumerate(rows) if r[0] == "部局コード")
    return rows[header_at], [r for r in rows[header_at + 1:] if r[0]]


def test_the_desks_export_has_every_sections_figures_per_month(client, figures):
    sign_in(client, "desk@test.example")
    response = client.get(f"/api/v1/rounds/{figures.round.id}/export.xlsx")
    assert response.status_code == 200
    head, rows = sheet_rows(response.content)
    assert head[:5] == ["部局コード", "部局", "所属コード", "所属", "月"]
    column = {name.replace("\n", ""): i for i, name in enumerate(head)}  # the unit on a line of its own
    by_row = {(r[2], r[4]): r for r in rows}
    assert set(by_row) == {("A1", "令和8年4月"), ("A1", "令和8年10月"), ("B1", "令和8年9月")}  # FY2026 only
    october = by_row[("A1", "令和8年10月")]
    assert october[column["複合機の印刷・コピー枚数（枚）"]] == 12345
    assert october[column["電子決裁率（%）"]] == 95.0  # 76 / 80, computed
    assert october[column["職員数（人）"]] == "—"  # a yearly figure: on the April row
    assert by_row[("A1", "令和8年4月")][column["職員数（人）"]] == 20
    assert by_row[("B1", "令和8年9月")][column["FAX送信件数（件）"]] == 7


def test_a_leaders_export_has_only_their_own_sections_figures(client, figures):
    sign_in(client, "leader.a1@test.example")
    response = client.get(f"/api/v1/rounds/{figures.round.id}/export.xlsx", params={"section": "A1"})
    assert response.status_code == 200
    _, rows = sheet_rows(response.content)
    assert {r[2] for r in rows} == {"A1"}
