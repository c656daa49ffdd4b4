"""Which 所属 a person may read, worked out once per request, and the scoped getter of a 所属 by its code.

A 所属's staff read their own 所属 and every unit it continues through reorganisations (renamed, moved,
merged or split from: ``orgs.lineage``), so that a renamed or merged 所属 keeps its history; the desk
and admins read every unit. Every route that takes a 所属 code resolves it here (``resolve_section``) or,
for one round's sheet, checks the sheet's unit with ``why_not_read``.
"""

from __future__ import annotations

from collections.abc import Set

from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.errors import Forbidden, NotFound
from app.orgs import service as orgs
from app.orgs.models import Unit


def readable_units(session: Session, principal: Principal) -> Set[int] | None:
    """The units whose sheets and records ``principal`` may read (None: every unit). Kept in the
    session's ``info`` for the rest of the request (one session per request)."""
    if principal.sees_everything:
        return None
    key = ("readable_units", principal.user_id)
    found = session.info.get(key)
    if found is None:
        found = frozenset(a.unit.id for unit_id in principal.sections for a in lineage(session, unit_id))
        session.info[key] = found
    return found


def lineage(session: Session, unit_id: int) -> list[orgs.Ancestor]:
    """``orgs.lineage`` of a unit, read once per request and kept in the session's ``info`` (one session per
    request): the readable units, the previous round's answers and the sheet's round switcher of one request
    share it."""
    cache = session.info.setdefault("lineage", {})
    found = cache.get(unit_id)
    if found is None:
        found = cache[unit_id] = orgs.lineage(session, unit_id)
    return found


def why_not_read(session: Session, principal: Principal, unit_id: int) -> str | None:
    if principal.sees_everything or principal.role_in(unit_id) is not None:  # no lineage needed
        return None
    return permissions.why_not_read_sheet(principal, unit_id, readable=readable_units(session, principal) or ())


def resolve_section(session: Session, principal: Principal, code: str) -> Unit:
    """The 所属 with this code (in force now, else the latest that had it), if the person may read it:
    404 for an unknown code, 403 with the reason for a 所属 of someone else."""
    unit = orgs.current_by_code(session, code)
    if unit is None:
        raise NotFound(f"所属コード「{code}」の所属はありません。")
    refusal = why_not_read(session, principal, unit.id)
    if refusal:
        raise Forbidden(refusal)
    return unit
