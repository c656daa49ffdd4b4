"""Responses are gzip-compressed, and the CSRF token in them is masked afresh on every response, so that
comparing the sizes of compressed pages tells an attacker nothing about the session's secret (BREACH)."""

from __future__ import annotations

import base64
import gc

from fastapi.testclient import TestClient

from tests.conftest import csrf_from, sign_in

ANSWER = "/api/v1/rounds/{rid}/sections/A1/answers/office.daily.keep-electronic"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GZIP = {"Accept-Encoding": "gzip"}


def save(client, world, token: str, version: int):
    return client.put(ANSWER.format(rid=world.round.id), headers={"X-CSRF-Token": token},
                      json={"status": "○", "version": version})


def unmasked(token: str) -> str:
    """The session's secret behind a masked token (what the server compared before masking)."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    half = len(raw) // 2
    return bytes(a ^ b for a, b in zip(raw[:half], raw[half:], strict=True)).decode()


def test_two_renders_show_different_tokens_and_both_verify_as_header_and_as_form_field(client, world):
    sign_in(client, "member.a1@test.example")
    first = csrf_from(client.get("/auth/logout").text)
    second = csrf_from(client.get("/auth/logout").text)
    assert first != second
    assert unmasked(first) == unmasked(second)  # one secret behind both
    assert save(client, world, first, 0).status_code == 200
    assert save(client, world, second, 1).status_code == 200
    assert client.post("/auth/logout", data={"csrf_token": first}).status_code == 303


def test_a_tampered_or_unmasked_token_is_refused(client, world):
    sign_in(client, "member.a1@test.example")
    token = csrf_from(client.get("/auth/logout").text)
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    for forged in (tampered, unmasked(token), token + "A", token[:-4], "!" + token[1:]):
        response = save(client, world, forged, 0)
        assert response.status_code == 403 and "トークン" in response.json()["detail"], forged
    for forged in (tampered, unmasked(token), "ä" * len(token)):
        assert client.post("/auth/logout", data={"csrf_token": forged}).status_code == 403
    assert save(client, world, token, 0).status_code == 200


def test_a_token_of_another_session_is_refused(client, new_client, world):
    sign_in(client, "member.a1@test.example")
    other = new_client()
    sign_in(other, "member.a1@test.example")
    assert save(client, world, csrf_from(other.get("/auth/logout").text), 0).status_code == 403


def test_pages_and_json_are_gzip_compressed_for_clients_that_accept_it(client, world):
    sign_in(client, "desk@test.example")
    page = client.get(f"/rounds/{world.round.id}/sections/A1", headers=GZIP)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["vary"]
    assert "<html" in page.text  # the client decompressed it
    api = client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet", headers=GZIP)
    assert api.headers["content-encoding"] == "gzip" and api.json()["items"]
    plain = client.get(f"/rounds/{world.round.id}/sections/A1", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_tiny_bodies_and_workbooks_are_sent_as_they_are(client, world):
    sign_in(client, "desk@test.example")
    assert "content-encoding" not in client.get("/healthz", headers=GZIP).headers
    workbook = client.get(f"/api/v1/rounds/{world.round.id}/export.xlsx", headers=GZIP)
    assert workbook.status_code == 200 and workbook.headers["content-type"] == XLSX
    assert "content-encoding" not in workbook.headers  # a zip already
    assert workbook.content[:2] == b"PK"


def test_a_running_app_keeps_its_start_up_objects_out_of_the_collectors_sight(app):
    """What start-up built is frozen while the app serves (no full collection walks it) and given back to
    the collector when it stops."""
    assert gc.get_freeze_count() == 0
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the modules, the app, its routes and models
    assert gc.get_freeze_count() == 0
