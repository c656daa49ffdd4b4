"""The figures' JSON API: definitions, a 所属's flat table with ratios and per-employee figures, the desk's
flat table of every 所属; read with an API token as the other APIs."""

from __future__ import annotations

from datetime import date

from app.auth import tokens
from app.config import PROJECT_ROOT
from app.kpis import service
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from tests.conftest import sign_in


def _values(session, world):
    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    month = date(2025, 5, 1)
    changes = [service.Change(world.a1.id, month, k, service.NOTHING, v) for k, v in (
        ("print.copies", 2000), ("approvals.total", 100), ("approvals.electronic", 90),
        ("approvals.paper-required", 10))]
    changes.append(service.Change(world.a1.id, date(2025, 4, 1), "staff.count", service.NOTHING, 20))
    changes.append(service.Change(world.b1.id, month, "print.copies", service.NOTHING, 500))
    service.write_values(session, catalogue, changes, actor_id=None, source="demo")
    session.commit()


def test_definitions_are_in_the_api_and_the_openapi_schema(client, app, world):
    sign_in(client, "member.a1@test.example")
    body = client.get("/api/v1/figure-definitions").json()
    figures = {f["figure_key"]: f for s in body["sets"] for f in s["figures"]}
    excl = figures["approvals.electronic-rate-excl"]
    assert excl["formula"]["exclusions"] == "法令等で紙が必要な文書を除く" and excl["entered"] is False
    assert figures["fax.sent"]["item_keys"] == ["external.fax.no-fax"]
    schema = app.openapi()
    assert "/api/v1/figure-definitions" in schema["paths"] and "FigureDefinitionOut" in schema["components"]["schemas"]


def test_a_sections_figures_as_one_flat_table(client, session, world):
    _values(session, world)
    sign_in(client, "leader.a1@test.example")
    body = client.get("/api/v1/sections/A1/figures", params={"from": "2025-04", "to": "2025-06"}).json()
    rows = {(r["month"], r["figure_key"]): r for r in body["rows"]}
    assert rows[("2025-05", "print.copies")]["value"] == 2000 and rows[("2025-05", "print.copies")]["per_employee"] == 100
    assert rows[("2025-05", "approvals.electronic-rate")]["value"] == 90
    assert rows[("2025-05", "approvals.electronic-rate-excl")]["value"] == 100
    assert rows[("2025-04", "staff.count")]["value"] == 20 and ("2025-05", "staff.count") not in rows
    assert client.get("/api/v1/sections/B1/figures").status_code == 403
    assert client.get("/api/v1/sections/A1/figures", params={"from": "2099-01"}).status_code == 422
    assert client.get("/api/v1/sections/A1/figures", params={"from": "2020-01", "to": "2025-06"}).status_code == 422


def test_the_desk_reads_every_sections_values_with_a_token(client, session, world):
    _values(session, world)
    _, secret = tokens.create(session, world.desk, name="Power BI", days=30)
    session.commit()
    response = client.get("/api/v1/figures", params={"from": "2025-04", "to": "2025-06", "figure": "print.copies"},
                          headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert [(r["section"]["code"], r["bureau"]["code"], r["value"]) for r in rows] == [("A1", "A", 2000), ("B1", "B", 500)]
    sign_in(client, "leader.a1@test.example")
    assert client.get("/api/v1/figures").status_code == 403  # no named list of other 所属 for staff


def test_figures_download_as_csv_for_excel(client, session, world):
    _values(session, world)
    sign_in(client, "leader.a1@test.example")
    response = client.get("/api/v1/sections/A1/figures.csv", params={"from": "2025-05", "to": "2025-05"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff所属コード,所属,月,実績値キー,実績値,単位,値,職員1人当たり\r\n")
    assert "A1,A部 一課,2025-05,print.copies,複合機の印刷・コピー枚数,枚,2000,100\r\n" in text
    assert "A1,A部 一課,2025-05,approvals.electronic-rate-excl,電子決裁率（紙が必要な文書を除く）,%,100,\r\n" in text
    assert client.get("/api/v1/figures.csv").status_code == 403


def test_the_desk_downloads_every_sections_values_as_csv(client, session, world):
    _values(session, world)
    sign_in(client, "desk@test.example")
    text = client.get("/api/v1/figures.csv", params={"from": "2025-04", "to": "2025-06"}).content.decode("utf-8")
    assert "B1,B部 一課,B,B部,2025-05,print.copies,複合機の印刷・コピー枚数,枚,500\r\n" in text
    assert client.get("/api/v1/figures.csv", params={"from": "2024-01", "to": "2025-06"}).status_code == 422
