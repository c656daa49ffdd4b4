"""Loading the signed-in person, and development sign-in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlmodel import Session, select

from app.auth.models import AuditEvent, Membership, SectionRole, User
from app.auth.permissions import Principal
from app.errors import NotFound
from app.jpdate import now_utc, today_jst
from app.orgs import service as orgs
from app.orgs.models import Unit


def load_principal(session: Session, user_id: int, *, read_only: bool = False, dev: bool = False) -> Principal | None:
    """The Principal for an active user, or None (unknown or disabled)."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    memberships = session.exec(select(Membership).where(Membership.user_id == user_id)).all()
    entra = set(filter(None, user.entra_roles.split(",")))
    return Principal(
        user_id=user.id,
        upn=user.upn,
        display_name=user.display_name,
        is_admin=user.is_admin or "admin" in entra,
        is_desk=user.is_desk or "desk" in entra,
        sections={m.unit_id: SectionRole(m.role) for m in memberships},
        read_only=read_only,
        dev=dev,
    )


def find_user_by_upn(session: Session, upn: str) -> User | None:
    return session.exec(select(User).where(User.upn == upn.strip().lower())).first()


def dev_sign_in(session: Session, upn: str) -> User:
    user = find_user_by_upn(session, upn)
    if user is None or not user.is_active:
        raise NotFound("そのデモユーザーはいません。")
    user.last_sign_in_at = now_utc()
    session.add(user)
    audit(session, "sign_in", actor=user, detail={"method": "dev"})
    return user


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
