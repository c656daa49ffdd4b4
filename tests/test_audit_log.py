"""The audit log: filtered by days (Japan time), person and kind in SQL, paged, refused with a message per
field when a condition is wrong, and downloaded as CSV (UTF-8 with BOM, the export's text rule). Admins only
(the access table has its line)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from app.auth.models import AuditEvent
from tests.conftest import sign_in


def event(session, at: datetime, kind: str, label: str, actor=None, detail: str = "{}") -> None:
    session.add(AuditEvent(at=at, kind=kind, actor_label=label, actor_id=actor.id if actor else None, detail=detail))


@pytest.fixture
def log(session, world):
    """Five events around the end of November (JST): 23:30 UTC on the 30th is already December 1st in Japan."""
    event(session, datetime(2025, 11, 29, 1, 0, tzinfo=UTC), "sign_in", "desk@test.example", world.desk)
    event(session, datetime(2025, 11, 30, 14, 59, tzinfo=UTC), "sign_in_failed", "stranger@test.example")  # 23:59 JST
    event(session, datetime(2025, 11, 30, 15, 0, tzinfo=UTC), "sign_in", "leader.a1@test.example",  # 12/1 0:00 JST
          world.leader_a)
    event(session, datetime(2025, 12, 2, 3, 0, tzinfo=UTC), "user_updated", "admin@test.example", world.admin,
          detail='{"user": "=HYPERLINK(\\"x\\")", "reason": "a\\u0007b"}')
    event(session, datetime(2025, 12, 3, 3, 0, tzinfo=UTC), "sign_in_failed", "-cmd@test.example")
    session.commit()
    return world


def ids_on(html: str) -> list[str]:
    return re.findall(r'<td class="upn">([^<]*)</td>', html)


def page(client, **params):
    return client.get("/admin/audit", params=params)


def test_the_log_is_filtered_by_days_in_japan_time_person_and_kind(client, log):
    sign_in(client, log.admin.upn)  # (its own sign-in event is today: outside every range below)
    nov = page(client, **{"from": "2025-11-01", "to": "2025-11-30"})
    assert ids_on(nov.text) == ["stranger@test.example", "desk@test.example"]
    assert "絞り込んだ記録 2件" in nov.text
    dec1 = page(client, **{"from": "2025-12-01", "to": "2025-12-01"})
    assert ids_on(dec1.text) == ["leader.a1@test.example"]  # 15:00 UTC on the 30th is 0:00 on the 1st in Japan
    since = page(client, **{"from": "2025-12-02", "to": "2025-12-31"})
    assert ids_on(since.text) == ["-cmd@test.example", "admin@test.example"]
    # the person: part of the label recorded, or of the name of who acted now (「リーダー A1」)
    assert ids_on(page(client, person="stranger").text) == ["stranger@test.example"]
    assert ids_on(page(client, person="リーダー").text) == ["leader.a1@test.example"]
    assert ids_on(page(client, person="%").text) == []  # a wildcard is a character like any other
    kind = page(client, kind="sign_in_failed", **{"to": "2025-12-31"})
    assert ids_on(kind.text) == ["-cmd@test.example", "stranger@test.example"]
    assert 'href="/admin/audit.csv?kind=sign_in_failed&amp;to=2025-12-31"' in kind.text
    assert page(client, person="nobody").text.count("条件に合う記録はありません") == 1


def test_paging_keeps_the_filter(client, session, world):
    for n in range(55):
        event(session, datetime(2025, 10, 1, 0, n, tzinfo=UTC), "sign_in_failed", f"try{n}@test.example")
    session.commit()
    sign_in(client, world.admin.upn)
    first = page(client, person="try", **{"from": "2025-10-01"})
    assert "絞り込んだ記録 55件（1/2ページ）" in first.text
    assert 'href="/admin/audit?person=try&amp;from=2025-10-01&amp;page=2"' in first.text
    second = page(client, person="try", page=2, **{"from": "2025-10-01"})
    assert ids_on(second.text) == [f"try{n}@test.example" for n in range(4, -1, -1)]


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"from": "2026-13-01"}, "from", "期間の始まりは「2026-04-01」の形（年-月-日）で入力してください。"),
    ({"to": "昨日"}, "to", "期間の終わりは「2026-04-01」の形（年-月-日）で入力してください。"),
    ({"from": "1999-12-31"}, "from", "期間の始まりは2000年以降の日付にしてください。"),
    ({"from": "2025-12-09", "to": "2025-12-01"}, "to", "期間の終わりは、始まりと同じ日か後の日にしてください。"),
    ({"kind": "drop_table"}, "kind", "種類は一覧から選んでください。"),
    ({"person": "a\u0000b"}, "person", "操作した人"),
    ({"person": "x" * 101}, "person", "操作した人は100文字以内で入力してください。"),
])
def test_a_wrong_condition_is_refused_at_its_field_and_nothing_is_listed(client, log, params, field, message):
    sign_in(client, log.admin.upn)
    response = page(client, **params)
    assert response.status_code == 422
    html = response.text
    assert "絞り込みの条件を確認してください。" in html
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert f'aria-describedby="{field}-error"' in html or f'{field}-error"' in html
    assert ids_on(html) == []
    assert client.get("/admin/audit.csv", params=params).status_code == 422  # the CSV refuses it the same way


def test_the_csv_holds_the_filtered_rows_with_a_bom_and_the_export_text_rule(client, log):
    sign_in(client, log.admin.upn)
    response = client.get("/admin/audit.csv", params={"from": "2025-12-01", "to": "2025-12-31"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-2025-12-01_2025-12-31.csv"')
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["ID", "日時", "種類", "操作した人", "内容"]
    assert [r[3] for r in rows[1:]] == ["'-cmd@test.example", "admin@test.example", "leader.a1@test.example"]
    assert rows[3][1] == "2025-12-01T00:00:00+09:00" and rows[3][2] == "サインイン"
    assert rows[2][4] == "対象: =HYPERLINK(\"x\")；理由: a\ufffdb"  # control character replaced, as in exports
    assert b"\r\n" in response.content
    everything = client.get("/admin/audit.csv")
    assert len(everything.content.decode("utf-8-sig").strip().split("\r\n")) == 1 + 5 + 1  # + the admin's sign-in


def test_only_an_admin_downloads_the_log(client, new_client, log):
    sign_in(client, log.desk.upn)
    assert client.get("/admin/audit.csv").status_code == 403
    assert new_client().get("/admin/audit.csv", follow_redirects=False).status_code in (303, 401)
