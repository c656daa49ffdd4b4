"""Ending sessions on the server: a copy of a session cookie taken earlier is refused after sign-out, disabling,
a role change or the admin's 「この利用者のセッションをすべて終了」, by pages (sign-in redirect) and the API (401);
the audit log says so; other people's sessions go on."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from app.auth.models import AuditEvent
from app.main import SESSION_COOKIE
from tests.conftest import sign_in

MEMBER, OTHER, ADMIN = "member.a1@test.example", "member.b1@test.example", "admin@test.example"
TOKEN = re.compile(r'id="token-value"[^>]*value="(pct_[A-Za-z0-9_\-]+)"')


def holding(new_client, cookie: str):
    """Another browser holding a copy of a session cookie (as someone who took it at that moment)."""
    browser = new_client()
    browser.cookies.set(SESSION_COOKIE, cookie)
    return browser


def copy_works(new_client, cookie: str, upn: str) -> bool:
    return holding(new_client, cookie).get("/api/v1/me").json().get("upn") == upn


def assert_refused(new_client, cookie: str, world) -> None:
    """A page answers with the sign-in redirect and the API with a 401 JSON (each from a fresh copy: a refused
    request clears the cookie of the browser that sent it)."""
    sheet = f"/rounds/{world.round.id}/sections/A1"
    page = holding(new_client, cookie).get(sheet)
    assert page.status_code == 303 and page.headers["location"] == f"/auth/login?next={sheet}"
    api = holding(new_client, cookie).get("/api/v1/me")
    assert api.status_code == 401 and api.json() == {"code": "login_required", "detail": "サインインしてください。"}


def ended(session) -> list[dict]:
    rows = session.exec(select(AuditEvent).where(AuditEvent.kind == "sessions_ended").order_by(AuditEvent.id)).all()
    session.commit()  # end the read: the test session would otherwise hold SQLite's write lock
    return [json.loads(e.detail) for e in rows]


def signed_in(new_client, upn: str):
    browser = new_client()
    csrf = sign_in(browser, upn)
    return browser, csrf, browser.cookies[SESSION_COOKIE]


def test_sign_out_ends_every_session_of_that_person_and_no_one_elses(new_client, session, world):
    browser, csrf, copied = signed_in(new_client, MEMBER)
    tablet, _, _ = signed_in(new_client, MEMBER)
    other, _, _ = signed_in(new_client, OTHER)
    assert copy_works(new_client, copied, MEMBER)
    assert browser.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
    assert_refused(new_client, copied, world)
    assert tablet.get("/api/v1/me").status_code == 401  # the same person on another device
    assert other.get("/api/v1/me").json()["upn"] == OTHER
    assert ended(session) == [{"user": MEMBER, "reason": "sign_out"}]
    _, _, fresh = signed_in(new_client, MEMBER)  # signing in again works
    assert copy_works(new_client, fresh, MEMBER)


def test_disabling_ends_sessions_and_enabling_again_does_not_bring_them_back(client, new_client, session, world):
    csrf = sign_in(client, ADMIN)
    _, _, copied = signed_in(new_client, MEMBER)
    other, _, _ = signed_in(new_client, OTHER)
    url = f"/admin/users/{world.member_a.id}"
    assert client.post(f"{url}/disable", data={"csrf_token": csrf}).status_code == 303
    assert client.post(f"{url}/enable", data={"csrf_token": csrf}).status_code == 303
    assert_refused(new_client, copied, world)
    assert other.get("/api/v1/me").json()["upn"] == OTHER
    assert ended(session) == [{"user": MEMBER, "reason": "user_disabled"}]


def change(client, csrf, world, **fields):
    form = {"csrf_token": csrf, "upn": MEMBER, "display_name": "職員 A1", "unit_code": "A1", "role": "member"}
    response = client.post(f"/admin/users/{world.member_a.id}", data={**form, **fields})
    assert response.status_code == 303, response.text


def test_a_role_change_by_an_admin_ends_sessions_and_a_name_change_does_not(client, new_client, session, world):
    csrf = sign_in(client, ADMIN)
    _, _, copied = signed_in(new_client, MEMBER)
    other, _, _ = signed_in(new_client, OTHER)
    change(client, csrf, world, display_name="職員 A1（旧姓）")
    assert copy_works(new_client, copied, MEMBER) and ended(session) == []
    change(client, csrf, world, role="leader")
    assert_refused(new_client, copied, world)
    assert other.get("/api/v1/me").json()["upn"] == OTHER
    assert ended(session) == [{"user": MEMBER, "reason": "role_change"}]


def test_a_role_change_by_csv_import_ends_that_persons_sessions_only(client, new_client, session, world):
    csrf = sign_in(client, ADMIN)
    _, _, copied = signed_in(new_client, MEMBER)
    _, _, unchanged = signed_in(new_client, OTHER)
    csv = f"UPN,表示名,所属コード,役割\n{MEMBER},職員 A1,A1,leader\n{OTHER},職員 B1,B1,member\nnew@test.example,新人,B1,member\n"
    preview = client.post("/admin/users-import", data={"csrf_token": csrf},
                          files={"file": ("users.csv", csv.encode(), "text/csv")})
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text).group(1)
    response = client.post("/admin/users-import/apply", data={"csrf_token": csrf, "payload": payload})
    assert response.status_code == 303
    assert_refused(new_client, copied, world)
    assert copy_works(new_client, unchanged, OTHER)
    assert ended(session) == [{"user": MEMBER, "reason": "role_change"}]  # none for the person just added


def test_admin_ends_every_session_of_one_person(client, new_client, session, world):
    csrf = sign_in(client, ADMIN)
    _, _, copied = signed_in(new_client, MEMBER)
    other, _, _ = signed_in(new_client, OTHER)
    page = client.get(f"/admin/users/{world.member_a.id}")
    assert "この利用者のセッションをすべて終了" in page.text
    url = f"/admin/users/{world.member_a.id}/end-sessions"
    assert client.post(url, data={}).status_code == 403  # no CSRF token
    assert copy_works(new_client, copied, MEMBER)
    response = client.post(url, data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].endswith("?done=sessions_ended")
    assert "セッションをすべて終了しました" in client.get(response.headers["location"]).text
    assert_refused(new_client, copied, world)
    assert other.get("/api/v1/me").json()["upn"] == OTHER
    assert client.get("/api/v1/me").json()["upn"] == ADMIN  # the admin's own session goes on
    assert ended(session) == [{"user": MEMBER, "reason": "admin_ended"}]
    log = client.get("/admin/audit", params={"kind": "sessions_ended"}).text
    assert "セッションの終了" in log and "管理者による終了" in log and MEMBER in log
    assert client.post("/admin/users/9999/end-sessions", data={"csrf_token": csrf}).status_code == 404


def test_only_an_admin_may_end_someone_elses_sessions(new_client, session, world):
    _, _, copied = signed_in(new_client, MEMBER)
    for upn in ("desk@test.example", "leader.a1@test.example", OTHER):
        browser, csrf, _ = signed_in(new_client, upn)
        assert browser.post(f"/admin/users/{world.member_a.id}/end-sessions",
                            data={"csrf_token": csrf}).status_code == 403, upn
    assert copy_works(new_client, copied, MEMBER) and ended(session) == []


def test_api_tokens_are_separate_and_outlive_a_sign_out(new_client, world):
    browser, csrf, _ = signed_in(new_client, "desk@test.example")
    created = browser.post("/tokens", data={"csrf_token": csrf, "name": "Power BI", "days": "30"})
    token = TOKEN.search(created.text).group(1)
    assert browser.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
    response = new_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["upn"] == "desk@test.example"


def test_a_save_sent_with_a_copy_of_an_ended_session_is_refused_and_writes_nothing(new_client, session, world):
    """The saves read who is asking in their own thread (``SignedIn``): a session ended since sign-in is refused
    there as everywhere, through the API (401) and the sheet's row (the sign-in page), and nothing is written."""
    from tests.factories import field

    browser, csrf, copied = signed_in(new_client, MEMBER)
    key = "office.daily.keep-electronic"
    answer = f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}"
    assert browser.put(answer, json={"status": "○", "version": 0}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert browser.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
    api = holding(new_client, copied).put(answer, json={"status": "◎", "version": 1}, headers={"X-CSRF-Token": csrf})
    assert api.status_code == 401 and api.json() == {"code": "login_required", "detail": "サインインしてください。"}
    row = holding(new_client, copied).post(
        f"/rounds/{world.round.id}/sections/A1/items/{key}",
        data={field("status", key): "◎", field("memo", key): "", field("version", key): "1"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert row.status_code == 204 and row.headers["hx-redirect"].startswith("/auth/login"), row.headers
    sheet = holding(new_client, *signed_in(new_client, MEMBER)[2:]).get(
        f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()
    [saved] = [item["answer"] for item in sheet["items"] if item["item_key"] == key]
    assert (saved["status"], saved["version"]) == ("○", 1)


def test_a_save_by_nobody_signed_in_is_refused_before_its_body_is_read(new_client, world):
    """401, whatever the body: nobody signed in is refused before the route runs (``SignedIn`` as
    ``CurrentPrincipal``), not told what is wrong with what they sent."""
    browser = new_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/auth/login").text).group(1)
    answer = f"/api/v1/rounds/{world.round.id}/sections/A1/answers/office.daily.keep-electronic"
    refused = browser.put(answer, json={"status": ["◎"], "version": -1}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 401 and refused.json()["code"] == "login_required", refused.text
