"""A person signs in with Microsoft 365 in a real browser (Debian's Chromium through Playwright): the
app runs under uvicorn in a background thread, the provider is oidc-provider-mock over TLS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.sync_api import expect

from app.main import create_app
from tests.idp import idp_fixture, idp_server_fixture, msal_settings, tls_cert_fixture  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_app(database_url, idp) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(msal_settings(database_url, idp, entra_redirect_uri=f"{base}/auth/callback"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def page(chromium):
    # The provider's certificate is made at test time; the app itself is plain http on 127.0.0.1.
    context = chromium.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_member_signs_in_through_the_provider_page_and_reaches_their_sheet(live_app, page, idp, world):
    page.goto(f"{live_app}/")
    # Anonymous: the app sends the browser to the provider's sign-in page.
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    assert page.url.startswith(f"{idp.issuer_base}/oauth2/authorize")
    page.get_by_placeholder("sub").fill("member.a1")
    page.get_by_role("button", name="Authorize").click()
    # Back in the app, on the 所属's sheet.
    expect(page).to_have_url(f"{live_app}/rounds/{world.round.id}/sections/A1")
    expect(page.get_by_text("A部 一課").first).to_be_visible()
    expect(page.get_by_text("職員 A1")).to_be_visible()  # the signed-in person's name in the header
    # Sign out: the app, then the provider's end-session page, then our signed-out page.
    page.get_by_role("button", name="サインアウト").click()
    expect(page.get_by_role("heading", name="End Session")).to_be_visible()
    page.get_by_role("button", name="End session").click()
    expect(page).to_have_url(f"{live_app}/auth/signed-out")
    expect(page.get_by_role("heading", name="サインアウトしました")).to_be_visible()
    response = page.goto(f"{live_app}/api/v1/me")
    assert response is not None and response.status == 401


def test_a_person_without_registration_sees_why_in_the_browser(live_app, page, idp, world):
    page.goto(f"{live_app}/admin/users")
    page.get_by_placeholder("sub").fill("stranger")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("heading", name="サインインできませんでした")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("利用者として登録されていません")
    expect(page.get_by_text("stranger@test.example")).to_be_visible()
