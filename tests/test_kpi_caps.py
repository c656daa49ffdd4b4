"""Caps per 部局 (上限, issue 13.3): the desk sets a fiscal year's cap on a "lower is better" count per 部局
(full-width digits read, all or nothing, 409 on a stale version, audit log); the desk's figures page and JSON
show per 部局 the cap, what is used, what is left and the share used, and mark the 部局 over its cap in words
and a symbol."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from app.auth.models import AuditEvent
from app.config import PROJECT_ROOT
from app.kpis import service
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from app.kpis.models import KpiCap
from app.orgs.models import LinkKind, UnitLink
from tests import factories
from tests.conftest import sign_in

FY = 2025
PAPER = {"P1": 9000, "P2": 5000, "P3": 4000, "P4": 3000, "P5": 2500, "Q1": 1000, "Q2": 2000}  # P 23,500; Q 3,000


def catalogue() -> Catalogue:
    return Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))


@pytest.fixture
def caps_world(session):
    world = factories.build_desk_world(session)
    changes = []
    for code, sheets in PAPER.items():
        unit = world.sections[code]
        changes.append(service.Change(unit.id, date(2025, 6, 1), "paper.purchased", service.NOTHING, sheets // 2))
        changes.append(service.Change(unit.id, date(2025, 10, 1), "paper.purchased", service.NOTHING, sheets // 2))
        changes.append(service.Change(unit.id, date(2024, 10, 1), "paper.purchased", service.NOTHING, 99999))  # FY2024
    service.write_values(session, catalogue(), changes, actor_id=None, source="demo")
    session.commit()
    return world


def save(client, token, caps: dict[str, str], versions: dict[str, int] | None = None, *, figure="paper.purchased",
         fy=FY, with_token=True):
    form = {"figure": figure, "fy": str(fy)}
    if with_token:
        form["csrf_token"] = token
    for code, raw in caps.items():
        form[f"cap:{code}"] = raw
        form[f"version:{code}"] = str((versions or {}).get(code, 0))
    return client.post("/desk/figures/caps", data=form)


def caps_rows(html: str) -> dict[str, str]:
    table = html.split('id="caps"')[1].split("</table>")[0]
    rows = table.split("<tbody>")[1].split("<tr")[1:]
    return {row.split('<label for="f-cap-')[1].split('"')[0] if "f-cap-" in row else row: " ".join(row.split())
            for row in rows}


def caps_json(client, fy=FY, figure="paper.purchased") -> dict[str, dict]:
    found = client.get("/api/v1/figure-caps", params={"figure": figure, "fy": fy})
    assert found.status_code == 200, found.text
    return {r["bureau"]["code"]: r for r in found.json()["rows"]}


def test_desk_sets_caps_and_sees_used_left_and_over(client, caps_world, session):
    token = sign_in(client, "desk@test.example")
    saved = save(client, token, {"P": "３０，０００", "Q": "2,000枚", "E": ""})
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/desk/figures?figure=paper.purchased&fy=2025&caps_saved=2#caps"
    page = client.get(saved.headers["location"].split("#")[0])
    assert page.status_code == 200
    assert "2件の上限を保存しました" in page.text
    rows = caps_rows(page.text)
    assert 'value="30,000"' in rows["P"] and "23,500枚" in rows["P"] and "6,500枚" in rows["P"]
    assert "78.3%" in rows["P"] and "✓ 上限内" in rows["P"] and "超過" not in rows["P"]
    # over: a word and a symbol, not only a colour; the shortfall with ▲
    assert 'value="2,000"' in rows["Q"] and "3,000枚" in rows["Q"] and "▲1,000枚" in rows["Q"]
    assert "150.0%" in rows["Q"] and "⚠ 上限超過" in rows["Q"] and 'class="row--over"' in rows["Q"]
    assert "上限なし" in rows["E"]
    assert "上限を超えている部局: 1" in page.text
    found = caps_json(client)
    assert found["P"] == {"bureau": {"code": "P", "name": "P部"}, "cap": 30000, "used": 23500, "left": 6500,
                          "used_percent": 78.3, "over": False}
    assert found["Q"]["left"] == -1000 and found["Q"]["over"] is True and found["Q"]["used_percent"] == 150.0
    assert found["E"] == {"bureau": {"code": "E", "name": "E部"}, "cap": None, "used": 0, "left": None,
                          "used_percent": None, "over": False}
    events = session.exec(select(AuditEvent).where(AuditEvent.kind == "kpi_cap").order_by(AuditEvent.id)).all()
    details = [json.loads(e.detail) for e in events]
    assert [(d["bureau"], d["cap"]) for d in details] == [("P部（P）", ["なし", "30,000"]), ("Q部（Q）", ["なし", "2,000"])]
    assert all(d["figure"] == "コピー用紙購入枚数" and d["fy"] == "令和7年度" for d in details)


def test_a_changed_cap_and_a_removed_cap_are_recorded(client, caps_world, session):
    token = sign_in(client, "desk@test.example")
    assert save(client, token, {"P": "30000", "Q": "2000"}).status_code == 303
    assert save(client, token, {"P": "25000", "Q": ""}, {"P": 1, "Q": 1}).status_code == 303
    found = caps_json(client)
    assert found["P"]["cap"] == 25000 and found["Q"]["cap"] is None and found["Q"]["over"] is False
    assert session.exec(select(KpiCap).where(KpiCap.figure_key == "paper.purchased")).one().version == 2
    last = [json.loads(e.detail) for e in session.exec(select(AuditEvent).where(AuditEvent.kind == "kpi_cap")
                                                       .order_by(AuditEvent.id)).all()][-2:]
    assert [d["cap"] for d in last] == [["30,000", "25,000"], ["2,000", "なし"]]


@pytest.mark.parametrize(("typed", "message"), [
    ("0", "上限は1以上の整数で入力してください"),
    ("-5", "マイナスの値は入力できません"),
    ("▲5", "マイナスの値は入力できません"),
    ("たくさん", "数字で入力してください"),
    ("1.5", "小数は入力できません"),
    ("1,00", "桁区切りのカンマの位置が正しくありません"),
])
def test_bad_caps_are_refused_at_the_field_and_nothing_is_saved(client, caps_world, session, typed, message):
    token = sign_in(client, "desk@test.example")
    refused = save(client, token, {"P": "30000", "Q": typed})
    assert refused.status_code == 422
    assert "上限を保存できませんでした（保存済みの上限は変わっていません）" in refused.text
    assert message in caps_rows(refused.text)["Q"] and 'aria-invalid="true"' in caps_rows(refused.text)["Q"]
    assert f'value="{typed}"' in caps_rows(refused.text)["Q"]  # what was typed comes back
    assert session.exec(select(KpiCap)).all() == []  # the valid P was not saved either
    assert session.exec(select(AuditEvent).where(AuditEvent.kind == "kpi_cap")).all() == []


def test_a_stale_cap_is_refused_with_what_is_stored_now(client, caps_world, new_client):
    token = sign_in(client, "desk@test.example")
    assert save(client, token, {"P": "30000"}).status_code == 303
    other = new_client()
    other_token = sign_in(other, "admin@test.example")
    assert save(other, other_token, {"P": "20000"}, {"P": 0}).status_code == 409  # read before the desk saved
    refused = save(other, other_token, {"P": "20000"}, {"P": 0})
    assert "読み込んだ後に変更されました（現在: 30,000枚）" in refused.text
    assert caps_json(client)["P"]["cap"] == 30000


def test_only_the_desk_and_admins_set_caps_and_only_with_the_csrf_token(client, caps_world, new_client):
    token = sign_in(client, "leader.p1@test.example")
    refused = save(client, token, {"P": "30000"})
    assert refused.status_code == 403 and "業務DX相談窓口・管理者だけが設定できます" in refused.text
    assert client.get("/api/v1/figure-caps", params={"figure": "paper.purchased"}).status_code == 403
    desk = new_client()
    desk_token = sign_in(desk, "desk@test.example")
    assert save(desk, desk_token, {"P": "30000"}, with_token=False).status_code == 403
    assert caps_json(desk)["P"]["cap"] is None


def test_caps_only_for_lower_is_better_counts_and_past_or_current_years(client, caps_world):
    token = sign_in(client, "desk@test.example")
    refused = save(client, token, {"P": "10"}, figure="approvals.electronic-rate")
    assert refused.status_code == 422 and "には上限を設定できません" in refused.text
    assert save(client, token, {"P": "10"}, fy=2999).status_code == 422
    page = client.get("/desk/figures", params={"figure": "approvals.electronic-rate", "fy": FY})
    assert page.status_code == 200 and 'id="caps"' not in page.text
    assert client.get("/api/v1/figure-caps", params={"figure": "approvals.electronic-rate"}).status_code == 422


def test_used_counts_a_moved_section_under_its_bureau_now(client, caps_world, session):
    """Q2 moved to 部局 P in January 2026 (closed, continued as P9): its whole fiscal year counts under P."""
    world = caps_world
    q2 = world.sections["Q2"]
    q2.valid_to = date(2026, 1, 1)
    session.add(q2)
    p9 = factories.make_unit(session, "P9", "P部 9課", parent=world.bureaus["P"], valid_from=date(2026, 1, 1), position=9)
    session.add(UnitLink(predecessor_id=q2.id, successor_id=p9.id, kind=LinkKind.MOVE, effective_on=date(2026, 1, 1)))
    service.write_values(session, catalogue(), [service.Change(p9.id, date(2026, 2, 1), "paper.purchased",
                                                               service.NOTHING, 500)], actor_id=None, source="demo")
    session.commit()
    sign_in(client, "desk@test.example")
    found = caps_json(client)
    assert found["P"]["used"] == 23500 + 2000 + 500 and found["Q"]["used"] == 1000


def test_the_admins_audit_log_shows_cap_changes_in_words(client, caps_world, new_client):
    token = sign_in(client, "desk@test.example")
    assert save(client, token, {"P": "30000"}).status_code == 303
    admin = new_client()
    sign_in(admin, "admin@test.example")
    log = admin.get("/admin/audit", params={"kind": "kpi_cap"})
    assert log.status_code == 200
    text = " ".join(log.text.split())
    assert "実績値の上限の変更" in text and "P部（P）" in text and "コピー用紙購入枚数" in text
    assert "<dt>上限</dt><dd>なし → 30,000</dd>" in text
