"""Sign-ins in progress, kept in a small signed cookie of their own, keyed by ``state``.

Why a cookie of its own: with ``response_mode=form_post`` Entra comes back with a cross-site POST,
which a ``SameSite=Lax`` session cookie does not ride on. This cookie is ``SameSite=None; Secure``
(when the redirect URI is https), limited to ``/auth/`` and to a few minutes, and holds only what
the callback needs: state, nonce, PKCE verifier and the page to return to. Keyed by state, so
several tabs signing in at once each find their own flow.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.auth.entra import PendingFlow
from app.config import Settings

COOKIE = "paperless_signin"
PATH = "/auth/"
MAX_AGE_SECONDS = 15 * 60  # a sign-in page left open longer than this has to start again
MAX_PENDING = 5  # tabs signing in at once; the oldest is forgotten first
MAX_NEXT_LENGTH = 512
_SALT = "paperless.signin-flows"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret(), salt=_SALT)


def pending(request: Request, settings: Settings) -> list[PendingFlow]:
    """The unexpired flows this browser started (an unreadable or forged cookie counts as none)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        data = _serializer(settings).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return []
    now = int(time.time())
    flows = []
    for entry in data if isinstance(data, list) else []:
        try:
            flow = PendingFlow(**entry)
        except TypeError:
            continue
        if now - flow.started <= MAX_AGE_SECONDS:
            flows.append(flow)
    return flows


def take(request: Request, settings: Settings, state: str | None) -> tuple[PendingFlow | None, list[PendingFlow]]:
    """The flow with this state (or None) and the flows left after removing it."""
    flows = pending(request, settings)
    found = next((f for f in flows if state and f.state == state), None)
    return found, [f for f in flows if f is not found]


def remember(request: Request, response: Response, settings: Settings, flow: PendingFlow) -> None:
    """Add ``flow`` to the browser's pending sign-ins."""
    if len(flow.next) > MAX_NEXT_LENGTH:
        flow = PendingFlow(**{**asdict(flow), "next": "/"})
    flows = [*pending(request, settings), flow][-MAX_PENDING:]
    store(response, settings, flows)


def store(response: Response, settings: Settings, flows: list[PendingFlow]) -> None:
    if not flows:
        response.delete_cookie(COOKIE, path=PATH, secure=_secure(settings), httponly=True,
                               samesite=_samesite(settings))
        return
    value = _serializer(settings).dumps([asdict(f) for f in flows])
    response.set_cookie(COOKIE, value, max_age=MAX_AGE_SECONDS, path=PATH, secure=_secure(settings),
                        httponly=True, samesite=_samesite(settings))


def _secure(settings: Settings) -> bool:
    return settings.entra_redirect_uri.startswith("https://")


def _samesite(settings: Settings) -> str:
    # form_post (https) needs the cookie on Entra's cross-site POST; a plain-http redirect URI uses
    # query mode, a top-level GET, on which Lax cookies are sent.
    return "none" if _secure(settings) else "lax"
