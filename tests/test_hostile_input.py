"""Hostile input: odd text is stored as typed and shown escaped, limits are refused with a clear 422,
oversized bodies are refused (413) before they are read in full, and every response carries the right
headers."""

from __future__ import annotations

import re
import socket
import time

import pytest
from markupsafe import escape
from sqlalchemy import inspect, select

from app.main import SESSION_COOKIE, create_app
from app.orgs.models import Unit
from app.sheets.models import Answer
from tests.conftest import make_settings, sign_in
from tests.factories import field
from tests.test_api import answer_all

ANSWER = "/api/v1/rounds/{rid}/sections/A1/answers/{key}"
SHEET = "/api/v1/rounds/{rid}/sections/A1/sheet"
PAGE = "/rounds/{rid}/sections/A1"
KEYS = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
        "briefing.bureau.paperless", "meeting.internal.no-paper-handouts",
        "meeting.external.advance-or-tablet"]

HOSTILE_MEMOS = {
    "html": '<b>太字</b> & <a href="javascript:alert(1)">リンク</a> "引用" \'単\'',
    "script": "</textarea><script>alert('xss')</script><img src=x onerror=alert(1)>",
    "sql": "'; DROP TABLE answer; -- \" OR 1=1 /* 備考 */",
    "control": "タブ\tと改行\nと\u00a0\u200b\u3000空白の仲間",  # control characters: tests/test_text_rule.py
    "bidi": "\u202e右から左\u202c \u200f\u200e\u2066混在\u2069 \ufeffBOM",
    "long": "長" * 2000,
}


def put(client, token, rid, key, **body):
    return client.put(ANSWER.format(rid=rid, key=key), json=body, headers={"X-CSRF-Token": token})


def test_hostile_memos_are_stored_exactly_as_typed_and_shown_escaped(client, world):
    token = sign_in(client, "member.a1@test.example")
    rid = world.round.id
    for key, (_name, memo) in zip(KEYS, HOSTILE_MEMOS.items(), strict=True):
        response = put(client, token, rid, key, status="○", memo=memo, version=0)
        assert response.status_code == 200, (key, response.text)
        assert response.json()["memo"] == memo
    items = {i["item_key"]: i["answer"]["memo"] for i in client.get(SHEET.format(rid=rid)).json()["items"]}
    assert [items[k] for k in KEYS] == list(HOSTILE_MEMOS.values())

    page = client.get(PAGE.format(rid=rid)).text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>太字</b>" not in page
    for memo in HOSTILE_MEMOS.values():
        assert str(escape(memo)) in page  # the textarea shows the memo, escaped
    assert inspect(world_engine(client)).has_table("answer")  # the SQL fragment was only text


def world_engine(client):
    return client.app.state.engine


def test_a_nul_character_is_refused_with_a_clear_message_on_every_database(client, world):
    """PostgreSQL cannot store NUL in text; both databases refuse it the same way (422), never 500."""
    token = sign_in(client, "member.a1@test.example")
    response = put(client, token, world.round.id, KEYS[0], status="◎", memo="前\x00後", version=0)
    assert response.status_code == 422
    assert "「U+0000（NUL）」" in response.json()["detail"]
    reopen = client.post(f"/api/v1/rounds/{world.round.id}/sections/A1/reopen", json={"reason": "a\x00b"},
                         headers={"X-CSRF-Token": token})
    assert reopen.status_code == 403  # a member may not reopen at all (the leader's case is the next test)
    login = client.post("/auth/dev-login", data={"upn": "x\x00@test.example"},
                        headers={"X-CSRF-Token": token})
    assert login.status_code in (404, 422)


