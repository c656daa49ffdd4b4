"""Microsoft 365 sign-in end to end: the real msal library against a real OpenID Connect provider
(oidc-provider-mock) over TLS on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import urllib.parse

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.auth import flows
from app.auth.models import AuditEvent, User
from app.main import SESSION_COOKIE, create_app
from tests.conftest import csrf_from
from tests.factories import make_user
from tests.idp import (  # noqa: F401 (fixtures)
    TENANT,
    approve,
    callback_path,
    idp_fixture,
    idp_server_fixture,
    msal_settings,
    tls_cert_fixture,
    trust,
)


@pytest.fixture
def msal_app(database_url, idp):
    application = create_app(msal_settings(database_url, idp))
    yield application
    application.state.engine.dispose()


@pytest.fixture
def browser(msal_app):
    """A browser on the app in Microsoft 365 mode (its own cookies)."""
    clients = []

    def make() -> TestClient:
        c = TestClient(msal_app, follow_redirects=False)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(browser):
    return browser()


def start(client: TestClient, next_path: str = "/") -> str:
    response = client.get("/auth/login", params={"next": next_path})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def sign_in(client: TestClient, idp, sub: str, next_path: str = "/", *, post: bool = False):
    """Sign in as ``sub`` through the provider; returns the app's answer to the callback."""
    path, params = callback_path(approve(idp, start(client, next_path), sub))
    if post:  # what Entra's form_post does: the browser posts the same fields
        return client.post(path, data=params)
    return client.get(path, params=params)


def page_csrf(html: str) -> str:
    """The session's CSRF token as every page carries it (``<body hx-headers>``)."""
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def audit_kinds(session) -> list[tuple[str, dict]]:
    session.expire_all()
    events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    session.commit()  # end the read: the test session would otherwise hold SQLite's write lock
    return [(e.kind, json.loads(e.detail)) for e in events]


def test_login_sends_the_browser_to_entra_with_pkce_state_and_nonce(client, idp):
    location = start(client)
    parts = urllib.parse.urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{idp.issuer_base}/oauth2/authorize"
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert query["state"] and len(query["nonce"]) == 64  # SHA-256 hex of our nonce
    assert query["redirect_uri"] == "http://testserver/auth/callback"
    assert query["response_mode"] == "query"  # plain-http redirect URI; https uses form_post
    assert set(query["scope"].split()) == {"openid", "profile", "offline_access"}
    assert flows.COOKIE in client.cookies


def test_directory_member_lands_on_their_sheet_and_is_linked_by_upn(client, idp, session, world):
    response = sign_in(client, idp, "member.a1")
    assert response.status_code == 303 and response.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == f"/rounds/{world.round.id}/sections/A1"
    page = client.get(home.headers["location"])
    assert page.status_code == 200 and "A部 一課" in page.text
    session.expire_all()
    user = session.get(User, world.member_a.id)
    assert (user.tenant_id, user.object_id) == (TENANT, "00000000-0000-0000-0000-000000000001")
    assert user.last_sign_in_at is not None
    assert user.display_name == "職員 A1"  # the directory's name is kept
    kind, detail = audit_kinds(session)[-1]
    assert kind == "sign_in" and detail["method"] == "msal" and detail["how"] == "linked"


def test_upn_case_does_not_matter_and_leader_can_submit_after_sign_in(client, idp, world):
    assert sign_in(client, idp, "leader.a1").status_code == 303  # "Leader.A1@…" in Entra
    me = client.get("/api/v1/me").json()
    assert me["upn"] == "leader.a1@test.example" and me["roles"] == ["leader"]


def test_second_sign_in_finds_the_user_by_tenant_and_object_id_not_upn(client, browser, idp, session, world):
    assert sign_in(client, idp, "member.a1").status_code == 303
    session.expire_all()
    user = session.get(User, world.member_a.id)
    user.upn = "renamed@test.example"  # the directory row was changed meanwhile
    session.add(user)
    session.commit()
    other = browser()
    assert sign_in(other, idp, "member.a1").status_code == 303
    me = other.get("/api/v1/me").json()
    assert me["section"]["code"] == "A1"
    session.expire_all()
    assert session.get(User, world.member_a.id).upn == "member.a1@test.example"  # Entra's UPN is now shown


