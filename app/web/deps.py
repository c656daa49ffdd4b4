"""Request dependencies every room uses: the database session, settings, the submitted form, CSRF.
(The signed-in person is ``app.auth.deps``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from starlette.datastructures import FormData

from app.config import Settings
from app.db import end_reads, session_for
from app.errors import Forbidden, Unavailable
from app.web import session as web_session

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_settings_dep(request: Request) -> Settings:  # async: no thread hop for a lookup
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; requests that change things take SQLite's write lock at BEGIN.

    The request waits (in the event loop, holding no thread) until the database gate admits it, so a
    burst of requests never holds more sessions than the pool has connections (see ``DbGate``).
    """
    write = request.method not in SAFE_METHODS
    async with request.app.state.db_gate.admit(write=write) as done_writing:
        session = session_for(request.app.state.engine, write=write)
        session.info["done_writing"] = done_writing  # see app.db.reads_from_here
        answered = False
        try:
            yield session
            answered = True
        except OperationalError as exc:
            raise Unavailable() from exc
        finally:
            # Ending an open transaction on PostgreSQL is a round trip: not on the event loop. Nothing is open
            # after a commit, and SQLite's ROLLBACK never leaves the process: close here. A request that only
            # read (or only reads since its commit, ``reads_from_here``) ends its reads with ``end_reads``.
            if session.in_transaction() and session.get_bind().dialect.name != "sqlite":
                only_reads = answered and (not write or session.info.get("only_reads", False))
                await anyio.to_thread.run_sync(end_reads if only_reads else Session.close, session,
                                               limiter=anyio.CapacityLimiter(1))
            else:
                session.close()


DbSession = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def csrf_protect(request: Request) -> None:
    """Refuse a state-changing request without a masked CSRF token of this session (header or form field)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not web_session.csrf_valid(request.session, sent):
        raise Forbidden(
            "安全のため、この操作は受け付けられませんでした（確認用トークンがないか古くなっています）。"
            "ページを再読み込みしてから、もう一度操作してください。",
            code="csrf",
        )


async def form_data(request: Request) -> FormData:
    """The submitted form (for pages whose field names depend on the checklist)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]
