"""Personal API tokens: read-only access to ``GET /api/v1/…`` and the exports (Power BI, Power Query).

A token is shown once when created; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlmodel import Session, select

from app.auth import service as auth_service
from app.auth.models import ApiToken, User
from app.auth.permissions import Principal
from app.errors import Forbidden, LoginRequired, NotFound
from app.jpdate import now_utc
from app.text import clean_text

PREFIX = "pct_"
MAX_DAYS = 366


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(session: Session, user: User, *, name: str, days: int) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token in clear (never stored)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"有効日数は1～{MAX_DAYS}日にしてください。")
    name = clean_text(name.strip(), "名前", multiline=False)  # InvalidText is a ValueError
    clear = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name[:100] or "APIトークン", token_hash=digest(clear),
                   expires_at=now_utc() + timedelta(days=days))
    session.add(row)
    session.flush()
    auth_service.audit(session, "token_created", actor=user, detail={"token_id": row.id, "days": days})
    return row, clear


def revoke(session: Session, user_id: int, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        raise NotFound("そのAPIトークンはありません。")
    if row.revoked_at is None:
        row.revoked_at = now_utc()
        session.add(row)


def list_for(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())))


def principal_for(session: Session, token: str, *, method: str) -> Principal:
    """The read-only Principal of a bearer token; 401 if unknown, revoked or expired; 403 for writes."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
    now = now_utc()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise LoginRequired("APIトークンが無効です（期限切れ・取消済み・誤り）。")
    if method not in ("GET", "HEAD"):
        raise Forbidden("APIトークンでは閲覧（GET）だけができます。")
    principal = auth_service.load_principal(session, row.user_id, read_only=True)
    if principal is None:
        raise LoginRequired("APIトークンの利用者が無効になっています。")
    return principal
