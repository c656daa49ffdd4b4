"""Notification use cases of the pages: where each 部局 and the desk are told (contact address, Teams webhook,
stored encrypted and never shown again), the notices that could not be sent and 「再送」, and each person's
通知設定 (non-essential notices turned off)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, update
from sqlmodel import Session, select

from app.auth import permissions
from app.auth import service as auth_service
from app.auth.permissions import Principal
from app.config import Settings
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc, today_jst
from app.notify import secrets
from app.notify.channels import valid_address, webhook_problem
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind
from app.outbox.models import NotifyChannel, OutboxMessage, OutboxState
from app.outbox.service import DESK, KINDS, bureau_scope, opted_out, set_opt_outs
from app.paging import Pager


def _require(refusal: str | None) -> None:
    if refusal:
        raise Forbidden(refusal)


@dataclass(frozen=True)
class ChannelRow:
    scope: str
    label: str
    unit_id: int | None
    contact_address: str
    webhook_host: str  # '' when no webhook is stored; the URL itself is never shown


def channels(session: Session, principal: Principal) -> list[ChannelRow]:
    """The desk, then every 部局 in force, with what is set for each."""
    _require(permissions.why_not_manage_notices(principal))
    stored = {c.scope: c for c in session.exec(select(NotifyChannel)).all()}
    targets = [(DESK, "業務DX相談窓口", None)] + [
        (bureau_scope(u.id), u.name, u.id) for u in orgs.units_in_force(session, today_jst(), UnitKind.BUREAU)]
    rows = []
    for scope, label, unit_id in targets:
        c = stored.get(scope)
        rows.append(ChannelRow(scope, label, unit_id, c.contact_address if c else "", c.webhook_host if c else ""))
    return rows


def save_channel(session: Session, settings: Settings, principal: Principal, *, scope: str, contact_address: str,
                 webhook_url: str, clear_webhook: bool) -> NotifyChannel:
    """Set a contact address and (when given) a new webhook URL; an empty URL keeps the stored one."""
    _require(permissions.why_not_manage_notices(principal))
    unit_id = None
    if scope != DESK:
        try:
            unit_id = int(scope.removeprefix("bureau:"))
        except ValueError:
            raise NotFound("この通知先はありません。") from None
        unit = session.get(Unit, unit_id)
        if unit is None or unit.kind != UnitKind.BUREAU or not scope.startswith("bureau:"):
            raise NotFound("この部局はありません。")
    errors: dict[str, str] = {}
    address = contact_address.strip()
    if address and not valid_address(address):
        errors["contact_address"] = "連絡先はメールアドレス（例: soumu@pref.toyama.lg.jp）を1つ入力してください。"
    url = webhook_url.strip()
    if url:
        problem = webhook_problem(url, settings)
        if problem:
            errors["webhook_url"] = problem
    if errors:
        raise InvalidInput("通知先を保存できませんでした。赤く示した項目を直してください。", fields=errors)
    row = session.exec(select(NotifyChannel).where(NotifyChannel.scope == scope)).first() or NotifyChannel(
        scope=scope, unit_id=unit_id)
    row.contact_address = address
    if url:
        row.webhook_encrypted = secrets.encrypt(settings, url)
        row.webhook_host = urlsplit(url).hostname or ""
    elif clear_webhook:
        row.webhook_encrypted = ""
        row.webhook_host = ""
    row.updated_at = now_utc()
    session.add(row)
    session.flush()
    auth_service.audit(session, "notify_channel", actor=principal,
                       detail={"scope": scope, "contact_address": address, "webhook_host": row.webhook_host})
    return row


@dataclass(frozen=True)
class FailedPage:
    rows: list[OutboxMessage]
    pager: Pager
    counts: dict[str, int]


def failed(session: Session, principal: Principal, page: int = 1, per_page: int = 50) -> FailedPage:
    _require(permissions.why_not_manage_notices(principal))
    where = OutboxMessage.state == OutboxState.FAILED.value
    total = session.exec(select(func.count()).select_from(OutboxMessage).where(where)).one()
    pager = Pager.of(page, per_page, total)
    rows = session.exec(select(OutboxMessage).where(where).order_by(OutboxMessage.id.desc())
                        .limit(per_page).offset(pager.offset)).all()
    counts = dict(session.exec(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    return FailedPage(list(rows), pager, counts)


def resend(session: Session, principal: Principal, message_id: int) -> None:
    """「再送」: a failed notice is due again now, with its attempts counted afresh (same Message-ID)."""
    _require(permissions.why_not_manage_notices(principal))
    done = session.connection().execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == OutboxState.FAILED.value)
        .values(state=OutboxState.PENDING.value, attempts=0, next_attempt_at=now_utc()))
    if done.rowcount != 1:
        if session.get(OutboxMessage, message_id) is None:
            raise NotFound("この通知はありません。")
        raise Conflict("この通知は送信できなかった状態ではありません（既に再送済みです）。")
    auth_service.audit(session, "notify_resend", actor=principal, detail={"message_id": message_id})


def my_settings(session: Session, principal: Principal) -> list[tuple[str, str, bool, bool]]:
    """(kind, label, essential, on) of every kind of notice, for 通知設定."""
    _require(permissions.why_not_set_own_notices(principal))
    off = opted_out(session, principal.user_id)
    return [(kind, k.label, k.essential, k.essential or kind not in off) for kind, k in KINDS.items()]


def save_my_settings(session: Session, principal: Principal, on: list[str]) -> None:
    _require(permissions.why_not_set_own_notices(principal))
    set_opt_outs(session, principal.user_id, [k for k, kind in KINDS.items() if not kind.essential and k not in on])