def test_entra_app_roles_grant_desk_and_admin_without_a_directory_row(browser, idp, session, world):
    desk = browser()
    assert sign_in(desk, idp, "desk.role").status_code == 303
    assert desk.get("/api/v1/me").json()["roles"] == ["desk"]
    assert desk.get("/").headers["location"] == f"/desk/board?round={world.round.id}"
    assert desk.get("/admin/users").status_code == 403

    admin = browser()
    assert sign_in(admin, idp, "admin.role").status_code == 303
    assert admin.get("/api/v1/me").json()["roles"] == ["admin"]  # "Unknown" app role is ignored
    assert admin.get("/admin/users").status_code == 200

    session.expire_all()
    created = session.exec(select(User).where(User.upn == "admin.role@test.example")).one()
    assert created.entra_roles == "admin" and not created.is_admin and created.display_name == "管理者（アプリロール）"
    changes = [d for k, d in audit_kinds(session) if k == "role_change"]
    assert {(d["user"], d["after"], d["source"]) for d in changes} == {
        ("desk.role@test.example", "desk", "entra"), ("admin.role@test.example", "admin", "entra")}


def test_new_entra_app_roles_end_that_persons_other_sessions(browser, idp, session, world):
    earlier = browser()
    assert sign_in(earlier, idp, "desk.role").status_code == 303
    user = session.exec(select(User).where(User.upn == "desk.role@test.example")).one()
    user.entra_roles = "admin"  # as if Entra granted another app role at that sign-in
    session.add(user)
    session.commit()
    bystander = browser()
    assert sign_in(bystander, idp, "member.a1").status_code == 303
    now = browser()
    assert sign_in(now, idp, "desk.role").status_code == 303  # roles back to "desk": a role change
    assert now.get("/api/v1/me").json()["roles"] == ["desk"]
    assert earlier.get("/api/v1/me").status_code == 401
    assert bystander.get("/api/v1/me").json()["upn"] == "member.a1@test.example"
    again = browser()
    assert sign_in(again, idp, "desk.role").status_code == 303  # the same roles: the others go on
    assert now.get("/api/v1/me").status_code == 200
    assert [d for k, d in audit_kinds(session) if k == "sessions_ended"] == [
        {"user": "desk.role@test.example", "reason": "role_change"}]


def test_next_page_is_reached_after_sign_in(client, idp, world):
    target = f"/rounds/{world.round.id}/sections/A1?saved=1"
    anonymous = client.get(target)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/auth/login?next=")
    login = client.get(anonymous.headers["location"])
    path, params = callback_path(approve(idp, login.headers["location"], "member.a1"))
    response = client.get(path, params=params)
    assert response.status_code == 303 and response.headers["location"] == target


def test_form_post_callback_signs_in_too(client, idp, world):
    response = sign_in(client, idp, "member.a1", post=True)
    assert response.status_code == 303
    assert client.get("/api/v1/me").json()["upn"] == "member.a1@test.example"


def test_forged_state_is_refused_and_nobody_is_signed_in(client, idp, session, world):
    location = start(client)
    approve(idp, location, "member.a1")
    response = client.get("/auth/callback", params={"code": "stolen", "state": "forged"})
    assert response.status_code == 400
    assert "サインインの確認情報" in response.text
    assert client.get("/api/v1/me").status_code == 401
    assert audit_kinds(session)[-1] == ("sign_in_failed", {"reason": "state", "ip": "testclient"})


def test_a_state_from_another_browser_is_refused(browser, idp, world):
    victim, attacker = browser(), browser()
    path, params = callback_path(approve(idp, start(attacker), "stranger"))
    response = victim.get(path, params=params)  # login CSRF: attacker's code in the victim's browser
    assert response.status_code == 400
    assert victim.get("/api/v1/me").status_code == 401


def test_provider_error_is_shown_and_nobody_is_signed_in(client, idp, world):
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start(client)).query))["state"]
    response = client.get("/auth/callback", params={"error": "access_denied", "state": state,
                                                    "error_description": "AADSTS50105: not assigned"})
    assert response.status_code == 400 and "取り消されたか、拒否されました" in response.text
    assert client.get("/api/v1/me").status_code == 401


def test_another_tenant_is_refused_with_whom_to_ask(client, idp, session, world, settings):
    response = sign_in(client, idp, "outsider")
    assert response.status_code == 403
    assert "組織（テナント）" in response.text and settings.desk_contact in response.text
    assert client.get("/api/v1/me").status_code == 401
    session.expire_all()
    assert session.exec(select(User).where(User.upn == "outsider@other.example")).first() is None
    assert audit_kinds(session)[-1][1]["reason"] == "wrong_tenant"


def test_unregistered_person_without_a_role_sees_why_and_nothing_else(client, idp, session, world, settings):
    response = sign_in(client, idp, "stranger")
    assert response.status_code == 403
    assert "利用者として登録されていません" in response.text and "stranger@test.example" in response.text
    assert settings.desk_contact in response.text
    assert "A部" not in response.text and "チェックシート" not in response.text
    assert client.get("/").status_code == 303  # to the sign-in again
    assert client.get("/api/v1/me").status_code == 401
    kind, detail = audit_kinds(session)[-1]
    assert (kind, detail["reason"]) == ("sign_in_failed", "not_registered")
    session.expire_all()
    assert session.exec(select(User).where(User.upn == "stranger@test.example")).first() is None


