"""The signed session cookie: identity only (user id, session generation, how they signed in, times, CSRF
secret).

Idle and absolute lifetimes are enforced here; the cookie itself is Starlette's signed session. The generation is
checked against the user's row on every request (``auth.service.load_principal``): raising it there ends every
session of that person at once, including copies of the cookie.

The CSRF secret never appears in a response as it is: each render shows it masked with a fresh random
pad (``base64url(pad + (pad XOR secret))``, as Django does), so a compressed page whose size an attacker
watches while reflecting guesses into it tells them nothing about the secret (BREACH).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from app.config import Settings

SEEN_RESOLUTION = 60  # seconds: refresh "last seen" at most once a minute (fewer Set-Cookie headers)


def start(session: MutableMapping[str, Any], user_id: int, method: str, generation: int) -> None:
    """Begin a signed-in session; everything from before is dropped (session fixation)."""
    session.clear()
    now = int(time.time())
    session.update(uid=user_id, gen=generation, via=method, iat=now, seen=now, csrf=secrets.token_urlsafe(24))


def end(session: MutableMapping[str, Any]) -> None:
    """Forget this browser's session (the server-side end of all of them is ``auth.service.end_sessions``)."""
    session.clear()


def generation(session: MutableMapping[str, Any]) -> int:
    """The user's session generation when this session began (0 for cookies from before generations existed)."""
    value = session.get("gen", 0)
    return value if isinstance(value, int) else -1


def user_id(session: MutableMapping[str, Any], settings: Settings) -> int | None:
    """The signed-in user's id, or None when there is none or it has expired (then it is cleared)."""
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    now = int(time.time())
    iat, seen = session.get("iat", 0), session.get("seen", 0)
    if now - iat > settings.session_max_minutes * 60 or now - seen > settings.session_idle_minutes * 60:
        session.clear()
        return None
    if now - seen >= SEEN_RESOLUTION:
        session["seen"] = now
    return uid


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """A freshly masked CSRF token for this session (the secret is created for anonymous visitors too,
    for the sign-in form). Every call gives a different string; each one verifies."""
    secret = session.get("csrf")
    if not secret:
        secret = secrets.token_urlsafe(24)
        session["csrf"] = secret
    raw = secret.encode()
    pad = secrets.token_bytes(len(raw))
    return _b64(pad + _xor(pad, raw))


def csrf_valid(session: MutableMapping[str, Any], sent: str | None) -> bool:
    """Whether ``sent`` is a masked token of this session's secret (constant-time compare). The bare
    secret, a token of another session, a tampered or malformed one: all False."""
    secret = session.get("csrf")
    if not isinstance(secret, str) or not secret or not sent:
        return False
    raw = secret.encode()
    try:
        masked = base64.b64decode(sent + "=" * (-len(sent) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(masked) != 2 * len(raw) or _b64(masked) != sent:  # one spelling only (no unused bits flipped)
        return False
    pad, cipher = masked[: len(raw)], masked[len(raw):]
    return hmac.compare_digest(_xor(pad, cipher), raw)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
