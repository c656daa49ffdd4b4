"""Who may do what, by page and by API, for every role; anonymous access; CSRF on every route that
changes something (found by walking the app's routes, so new routes are covered); no open redirect."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.web.urls import safe_next
from tests.conftest import csrf_from, sign_in
from tests.factories import field

ITEMS = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
         "briefing.bureau.paperless", "meeting.internal.no-paper-handouts", "meeting.external.advance-or-tablet"]
PUBLIC = {"/healthz", "/auth/login", "/auth/logout", "/auth/signed-out", "/auth/callback", "/auth/dev-login",
          "/api/v1/openapi.json"}
# State-changing routes that cannot carry our CSRF token, and why:
CSRF_EXEMPT = {
    ("/auth/callback", "POST"): "Entra's form_post; bound to this browser by state, nonce and PKCE (app.auth.flows)",
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PERSONAS = {
    "member": "member.a1@test.example",
    "leader": "leader.a1@test.example",
    "other_section": "member.b1@test.example",
    "desk": "desk@test.example",
    "admin": "admin@test.example",
}


def filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def app_routes(app) -> list[tuple[str, str]]:
    """Every (path, method) the app serves, from included routers too."""
    found = set()
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found.update((context.path, method) for method in route.methods)
    return sorted(found)


# --- anonymous ---------------------------------------------------------------------------------------
def test_anonymous_pages_redirect_to_sign_in_and_api_calls_get_401(client, app, world):
    checked = 0
    for path, method in app_routes(app):
        if method != "GET" or path in PUBLIC:
            continue
        url = filled(path)
        response = client.get(url)
        if path.startswith("/api/"):
            assert response.status_code == 401, path
            assert response.headers["WWW-Authenticate"] == "Bearer"
        else:
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/auth/login?next={url}", path
        checked += 1
    assert checked >= 8


def test_anonymous_changes_are_refused_even_with_a_csrf_token(client, app, world):
    token = csrf_from(client.get("/auth/login").text)
    for path, method in app_routes(app):
        if method not in UNSAFE or path in PUBLIC:
            continue
        response = client.request(method, filled(path), headers={"X-CSRF-Token": token})
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/auth/login?next="), (method, path)


# --- CSRF --------------------------------------------------------------------------------------------
def test_every_state_changing_route_refuses_a_request_without_the_csrf_token(client, app, world):
    sign_in(client, PERSONAS["admin"])
    unsafe = [(p, m) for p, m in app_routes(app) if m in UNSAFE]
    assert ("/auth/logout", "POST") in unsafe and ("/admin/users", "POST") in unsafe
    for path, method in unsafe:
        if (path, method) in CSRF_EXEMPT:
            continue
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            response = client.request(method, filled(path), headers=headers)
            assert response.status_code == 403, (method, path, response.text[:200])
            assert "トークン" in response.text, (method, path)
    assert client.get("/api/v1/me").status_code == 200  # still signed in: nothing was done
    assert set(CSRF_EXEMPT) <= set(unsafe)


def test_a_form_field_token_from_another_session_is_refused(client, new_client, world):
    sign_in(client, PERSONAS["admin"])
    other_token = sign_in(new_client(), PERSONAS["admin"])
    response = client.post("/admin/users", data={"csrf_token": other_token, "upn": "x@test.example",
                                                  "display_name": "x", "is_desk": "1"})
    assert response.status_code == 403


# --- the role matrix ---------------------------------------------------------------------------------
READ = {"member": True, "leader": True, "other_section": False, "desk": True, "admin": True}
EDIT = {"member": True, "leader": True, "other_section": False, "desk": False, "admin": False}
SUBMIT = {"member": False, "leader": True, "other_section": False, "desk": False, "admin": False}
OVERVIEW = {"member": False, "leader": False, "other_section": False, "desk": True, "admin": True}
ADMIN = {"member": False, "leader": False, "other_section": False, "desk": False, "admin": True}


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_reading_a_sections_sheet_by_page_and_api(client, world, persona):
    sign_in(client, PERSONAS[persona])
    page = client.get(f"/rounds/{world.round.id}/sections/A1")
    api = client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet")
    expected = 200 if READ[persona] else 403
    assert (page.status_code, api.status_code) == (expected, expected)
    if not READ[persona]:
        assert "所属の職員" in page.text and "所属の職員" in api.json()["detail"]


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_editing_a_sections_answers_by_page_and_api(client, world, persona):
    token = sign_in(client, PERSONAS[persona])
    headers = {"X-CSRF-Token": token}
    api = client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{ITEMS[0]}",
                     json={"status": "◎", "version": 0}, headers=headers)
    page = client.post(f"/rounds/{world.round.id}/sections/A1/items/{ITEMS[1]}",
                       data={field("status", ITEMS[1]): "○", field("version", ITEMS[1]): "0"}, headers=headers)
    expected = 200 if EDIT[persona] else 403
    assert (api.status_code, page.status_code) == (expected, expected), (api.text, page.text[:300])


def answer_everything(client, token, world):
    for key in ITEMS:
        response = client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}",
                              json={"status": "○", "version": 0}, headers={"X-CSRF-Token": token})
        assert response.status_code == 200


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_submitting_and_reopening_by_page_and_api(client, new_client, world, persona):
    member = new_client()
    answer_everything(member, sign_in(member, PERSONAS["member"]), world)
    token = sign_in(client, PERSONAS[persona])
    headers = {"X-CSRF-Token": token}
    base = f"/rounds/{world.round.id}/sections/A1"
    if SUBMIT[persona]:
        assert client.post(f"{base}/submit", headers=headers).status_code == 303  # page
        assert client.post(f"/api/v1{base}/reopen", json={"reason": "見直し"}, headers=headers).status_code == 200
        assert client.post(f"/api/v1{base}/submit", headers=headers).status_code == 200  # API
        assert client.post(f"{base}/reopen", headers=headers).status_code == 303
    else:
        assert client.post(f"{base}/submit", headers=headers).status_code == 403
        assert client.post(f"/api/v1{base}/submit", headers=headers).status_code == 403
        leader = new_client()
        leader_token = sign_in(leader, PERSONAS["leader"])
        assert leader.post(f"/api/v1{base}/submit", headers={"X-CSRF-Token": leader_token}).status_code == 200
        assert client.post(f"{base}/reopen", headers=headers).status_code == 403
        assert client.post(f"/api/v1{base}/reopen", json={}, headers=headers).status_code == 403


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_the_all_sections_overview(client, world, persona):
    sign_in(client, PERSONAS[persona])
    response = client.get(f"/rounds/{world.round.id}")
    if OVERVIEW[persona]:
        assert response.status_code == 200 and "B部" in response.text and "B部 一課" not in response.text
        one_bureau = client.get(f"/rounds/{world.round.id}?bureau=B")
        assert one_bureau.status_code == 200 and "B部 一課" in one_bureau.text and "A部 一課" not in one_bureau.text
    else:
        assert response.status_code == 303 and response.headers["location"] == "/"
    rows = client.get(f"/api/v1/rounds/{world.round.id}/scores?by=section").json()["rows"]
    codes = {s["section"]["code"] for s in rows}
    assert codes == ({"A1", "A2", "B1"} if OVERVIEW[persona] else {"B1" if persona == "other_section" else "A1"})


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_admin_pages_and_user_management(client, world, persona):
    token = sign_in(client, PERSONAS[persona])
    expected = 200 if ADMIN[persona] else 403
    for path in ("/admin", "/admin/users", f"/admin/users/{world.member_a.id}", "/admin/users/new",
                 "/admin/users-import", "/admin/audit"):
        response = client.get(path)
        assert response.status_code == expected, path
        if expected == 403:
            assert "管理者だけ" in response.text
    created = client.post("/admin/users", data={"csrf_token": token, "upn": "new.person@test.example",
                                                 "display_name": "新人", "unit_code": "A1", "role": "member"})
    assert created.status_code == (303 if ADMIN[persona] else 403)
    disabled = client.post(f"/admin/users/{world.member_b.id}/disable", data={"csrf_token": token})
    assert disabled.status_code == (303 if ADMIN[persona] else 403)
    menu = client.get("/auth/logout").text  # any page that knows who is signed in
    assert ('href="/admin"' in menu) is ADMIN[persona]


def test_an_api_token_cannot_reach_admin_pages(client, session, world):
    from app.auth import tokens

    _, clear = tokens.create(session, world.admin, name="BI", days=1)
    session.commit()
    response = client.get("/admin/users", headers={"Authorization": f"Bearer {clear}"})
    assert response.status_code == 403


# --- return-to -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "http:/evil.example",
    "javascript:alert(1)", "evil.example", " //evil.example", "/%0a/evil", "/\t/evil.example", "",
])
def test_next_never_leaves_the_site(value):
    target = safe_next(value)
    assert target.startswith("/") and not target.startswith(("//", "/\\"))
    assert "evil.example" not in target or target.startswith("/%0a")


def test_dev_sign_in_ignores_a_next_pointing_elsewhere(client, world):
    page = client.get("/auth/login", params={"next": "https://evil.example/"})
    assert 'name="next" value="/"' in page.text
    response = client.post("/auth/dev-login", data={"upn": PERSONAS["member"], "next": "//evil.example/",
                                                     "csrf_token": csrf_from(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get("/auth/login", params={"next": "https://evil.example/"}).headers["location"] == "/"
