"""Loading the signed-in person, Microsoft 365 (Entra ID) sign-in, development sign-in, audit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam
from sqlmodel import Session, select

from app.auth.entra import Identity
from app.auth.models import AuditEvent, Membership, SectionRole, User
from app.auth.permissions import Principal
from app.errors import NotFound
from app.jpdate import now_utc, today_jst
from app.orgs import service as orgs
from app.orgs.models import Unit
from app.text import scrub

_PRINCIPAL = (
    select(User.upn, User.display_name, User.is_active, User.is_admin, User.is_desk, User.entra_roles,
           User.session_generation, Membership.unit_id, Membership.role)
    .outerjoin(Membership, Membership.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)


def load_principal(session: Session | Connection, user_id: int, *, generation: int | None = None,
                   read_only: bool = False, dev: bool = False) -> Principal | None:
    """The Principal for an active user, or None (unknown or disabled, or, for a session cookie, a session ended
    since: ``generation`` is the one the cookie was started with, checked on the row this query loads).
    One prebuilt statement (the user and its memberships): it runs on every request. ``session`` may be a
    connection (``app.db.read_first``: read before the request's own transaction)."""
    if isinstance(session, Session):
        session.flush()  # pending ORM changes first (a role just changed in this transaction)
        session = session.connection()
    rows = session.execute(_PRINCIPAL, {"user_id": user_id}).all()
    if not rows:
        return None
    upn, display_name, is_active, is_admin, is_desk, entra_roles, session_generation = rows[0][:7]
    if not is_active or (generation is not None and generation != session_generation):
        return None
    entra = set(filter(None, entra_roles.split(",")))
    return Principal(
        user_id=user_id,
        upn=upn,
        display_name=display_name,
        is_admin=is_admin or "admin" in entra,
        is_desk=is_desk or "desk" in entra,
        sections={unit_id: SectionRole(role) for *_, unit_id, role in rows if unit_id is not None},
        read_only=read_only,
        dev=dev,
    )


def end_sessions(session: Session, user: User, *, actor: User | Principal, reason: str) -> None:
    """End every signed-in session of ``user`` at once (all browsers, and any copy of a cookie), and audit it.

    ``reason``: sign_out, user_disabled, role_change or admin_ended. The increment is done by the database, so two
    concurrent calls both count. API tokens are not affected (they are revoked on their own page).
    """
    user.session_generation = User.session_generation + 1
    session.add(user)
    session.flush()
    audit(session, "sessions_ended", actor=actor, detail={"user": user.upn, "reason": reason})


def own_sections(session: Session, principal: Principal) -> list[Unit]:
    """The 所属 a person belongs to, by code (one query, however many)."""
    if not principal.sections:
        return []
    return list(session.exec(select(Unit).where(Unit.id.in_(list(principal.sections))).order_by(Unit.code)))


def find_user_by_upn(session: Session, upn: str) -> User | None:
    return session.exec(select(User).where(User.upn == upn.strip().lower())).first()


# Why a Microsoft 365 sign-in is refused (shown to the person, with whom to ask).
REFUSALS = {
    "wrong_tenant": "このアカウントの組織（テナント）では、このシステムを利用できません。"
                    "富山県の Microsoft 365 アカウントでサインインしてください。",
    "not_registered": "このアカウントは、このシステムの利用者として登録されていません。",
    "disabled": "このアカウントは、このシステムの利用を停止されています。",
    "no_role": "このアカウントには、所属も役割も登録されていません。",
}


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    refusal: str = ""  # a key of REFUSALS when user is None

    @property
    def message(self) -> str:
        return REFUSALS.get(self.refusal, "")


def sign_in_with_entra(session: Session, identity: Identity, *, tenant_id: str, ip: str = "") -> SignInResult:
    """Find (or, for Entra app roles, create) the user for a verified identity; record the outcome.

    Users are found by tenant + object id. The UPN only links a directory row that no Entra account
    has claimed yet, on that person's first sign-in. Entra app roles ``Admin`` / ``ConsultationDesk``
    are stored on the user at every sign-in and grant admin / desk without a directory row.
    """
    label = scrub(identity.upn or identity.object_id, multiline=False)
    if identity.tenant_id != tenant_id:
        return _refuse(session, "wrong_tenant", label, ip, tid=identity.tenant_id)
    user = session.exec(
        select(User).where(User.tenant_id == identity.tenant_id, User.object_id == identity.object_id)
    ).first()
    how = "known"
    if user is None and identity.upn:
        candidate = find_user_by_upn(session, identity.upn)
        if candidate is not None and candidate.object_id is None:
            user, how = candidate, "linked"
    granted = identity.granted_roles
    if user is None:
        if not granted:
            return _refuse(session, "not_registered", label, ip)
        user = User(upn=_free_upn(session, identity), display_name=scrub(identity.name or label, multiline=False)[:100],
                    tenant_id=identity.tenant_id, object_id=identity.object_id)
        how = "created"
    if not user.is_active:
        return _refuse(session, "disabled", label, ip, user=user)
    if how == "linked":
        user.tenant_id, user.object_id = identity.tenant_id, identity.object_id
    elif how == "known" and identity.upn and identity.upn != user.upn and find_user_by_upn(session, identity.upn) is None:
        audit(session, "user_updated", actor=user, detail={"source": "entra", "upn": [user.upn, identity.upn]})
        user.upn = identity.upn
    before = user.entra_roles
    user.entra_roles = ",".join(granted)
    session.add(user)
    session.flush()
    if before != user.entra_roles or how == "created":
        audit(session, "role_change", actor=user, detail={
            "user": user.upn, "source": "entra", "before": before, "after": user.entra_roles})
        if how == "known":  # the person may be signed in elsewhere with the old roles
            end_sessions(session, user, actor=user, reason="role_change")
    has_section = session.exec(select(Membership.id).where(Membership.user_id == user.id)).first() is not None
    if not (has_section or user.is_admin or user.is_desk or granted):
        return _refuse(session, "no_role", label, ip, user=user)
    user.last_sign_in_at = now_utc()
    session.add(user)
    audit(session, "sign_in", actor=user, detail={"method": "msal", "ip": ip, "how": how,
                                                  "roles": user.entra_roles})
    return SignInResult(user)


def _free_upn(session: Session, identity: Identity) -> str:
    """The UPN for a new row: the claimed one, unless another row already has it (then tid/oid based)."""
    if identity.upn and find_user_by_upn(session, identity.upn) is None:
        return identity.upn
    return f"{identity.object_id}@{identity.tenant_id}"[:254]


def _refuse(session: Session, reason: str, label: str, ip: str, *, user: User | None = None, **detail) -> SignInResult:
    record_failed_sign_in(session, reason, label=label, ip=ip, user=user, **detail)
    return SignInResult(None, reason)


def record_failed_sign_in(session: Session, reason: str, *, label: str = "", ip: str = "",
                          user: User | None = None, **detail) -> None:
    audit(session, "sign_in_failed", actor=user, label=label or "（不明）",
          detail={"reason": reason, "ip": ip, **detail})


def dev_sign_in(session: Session, upn: str) -> User:
    user = find_user_by_upn(session, upn)
    if user is None or not user.is_active:
        raise NotFound("そのデモユーザーはいません。")
    user.last_sign_in_at = now_utc()
    session.add(user)
    audit(session, "sign_in", actor=user, detail={"method": "dev"})
    return user


def sign_out(session: Session, principal: Principal, *, ip: str = "") -> None:
    """Sign-out ends every session of the person, not only this browser's (see docs/auth.md)."""
    audit(session, "sign_out", actor=principal, detail={"ip": ip})
    user = session.get(User, principal.user_id)
    if user is not None:
        end_sessions(session, user, actor=principal, reason="sign_out")


def audit(session: Session, kind: str, *, actor: User | Principal | None = None, label: str = "",
          detail: dict | None = None) -> None:
    session.add(
        AuditEvent(
            actor_id=getattr(actor, "user_id", None) or getattr(actor, "id", None),
            actor_label=label or getattr(actor, "upn", ""),
            kind=kind,
            detail=json.dumps(detail or {}, ensure_ascii=False),
        )
    )


DEV_PICKER_LIMIT = 600


def dev_users(session: Session) -> list[User]:
    """Who the development sign-in page offers: active users, the desk and admins first."""
    query = select(User).where(User.is_active).order_by(User.is_admin.desc(), User.is_desk.desc(), User.id)
    return list(session.exec(query.limit(DEV_PICKER_LIMIT)).all())


@dataclass
class DemoGroup:
    title: str
    entries: list[tuple[str, str, str]] = field(default_factory=list)  # (upn, label, role label)


def group_dev_users(session: Session, users: list[User]) -> list[DemoGroup]:
    """Users for the development sign-in page: the desk and admins first, then by 部局 and 所属."""
    if not users:
        return []
    staff = DemoGroup("管理者・業務DX相談窓口")
    for user in users:
        if user.is_admin or user.is_desk:
            staff.entries.append((user.upn, user.display_name, "管理者" if user.is_admin else "業務DX相談窓口"))
    rows = session.exec(
        select(Membership, Unit, User)
        .join(Unit, Unit.id == Membership.unit_id)
        .join(User, User.id == Membership.user_id)
        .where(User.id.in_([u.id for u in users]), Unit.valid_to.is_(None))
    ).all()
    units = orgs.units_in_force(session, today_jst())
    bureaus = orgs.bureau_map(units)
    groups: dict[int, DemoGroup] = {}
    order = {u.id: (u.position, u.code) for u in units}
    for membership, unit, user in sorted(rows, key=lambda r: (order.get(r[1].id, (0, "")), r[0].role != "leader")):
        bureau = bureaus.get(unit.id, unit)
        group = groups.setdefault(bureau.id, DemoGroup(bureau.name))
        role = "DX推進リーダー" if membership.role == SectionRole.LEADER else "職員"
        group.entries.append((user.upn, f"{unit.name}（{unit.code}）", role))
    ordered = sorted(groups, key=lambda uid: order.get(uid, (0, "")))
    return [staff, *(groups[uid] for uid in ordered)]


# --- who is told (notifications) ---------------------------------------------------------------------


def desk_recipients(session: Session) -> list[tuple[int | None, str]]:
    """(user id, address) of the desk: its shared mailbox when an admin set one (通知先の設定), else every active
    desk person."""
    from app.outbox.service import DESK, contact_address

    shared = contact_address(session, DESK)
    if shared:
        return [(None, shared)]
    rows = session.exec(select(User.id, User.upn).where(User.is_desk, User.is_active).order_by(User.id)).all()
    return [(uid, upn) for uid, upn in rows]


def leader_recipients(session: Session, unit_ids: list[int]) -> list[tuple[int | None, str]]:
    """(user id, UPN) of the active DX推進リーダー of some 所属 (their UPN is their mail address)."""
    if not unit_ids:
        return []
    rows = session.exec(select(User.id, User.upn).join(Membership, Membership.user_id == User.id)
                        .where(Membership.unit_id.in_(unit_ids), Membership.role == SectionRole.LEADER,
                               User.is_active)
                        .order_by(User.id)).all()
    return list(dict.fromkeys((uid, upn) for uid, upn in rows))