def test_a_leaders_reopen_reason_with_nul_is_refused_and_the_sheet_stays_submitted(client, world):
    """The reason is kept in the history: NUL is refused (422) on the API and the page, the sheet stays
    submitted, and the same reopen without it goes through."""
    token = sign_in(client, "leader.a1@test.example")
    answer_all(client, token, world)
    submit = f"/api/v1/rounds/{world.round.id}/sections/A1/submit"
    assert client.post(submit, headers={"X-CSRF-Token": token}).status_code == 200
    reopen = submit.replace("submit", "reopen")
    refused = client.post(reopen, json={"reason": "修正\x00のため"}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 422, refused.text
    assert "NUL" in refused.json()["detail"] or "制御文字" in refused.json()["detail"]
    page = client.post(f"{PAGE.format(rid=world.round.id)}/reopen", data={"csrf_token": token, "reason": "修正\x00"})
    assert page.status_code == 422, page.text
    assert client.get(SHEET.format(rid=world.round.id)).json()["state"] == "submitted"
    reopened = client.post(reopen, json={"reason": "修正のため"}, headers={"X-CSRF-Token": token})
    assert reopened.status_code == 200 and reopened.json()["state"] == "draft"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": "◎", "memo": "長" * 10_000, "version": 0}, "2,000文字以内"),
        ({"status": "◎" * 10_000, "version": 0}, "status"),
        ({"status": "◎", "memo": "ok", "version": 10**30}, "version"),
        ({"status": "<script>", "version": 0}, "◎ ○ △ × 該当なし"),
        ({"status": "◎", "version": 0, "extra": "x" * 10_000}, "extra"),
    ],
)
def test_over_the_limit_input_gets_422_with_a_clear_message_and_changes_nothing(client, world, body, message):
    token = sign_in(client, "member.a1@test.example")
    response = put(client, token, world.round.id, KEYS[0], **body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    answer = client.get(SHEET.format(rid=world.round.id)).json()["items"][0]["answer"]
    assert (answer["status"], answer["memo"], answer["version"]) == (None, "", 0)


def test_odd_paths_and_sign_in_names_get_4xx_never_500(client, world):
    token = sign_in(client, "member.a1@test.example")
    rid = world.round.id
    for path in (f"/api/v1/rounds/{rid}/sections/{'A' * 10_000}/sheet",
                 f"/api/v1/rounds/{rid}/sections/A1%00/sheet",
                 f"/api/v1/rounds/{rid}/sections/A1/answers/{'k' * 10_000}",
                 f"/rounds/{rid}/sections/%3Cscript%3E",
                 "/rounds/99999999999999999999999/sections/A1"):
        response = client.get(path) if "answers" not in path else client.put(
            path, json={"status": "◎", "version": 0}, headers={"X-CSRF-Token": token})
        assert 400 <= response.status_code < 500, (path[:80], response.status_code)
    for upn in ("<script>@x", "' OR '1'='1", "x" * 10_000, "\u202eadmin@demo.example"):
        response = client.post("/auth/dev-login", data={"upn": upn}, headers={"X-CSRF-Token": token})
        assert response.status_code == 404, (upn[:40], response.status_code)


def test_names_with_markup_are_shown_escaped_on_the_pages(client, session, world):
    world.leader_a.display_name = '<script>alert("名")</script>'
    unit = session.get(Unit, world.a1.id)
    unit.name = '<img src=x onerror=alert(1)>課'
    session.add_all([world.leader_a, unit])
    session.commit()
    token = sign_in(client, "leader.a1@test.example")
    assert put(client, token, world.round.id, KEYS[0], status="◎", memo="", version=0).status_code == 200
    page = client.get(PAGE.format(rid=world.round.id)).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert str(escape('<script>alert("名")</script>')) in page
    assert str(escape("<img src=x onerror=alert(1)>課")) in page


def test_the_plain_form_stores_hostile_memos_as_typed(client, session, world):
    token = sign_in(client, "member.a1@test.example")
    rid = world.round.id  # read now: after the rollback below, world's rows would reload (and lock SQLite)
    memo = HOSTILE_MEMOS["script"] + HOSTILE_MEMOS["bidi"]
    response = client.post(PAGE.format(rid=rid),
                           data={"csrf_token": token, field("version", KEYS[0]): "0", field("status", KEYS[0]): "△",
                                 field("memo", KEYS[0]): memo})
    assert response.status_code == 303
    stored = session.scalars(select(Answer.memo).where(Answer.item_key == KEYS[0])).all()
    session.rollback()  # the test's session writes: end its transaction (SQLite's write lock) before going on
    assert memo in stored
    too_long = client.post(PAGE.format(rid=rid),
                           data={"csrf_token": token, field("version", KEYS[1]): "0", field("status", KEYS[1]): "△",
                                 field("memo", KEYS[1]): "字" * 10_000})
    assert too_long.status_code == 422 and "2,000文字以内" in too_long.text


# --- bodies too large --------------------------------------------------------------------------------


def _raw_request(base: str, head: str, body_chunks=None) -> tuple[bytes, int]:
    """Send a request over a plain socket; returns (the response, bytes of body sent before it came)."""
    host, port = base.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        if body_chunks is not None:
            sock.setblocking(False)
            for chunk in body_chunks:
                try:
                    if sock.recv(1, socket.MSG_PEEK):
                        break  # the server has answered: stop sending
                except BlockingIOError:
                    pass
                except (ConnectionResetError, BrokenPipeError):
                    break
                try:
                    sock.sendall(chunk)
                    sent += len(chunk)
                except BlockingIOError:
                    time.sleep(0.01)  # the server is not reading: wait for its answer
                except (ConnectionResetError, BrokenPipeError):
                    break
            sock.setblocking(True)
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < 200:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
        except (ConnectionResetError, TimeoutError):
            pass
    return data, sent


def test_a_declared_huge_body_is_refused_before_it_is_sent(app, world, live_server):
    base = live_server(app)
    head = (f"PUT /api/v1/rounds/{world.round.id}/sections/A1/answers/{KEYS[0]} HTTP/1.1\r\n"
            "Host: test\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n")
    response, _ = _raw_request(base, head)  # no body at all: waiting for it would hang, not answer
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert "大きすぎます".encode() in response


def test_a_chunked_body_is_refused_once_it_passes_the_limit(app, world, live_server):
    base = live_server(app)
    limit = app.state.settings.max_body_bytes
    head = (f"PUT /api/v1/rounds/{world.round.id}/sections/A1/answers/{KEYS[0]} HTTP/1.1\r\n"
            "Host: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"x" * 65536
    chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(50 * limit // len(piece)))  # 50× the limit
    response, sent = _raw_request(base, head, chunks)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 10 * limit  # refused long before the whole (50×) body was sent


# --- headers and cookies -----------------------------------------------------------------------------


def _csp(response) -> dict[str, str]:
    parts = (p.strip() for p in response.headers["content-security-policy"].split(";"))
    return {d.split()[0]: d for d in parts}


@pytest.mark.parametrize("path", ["/auth/login", "/healthz", "/api/v1/openapi.json", "/static/css/app.css",
                                  "/no-such-page"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = _csp(response)
    assert csp["script-src"] == "script-src 'self'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert csp["style-src"] == "style-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'" and csp["base-uri"] == "base-uri 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # not in development or test


def test_session_cookie_is_httponly_and_samesite_lax_and_not_secure_outside_production(client, world):
    page = client.get("/auth/login")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    cookie = cookie.lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def test_production_adds_hsts_and_a_secure_cookie(database_url):
    from fastapi.testclient import TestClient

    settings = make_settings(
        database_url, env="production", auth="msal",
        entra_tenant_id="11111111-2222-3333-4444-555555555555",
        entra_client_id="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        entra_client_secret="Zx8Q~realistic.secret_value-0123456789",
        entra_redirect_uri="https://paperless.pref.example.lg.jp/auth/callback",
    )
    app = create_app(settings)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            response = client.get("/no/such/page")  # any page: the session cookie carries the CSRF token
            assert response.status_code == 404
            assert response.headers["strict-transport-security"].startswith("max-age=31536000")
            cookie = response.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    finally:
        app.state.engine.dispose()


def test_templates_have_no_inline_script_style_or_event_handlers(project_root):
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    attribute = re.compile(r"\s(style|on[a-z]+)\s*=", re.I)
    offenders = []
    for path in sorted((project_root / "templates").glob("**/*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern in (inline_script, attribute):
            for match in pattern.finditer(text):
                offenders.append(f"{path.relative_to(project_root)}: {match.group(0).strip()}")
    assert not offenders, offenders

