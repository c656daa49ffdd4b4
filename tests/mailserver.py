"""A real SMTP server in the test process (aiosmtpd) that keeps what arrives, for the notification tests.

``hold``: a function called (in a worker thread, the server keeps serving others) with each message after it
arrived and before the server answers 250, so a test can keep a sender waiting mid-send."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.servers import free_port

REFUSED_DOMAIN = "refused.example"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.hold: Callable[[EmailMessage], None] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        if address.endswith("@" + REFUSED_DOMAIN):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        message = message_from_bytes(envelope.content, policy=default)
        with self.lock:
            self.messages.append(message)
        if self.hold is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold, message)
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


@contextmanager
def smtp_server(*, username: str | None = None, password: str | None = None):
    """(inbox, port) of a running SMTP server; with ``username``, AUTH LOGIN/PLAIN is required (no TLS)."""
    inbox = Inbox()
    options: dict = {}
    if username is not None:
        def check(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == username.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok, handled=False)  # the server answers 235 or 535 itself

        options = {"authenticator": check, "auth_required": True, "auth_require_tls": False}  # plain: a test server
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()  # its "AUTH without TLS" warning is silenced in pyproject.toml: this server is the test's own
    try:
        yield inbox, port
    finally:
        controller.stop()
