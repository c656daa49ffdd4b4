"""The signed-in person of a request (session cookie or API token): the only code that reads identity
from the request. Routes take ``CurrentPrincipal`` (401 / sign-in redirect when nobody is signed in)
or ``AdminPrincipal`` (403 with the reason for anyone but an administrator)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy import Connection
from sqlmodel import Session

from app import db
from app.auth import permissions, tokens
from app.auth import service as auth_service
from app.auth.permissions import Principal
from app.config import Settings
from app.errors import Forbidden, LoginRequired
from app.web import session as web_session
from app.web.deps import DbSession

# Dependencies that only look at values already loaded are ``async def``: FastAPI runs a plain ``def``
# dependency in the thread pool, a hop that costs more than the check itself. Each depends on as few others as it
# can: FastAPI solves every dependency of every request anew (some fifty Python calls each), so the two below read
# the settings from the app rather than through ``SettingsDep``, and ``current_principal`` does not go through
# ``optional_principal``.


async def optional_principal(request: Request, session: DbSession) -> Principal | None:
    return await _principal(request, session)


async def current_principal(request: Request, session: DbSession) -> Principal:
    principal = await _principal(request, session)
    if principal is None:
        raise LoginRequired()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class SignedIn:
    """Who is asking, for a sync route that loads them in its own thread (``load()``), with its work: on
    PostgreSQL ``CurrentPrincipal`` reads the person in a hop to the thread pool of its own, then FastAPI hops
    there again for the route; a save, the hottest route, makes one hop for both. Nobody signed in is refused
    (401 / the sign-in page) before the route runs, as with ``CurrentPrincipal``; a session ended since sign-in
    is refused by ``load()``."""

    def __init__(self, request: Request, session: Session, principal: Principal | None) -> None:
        self._request, self._session, self._principal = request, session, principal

    def load(self) -> Principal:
        if self._principal is None:
            principal = _from_cookie(self._request, self._session, self._request.app.state.settings)
            if principal is None:
                raise LoginRequired()
            self._request.state.principal = self._principal = principal
        return self._principal


async def signed_in(request: Request, session: DbSession) -> SignedIn:
    if _bearer(request) is None and not db.reads_without_waiting(session):  # a session cookie, on PostgreSQL
        if web_session.user_id(request.session, request.app.state.settings) is None:
            raise LoginRequired()
        return SignedIn(request, session, getattr(request.state, "principal", None))
    return SignedIn(request, session, await current_principal(request, session))


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


async def _principal(request: Request, session: Session) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    settings = request.app.state.settings
    token = _bearer(request)
    if token is None and db.reads_without_waiting(session):
        # SQLite: one indexed read in the process, on the event loop (a hop to the thread pool and back costs
        # more), in a read of its own that neither takes nor waits for the write lock (db.read_first)
        with db.read_first(session) as reader:
            principal = _from_cookie(request, reader, settings)
    elif token is None:
        principal = await anyio.to_thread.run_sync(_from_cookie, request, session, settings)
    else:
        principal = await anyio.to_thread.run_sync(
            lambda: tokens.principal_for(session, token, method=request.method))
    request.state.principal = principal
    return principal


def _from_cookie(request: Request, session: Session | Connection, settings: Settings) -> Principal | None:
    uid = web_session.user_id(request.session, settings)
    if uid is None:
        return None
    principal = auth_service.load_principal(session, uid, generation=web_session.generation(request.session),
                                            dev=request.session.get("via") == "dev")
    if principal is None:  # disabled, removed or its sessions ended since sign-in
        web_session.end(request.session)
    return principal


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def admin_principal(principal: CurrentPrincipal) -> Principal:
    """The signed-in person, if an administrator (403 with the reason otherwise)."""
    refusal = permissions.why_not_admin(principal)
    if refusal:
        raise Forbidden(refusal)
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