def test_disabled_user_is_refused(client, idp, session, world):
    make_user(session, "disabled@test.example", section=world.a1, is_active=False)
    session.commit()
    response = sign_in(client, idp, "disabled")
    assert response.status_code == 403 and "利用を停止されています" in response.text
    assert client.get("/api/v1/me").status_code == 401


def test_registered_without_section_or_role_is_refused(client, idp, session, world):
    make_user(session, "stranger@test.example")
    session.commit()
    response = sign_in(client, idp, "stranger")
    assert response.status_code == 403 and "所属も役割も登録されていません" in response.text


@pytest.mark.parametrize("mode", ["payload", "foreign_key"])
def test_tampered_id_token_is_refused(client, idp, session, world, mode):
    idp.tamper.mode = mode
    response = sign_in(client, idp, "member.a1")
    assert response.status_code == 400
    assert "IDトークン" in response.text
    assert client.get("/api/v1/me").status_code == 401
    assert audit_kinds(session)[-1][1]["reason"] == "signature"
    session.expire_all()
    assert session.get(User, world.member_a.id).entra_roles == ""


def test_logout_signs_out_of_entra_and_access_ends(client, idp, session, world):
    assert sign_in(client, idp, "member.a1").status_code == 303
    sheet = f"/rounds/{world.round.id}/sections/A1"
    token = csrf_from(client.get(sheet).text)
    assert client.post("/auth/logout", data={}).status_code == 403  # no CSRF token
    response = client.post("/auth/logout", data={"csrf_token": token})
    # A Refresh redirect (the CSP's form-action 'self' would stop a 303 to another site after a form post).
    assert response.status_code == 200
    refresh, location = response.headers["refresh"].split("; url=", 1)
    expected = urllib.parse.quote("http://testserver/auth/signed-out", safe="")
    assert refresh == "0"
    assert location == f"{idp.issuer_base}/oauth2/end_session?post_logout_redirect_uri={expected}"
    assert f'href="{location}"' in response.text.replace("&amp;", "&")
    assert client.get("/api/v1/me").status_code == 401
    assert client.get(sheet).status_code == 303
    assert [k for k, _ in audit_kinds(session)][-2:] == ["sign_out", "sessions_ended"]
    # Entra's page returns to ours, which signs nobody in again.
    with httpx.Client(verify=trust(idp)) as entra_browser:
        confirm = entra_browser.get(location)
        back = entra_browser.post(f"{idp.issuer_base}/oauth2/end_session/confirm",
                                  data={"redirect_uri": "http://testserver/auth/signed-out"})
    assert confirm.status_code == 200 and back.headers["location"] == "http://testserver/auth/signed-out"
    page = client.get("/auth/signed-out")
    assert page.status_code == 200 and "サインアウトしました" in page.text
    assert client.get("/api/v1/me").status_code == 401


def test_several_tabs_signing_in_at_once_each_finish(client, idp, world):
    first = start(client, f"/rounds/{world.round.id}/sections/A1")
    second = start(client, "/api/v1/me")
    first_cb = callback_path(approve(idp, first, "member.a1"))
    second_cb = callback_path(approve(idp, second, "member.a1"))
    done_second = client.get(second_cb[0], params=second_cb[1])
    assert done_second.headers["location"] == "/api/v1/me"
    done_first = client.get(first_cb[0], params=first_cb[1])
    assert done_first.status_code == 303
    assert done_first.headers["location"] == f"/rounds/{world.round.id}/sections/A1"
    replay = client.get(first_cb[0], params=first_cb[1])  # a flow is used once
    assert replay.status_code == 400


def test_session_is_rotated_at_sign_in_and_its_cookie_stays_small(client, idp, world, capsys):
    before = page_csrf(client.get("/auth/signed-out").text)
    for n in range(flows.MAX_PENDING + 2):
        start(client, f"/rounds/{world.round.id}/sections/A1?tab={n}")
    signin_cookie = client.cookies[flows.COOKIE]
    assert len(signin_cookie) < 2000
    response = sign_in(client, idp, "member.a1")
    set_cookie = [v for v in response.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE + "=")]
    assert len(set_cookie) == 1
    cookie = set_cookie[0]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    with capsys.disabled():
        print(f"\n[session cookie after Microsoft 365 sign-in: {len(value)} bytes; "
              f"sign-in cookie with {flows.MAX_PENDING} pending flows: {len(signin_cookie)} bytes]")
    assert len(value) < 1000  # far below the browsers' 4 KB limit
    # The CSRF secret is new too: a token from before sign-in no longer verifies.
    assert client.post("/auth/logout", data={"csrf_token": before}).status_code == 403
    after = client.get("/api/v1/me").json()["csrf_token"]
    assert client.post("/auth/logout", data={"csrf_token": after}).status_code < 400


