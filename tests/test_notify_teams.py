"""Teams Workflows webhooks: the URL is checked (https, allowed host pattern), stored encrypted and never
shown or logged again; notices are posted as an Adaptive Card to a local HTTPS receiver (a self-signed
certificate made here, trusted through PAPERLESS_TEAMS_CA_BUNDLE); 429 waits as long as Retry-After says."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import select

from app.auth.models import AuditEvent
from app.jpdate import now_utc
from app.notify.sender import Sender
from app.outbox.models import NotifyChannel, OutboxMessage
from tests.conftest import make_settings, sign_in

HOOK_PATH = "/workflows/abc123/triggers/manual/paths/invoke?api-version=1&sig=SECRET-SIGNATURE-42"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for "localhost" (made here), and its key."""
    folder = tmp_path_factory.mktemp("teams-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def receiver(cert, answers):
    """An HTTPS server playing the Workflows trigger: records each POST and answers from ``answers``
    ((status, headers) in turn; 202 when they run out)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "json": json.loads(body), "type": self.headers["Content-Type"]})
            status, headers = answers.pop(0) if answers else (202, {})
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}{HOOK_PATH}", received
    finally:
        server.shutdown()
        server.server_close()


def teams_settings(database_url, cert, **extra):
    return make_settings(database_url, teams_webhook_hosts="localhost", teams_ca_bundle=cert[0],
                         public_url="https://paperless.test.example", **extra)


@pytest.fixture
def settings(database_url, cert):
    """The app of these tests accepts webhooks on localhost and trusts the test certificate."""
    return teams_settings(database_url, cert)


def save_hook(client, token, url, scope="desk"):
    return client.post("/admin/notify-channels", data={"csrf_token": token, "scope": scope, "webhook_url": url,
                                                       "contact_address": ""})


def test_a_webhook_url_must_be_https_on_an_allowed_host_and_is_never_shown_or_stored_in_clear(
        client, session, world, cert):
    token = sign_in(client, "admin@test.example")
    plain = save_hook(client, token, "http://localhost:9/hook")
    assert plain.status_code == 422 and "https:// で始まる必要があります" in plain.text
    other = save_hook(client, token, "https://attacker.example.com/hook")
    assert other.status_code == 422 and "attacker.example.com" in other.text and "許可されていません" in other.text
    assert session.exec(select(NotifyChannel)).first() is None
    session.commit()
    url = f"https://localhost:8443{HOOK_PATH}"
    saved = save_hook(client, token, url)
    assert saved.status_code == 303
    page = client.get("/admin/notify-channels")
    assert "登録済み" in page.text and "localhost" in page.text and "SECRET-SIGNATURE-42" not in page.text
    row = session.exec(select(NotifyChannel).where(NotifyChannel.scope == "desk")).one()
    audits = " ".join(a.detail for a in session.exec(select(AuditEvent)).all())
    session.commit()
    assert "SECRET-SIGNATURE-42" not in row.webhook_encrypted and row.webhook_encrypted.startswith("gAAAAA")
    assert "SECRET-SIGNATURE-42" not in audits and "workflows" not in audits


def test_a_new_consultation_is_posted_to_the_desks_channel_as_an_adaptive_card(
        client, new_client, session, engine, world, cert, database_url, mail_sink):
    with receiver(cert, []) as (url, received):
        admin = new_client()
        assert save_hook(admin, sign_in(admin, "admin@test.example"), url).status_code == 303
        token = sign_in(client, "leader.a1@test.example")
        assert client.post("/sections/A1/consult", data={"csrf_token": token,
                                                         "request_message": "会議のペーパーレス化"}).status_code == 303
        result = Sender(engine, teams_settings(database_url, cert)).run_once()
        assert (result.retried, result.failed) == (0, 0)
    [post] = received
    assert post["path"] == HOOK_PATH and post["type"] == "application/json"
    message = post["json"]
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"], card["$schema"]) == (
        "AdaptiveCard", "1.4", "http://adaptivecards.io/schemas/adaptive-card.json")
    assert "新しい相談: A部 一課" in card["body"][0]["text"] and "会議のペーパーレス化" in card["body"][1]["text"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "ページを開く",
                                "url": "https://paperless.test.example/support/inbox"}]


@pytest.fixture
def mail_sink(monkeypatch):
    """Mail is not what these tests look at: the desk's mails are accepted without a relay."""
    from app.notify import channels

    monkeypatch.setattr(channels.Mailer, "send", lambda self, out: None)


def teams_row(session, database_url, engine, world):
    from app.outbox import notices
    from app.outbox.service import enqueue_teams

    notice = notices.round_closed(round_id=world.round.id, round_title=world.round.title,
                                  closes_on=world.round.closes_on)
    assert enqueue_teams(session, notice, "desk", key="closed")
    session.commit()


def state(session):
    [row] = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "teams")
                         .execution_options(populate_existing=True)).all()
    session.commit()
    return row


def test_429_waits_as_long_as_retry_after_says_then_the_card_goes_once(
        client, session, engine, world, cert, database_url, mail_sink):
    with receiver(cert, [(429, {"Retry-After": "900"})]) as (url, received):
        assert save_hook(client, sign_in(client, "admin@test.example"), url).status_code == 303
        teams_row(session, database_url, engine, world)
        settings = teams_settings(database_url, cert)
        start = now_utc()
        assert Sender(engine, settings, clock=lambda: start).run_once().retried == 1
        row = state(session)
        assert row.state == "pending" and "429" in row.last_error
        assert (row.next_attempt_at - start).total_seconds() == 900  # Retry-After, more than the 60 s backoff
        assert Sender(engine, settings, clock=lambda: start + dt.timedelta(seconds=899)).run_once().sent == 0
        assert Sender(engine, settings, clock=lambda: start + dt.timedelta(seconds=901)).run_once().sent == 1
    assert len(received) == 2 and state(session).state == "sent"


@pytest.mark.parametrize("status", [400, 404])
def test_a_webhook_that_refuses_stops_at_once_with_a_reason_and_no_url_in_it(
        client, session, engine, world, cert, database_url, mail_sink, caplog, status):
    with receiver(cert, [(status, {})]) as (url, received):
        assert save_hook(client, sign_in(client, "admin@test.example"), url).status_code == 303
        teams_row(session, database_url, engine, world)
        assert Sender(engine, teams_settings(database_url, cert)).run_once().failed == 1
    row = state(session)
    assert row.state == "failed" and f"（{status}）" in row.last_error and "URL を設定し直して" in row.last_error
    assert "SECRET-SIGNATURE-42" not in row.last_error + caplog.text and len(received) == 1


def test_an_untrusted_certificate_is_a_clear_error(client, session, engine, world, cert, database_url, mail_sink):
    with receiver(cert, []) as (url, received):
        assert save_hook(client, sign_in(client, "admin@test.example"), url).status_code == 303
        teams_row(session, database_url, engine, world)
        untrusting = make_settings(database_url, teams_webhook_hosts="localhost")
        assert Sender(engine, untrusting).run_once().retried == 1
    assert "TLS接続に失敗しました" in state(session).last_error and received == []
