"""Personal API tokens: created on a page or the CLI, shown once, stored hashed; read-only; revocable."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select

from app.auth import tokens
from app.auth.models import ApiToken
from app.jpdate import now_utc
from tests import factories
from tests.conftest import sign_in

TOKEN = re.compile(r'id="token-value"[^>]*value="(pct_[A-Za-z0-9_\-]+)"')
K1 = "office.daily.keep-electronic"


def create_on_page(client, csrf, name="Power BI 集計", days="30"):
    return client.post("/tokens", data={"csrf_token": csrf, "name": name, "days": days})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_desk_creates_a_token_shown_once_and_stored_only_hashed(client, session, world):
    csrf = sign_in(client, "desk@test.example")
    page = create_on_page(client, csrf)
    assert page.status_code == 200
    clear = TOKEN.search(page.text).group(1)
    assert "この画面でしか表示されません" in page.text
    row = session.exec(select(ApiToken).where(ApiToken.user_id == world.desk.id)).one()
    assert row.token_hash == tokens.digest(clear) and row.name == "Power BI 集計"
    assert timedelta(days=29, hours=23) < row.expires_at - now_utc() <= timedelta(days=30)
    # The clear token is in no column of any row, and never shown again.
    for query in ("SELECT * FROM api_token", "SELECT * FROM audit_event"):
        for values in session.execute(text(query)).all():
            assert all(clear not in str(v) for v in values), query
    session.commit()
    listing = client.get("/tokens").text
    assert clear not in listing and "Power BI 集計" in listing and "有効" in listing


def test_a_token_reads_the_api_and_the_exports(client, new_client, session, world):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎", "メモ")})
    _, clear = tokens.create(session, world.desk, name="pq", days=10)
    session.commit()
    reader = new_client()  # no cookie: the token alone
    assert reader.get("/api/v1/rounds", headers=bearer(clear)).status_code == 200
    assert reader.get(f"/api/v1/rounds/{world.round.id}/scores", headers=bearer(clear)).status_code == 200
    csv = reader.get(f"/api/v1/rounds/{world.round.id}/export.csv", headers=bearer(clear))
    assert csv.status_code == 200 and "メモ" in csv.content.decode("utf-8-sig")
    assert reader.get(f"/api/v1/rounds/{world.round.id}/export.xlsx?bureau=A", headers=bearer(clear)).status_code == 200
    history = reader.get(f"/api/v1/rounds/{world.round.id}/sections/A1/history", headers=bearer(clear))
    assert history.status_code == 200 and history.json()["total"] == 1


def test_a_token_never_changes_anything(client, new_client, session, world):
    _, desk_token = tokens.create(session, world.desk, name="pq", days=10)
    _, leader_token = tokens.create(session, world.leader_a, name="leader", days=10)
    session.commit()
    api = new_client()
    sheet = f"/api/v1/rounds/{world.round.id}/sections/A1"
    write = api.put(f"{sheet}/answers/{K1}", json={"status": "◎", "version": 0},
                    headers={**bearer(leader_token), "X-CSRF-Token": "x"})
    assert write.status_code == 403
    assert api.post(f"{sheet}/submit", headers=bearer(leader_token)).status_code == 403
    assert api.post("/tokens", data={"name": "x", "days": "1"}, headers=bearer(desk_token)).status_code == 403
    # The refusal does not depend on CSRF: the token's principal refuses every method but GET.
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        try:
            tokens.principal_for(session, leader_token, method=method)
        except Exception as exc:  # noqa: BLE001
            assert getattr(exc, "status_code", None) == 403 and "閲覧" in exc.message
        else:
            raise AssertionError(method)
    assert api.get(f"{sheet}/sheet", headers=bearer(leader_token)).json()["can_edit"] is False
    assert api.get(f"{sheet}/sheet", headers=bearer(leader_token)).json()["items"][0]["answer"]["version"] == 0
    # A leader's token exports only what the leader may: their own 所属.
    own = api.get(f"/api/v1/rounds/{world.round.id}/export.csv?section=A1", headers=bearer(leader_token))
    assert own.status_code == 200
    assert api.get(f"/api/v1/rounds/{world.round.id}/export.csv", headers=bearer(leader_token)).status_code == 403


def test_revoked_expired_and_unknown_tokens_are_refused(client, new_client, session, world):
    csrf = sign_in(client, "admin@test.example")
    clear = TOKEN.search(create_on_page(client, csrf, name="一時的").text).group(1)
    api = new_client()
    assert api.get("/api/v1/rounds", headers=bearer(clear)).status_code == 200
    row = session.exec(select(ApiToken).where(ApiToken.user_id == world.admin.id)).one()
    session.commit()
    assert client.post(f"/tokens/{row.id}/revoke", data={"csrf_token": csrf}).status_code == 303
    refused = api.get("/api/v1/rounds", headers=bearer(clear))
    assert refused.status_code == 401 and "無効" in refused.json()["detail"]
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert "取消済" in client.get("/tokens").text

    old, old_clear = tokens.create(session, world.desk, name="old", days=1)
    old.expires_at = now_utc() - timedelta(seconds=1)
    session.add(old)
    session.commit()
    assert api.get("/api/v1/rounds", headers=bearer(old_clear)).status_code == 401
    assert api.get("/api/v1/rounds", headers=bearer("pct_not-a-real-token")).status_code == 401
    # A disabled user's tokens stop working too.
    _, desk_clear = tokens.create(session, world.desk, name="desk", days=5)
    world.desk.is_active = False
    session.add(world.desk)
    session.commit()
    assert api.get("/api/v1/rounds", headers=bearer(desk_clear)).status_code == 401


def test_token_form_errors_are_tied_to_their_fields_and_create_nothing(client, session, world):
    csrf = sign_in(client, "desk@test.example")
    page = create_on_page(client, csrf, name="  ", days="0")
    assert page.status_code == 422
    assert "用途が分かる名前を入力してください" in page.text and "有効日数は1～366の整数" in page.text
    assert 'aria-describedby="token-name-hint token-name-error"' in page.text and 'aria-invalid="true"' in page.text
    assert create_on_page(client, csrf, name="x" * 101, days="abc").status_code == 422
    assert create_on_page(client, csrf, days="367").status_code == 422
    assert session.exec(select(ApiToken)).all() == []


def test_only_desk_and_admin_manage_tokens_and_only_their_own(client, new_client, session, world):
    csrf = sign_in(client, "leader.a1@test.example")
    assert client.get("/tokens").status_code == 403
    assert create_on_page(client, csrf).status_code == 403
    row, _ = tokens.create(session, world.admin, name="admin's", days=5)
    session.commit()
    desk = new_client()
    desk_csrf = sign_in(desk, "desk@test.example")
    assert desk.post(f"/tokens/{row.id}/revoke", data={"csrf_token": desk_csrf}).status_code == 404
    assert "admin's" not in desk.get("/tokens").text
    session.refresh(row)
    assert row.revoked_at is None
    session.commit()
    assert desk.post(f"/tokens/{row.id}/revoke", data={}).status_code == 403  # no CSRF token
