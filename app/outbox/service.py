"""``enqueue``: write a notice into the outbox inside the caller's transaction (the event's own), so that the
notice exists exactly when the event does. Never commits, never sends."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from app.jpdate import now_utc
from app.outbox.models import Channel, NotifyChannel, NotifyOptOut, OutboxMessage, OutboxState


@dataclass(frozen=True)
class Kind:
    label: str
    essential: bool  # essential notices cannot be turned off on 通知設定


# Every kind of notice. Essential ones (reminders and what a person must act on) cannot be turned off.
KINDS: dict[str, Kind] = {
    "reminder": Kind("未提出の督促（締切のお知らせ）", True),
    "escalation": Kind("部局への督促の報告", True),
    "deadline_soon": Kind("締切3日前・前日のお知らせ（未提出の所属）", False),
    "consult_new": Kind("新しい相談（窓口あて）", False),
    "consult_answer": Kind("相談への窓口からの回答", False),
    "sheet_reopened": Kind("提出の取消（チェックシートの再開）", False),
    "sheet_sent_back": Kind("窓口からの差戻し（直して再提出）", True),
    "round_opened": Kind("調査回の開始", False),
    "round_closed": Kind("調査回の締切と結果", False),
}
KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")
DESK = "desk"


def bureau_scope(bureau_id: int) -> str:
    return f"bureau:{bureau_id}"


@dataclass(frozen=True)
class Notice:
    """What a notice says. ``body`` may contain ``{link}``, replaced with the absolute URL of ``link`` when sent."""

    kind: str
    subject: str
    body: str
    link: str = ""
    payload: dict | None = None


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(OutboxMessage)


def enqueue(session: Session, notice: Notice, *, channel: Channel, recipient: str, key: str,
            user_id: int | None = None, at: datetime | None = None) -> bool:
    """Write ``notice`` for ``recipient`` unless a row with ``key`` exists already (the same event enqueued
    again) or the person turned this kind off. True when a row was written."""
    if notice.kind not in KINDS:
        raise ValueError(f"unknown notice kind {notice.kind!r}")
    if user_id is not None and not KINDS[notice.kind].essential and notice.kind in opted_out(session, user_id):
        return False
    key = KEY_CHARS.sub("-", key)[:200]
    values = {
        "kind": notice.kind, "channel": channel.value, "recipient": recipient[:254], "user_id": user_id,
        "subject": notice.subject[:200], "body": notice.body,
        "payload": {**(notice.payload or {}), "link": notice.link}, "idempotency_key": key,
        "state": OutboxState.PENDING.value, "attempts": 0, "next_attempt_at": at or now_utc(), "last_error": "",
        "created_at": now_utc(),
    }
    statement = (_insert(session).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
                 .returning(OutboxMessage.id))  # a row back only when written (rowcount is not reliable here)
    return session.connection().execute(statement).first() is not None


def enqueue_mail(session: Session, notice: Notice, recipients: Iterable[tuple[int | None, str]], key: str) -> int:
    """One mail per (user id, address), keyed ``key`` + the address; returns how many rows were written."""
    written = 0
    for user_id, address in dict.fromkeys(recipients):
        if address:
            written += enqueue(session, notice, channel=Channel.MAIL, recipient=address, user_id=user_id,
                               key=f"{key}.{address}")
    return written


def enqueue_teams(session: Session, notice: Notice, scope: str, key: str) -> bool:
    """A Teams post to the desk's or a 部局's channel, when it has a webhook; False when it has none."""
    if not session.exec(select(NotifyChannel.id).where(NotifyChannel.scope == scope,
                                                       NotifyChannel.webhook_encrypted != "")).first():
        return False
    return enqueue(session, notice, channel=Channel.TEAMS, recipient=scope, key=f"{key}.teams.{scope}")


def contact_address(session: Session, scope: str) -> str:
    """The contact mail address of the desk or a 部局 ('' when none is set)."""
    return session.exec(select(NotifyChannel.contact_address).where(NotifyChannel.scope == scope)).first() or ""


def opted_out(session: Session, user_id: int) -> set[str]:
    return set(session.exec(select(NotifyOptOut.kind).where(NotifyOptOut.user_id == user_id)).all())


def set_opt_outs(session: Session, user_id: int, off: Iterable[str]) -> None:
    """Turn off exactly the non-essential kinds in ``off`` for a person (the others back on)."""
    wanted = {k for k in off if k in KINDS and not KINDS[k].essential}
    current = opted_out(session, user_id)
    for kind in current - wanted:
        row = session.exec(select(NotifyOptOut).where(NotifyOptOut.user_id == user_id,
                                                      NotifyOptOut.kind == kind)).one()
        session.delete(row)
    for kind in sorted(wanted - current):
        session.add(NotifyOptOut(user_id=user_id, kind=kind))
    session.flush()


def counts(session: Session) -> dict[str, int]:
    """Rows per state (the admin page's summary)."""
    rows = session.exec(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
    return {state: n for state, n in rows}