def test_sign_in_cookie_keeps_only_the_newest_flows(client, idp, world):
    locations = [start(client, f"/?tab={n}") for n in range(flows.MAX_PENDING + 1)]
    oldest = callback_path(approve(idp, locations[0], "member.a1"))
    assert client.get(oldest[0], params=oldest[1]).status_code == 400
    newest = callback_path(approve(idp, locations[-1], "member.a1"))
    assert client.get(newest[0], params=newest[1]).headers["location"] == f"/?tab={flows.MAX_PENDING}"


def test_dev_sign_in_is_404_in_msal_mode(client, world):
    page = client.get("/auth/signed-out")
    response = client.post("/auth/dev-login", data={"upn": "admin@test.example", "csrf_token": page_csrf(page.text)})
    assert response.status_code == 404
    assert client.get("/api/v1/me").status_code == 401


def test_unreachable_provider_gives_a_clear_503(database_url, idp, world):
    app = create_app(msal_settings(database_url, idp, entra_authority_host="https://127.0.0.1:9"))
    with TestClient(app, follow_redirects=False) as c:
        response = c.get("/auth/login")
    app.state.engine.dispose()
    assert response.status_code == 503 and "Microsoft 365 のサインイン画面に接続できません" in response.text


def test_https_redirect_uri_uses_form_post_and_a_cross_site_sign_in_cookie(database_url, idp, world):
    app = create_app(msal_settings(database_url, idp, entra_redirect_uri="https://paperless.test/auth/callback"))
    with TestClient(app, base_url="https://paperless.test", follow_redirects=False) as c:
        response = c.get("/auth/login")
    app.state.engine.dispose()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["location"]).query))
    assert query["response_mode"] == "form_post"
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith(flows.COOKIE + "="))
    assert "samesite=none" in cookie.lower() and "secure" in cookie.lower() and "path=/auth/" in cookie.lower()


@pytest.mark.parametrize("kind", ["pem", "pfx"])
def test_a_certificate_credential_is_accepted_by_msal(database_url, idp, tmp_path, kind):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    from app.auth.entra import Entra

    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paperless")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    path = tmp_path / f"app.{kind}"
    if kind == "pem":
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(pkcs12.serialize_key_and_certificates(
            b"paperless", key, cert, None, serialization.BestAvailableEncryption(b"pass-phrase")))
    settings = msal_settings(database_url, idp, entra_client_secret="", entra_client_certificate_file=str(path),
                             entra_client_certificate_passphrase="pass-phrase" if kind == "pfx" else "")
    settings.check()
    entra = Entra(settings)
    auth_uri, flow = entra.begin("/")  # msal has parsed the credential and computed its thumbprint
    assert auth_uri.startswith(idp.issuer_base) and flow.state in auth_uri
    # The client assertion msal would send to the token endpoint is signed with our key.
    assertion = entra._app().client.client_assertion
    assertion = assertion() if callable(assertion) else assertion
    claims = jwt.decode(assertion, key.public_key(), algorithms=["PS256"], audience=f"{idp.issuer_base}/oauth2/token")
    assert claims["iss"] == claims["sub"] == settings.entra_client_id


def test_a_wrong_client_secret_is_refused_by_entra_with_a_page_for_the_administrator(database_url, idp, session,
                                                                                       world, settings):
    app = create_app(msal_settings(database_url, idp, entra_client_secret="an-expired-secret"))
    with TestClient(app, follow_redirects=False) as c:
        path, params = callback_path(approve(idp, start(c), "member.a1"))
        response = c.get(path, params=params)
        assert response.status_code == 400
        assert "クライアントシークレット" in response.text and "AADSTS7000215" in response.text
        assert settings.desk_contact in response.text
        assert c.get("/api/v1/me").status_code == 401
    app.state.engine.dispose()
    assert audit_kinds(session)[-1][1]["reason"] == "idp:invalid_client"


def test_a_code_redeemed_with_another_sign_ins_pkce_verifier_is_refused(client, idp, session, world):
    """Two sign-ins in one browser: the code of the second returned with the state of the first is redeemed
    with the first's PKCE verifier, which Entra refuses — the code is bound to the browser's own sign-in."""
    first, second = start(client), start(client)
    _, first_params = callback_path(approve(idp, first, "member.a1"))
    path, second_params = callback_path(approve(idp, second, "member.a1"))
    response = client.get(path, params={"code": second_params["code"], "state": first_params["state"]})
    assert response.status_code == 400
    assert "もう一度サインイン" in response.text and "AADSTS501481" in response.text
    assert client.get("/api/v1/me").status_code == 401
    assert audit_kinds(session)[-1][1]["reason"] == "idp:invalid_grant"
