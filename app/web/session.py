"""The signed session cookie: identity only (user id, session generation, how they signed in, times, CSRF token).

Idle and absolute lifetimes are enforced here; the cookie itself is Starlette's signed session. The generation is
checked against the user's row on every request (``auth.service.load_principal``): raising it there ends every
session of that person at once, including copies of the cookie.
"""

from __future__ import annotations

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
    """The CSRF token of this session (created for anonymous visitors too, for the sign-in form)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token
