"""Good practice (取組事例): answers at ◎ whose 所属 ticked 「取組事例として共有する」 on the memo, read by the
other 所属 (in their hints at △ and ×), counted per item on the desk's weak items, featured or hidden by
the desk. The share flag is written with the answer by the one writer (``writer.shares``); the desk's
marks (``PracticeMark``) are written here. Reading is one query: for each 所属, its answer of the latest
round in which it answered the item, when that answer is shared, ◎, with a memo, and not hidden."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import and_, bindparam, exists, false, func, or_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.errors import Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc
from app.orgs.models import Unit
from app.rounds.models import Round
from app.sheets.models import Answer, PracticeMark, Sheet
from app.statuses import Status

NEEDS_WORK = (Status.FAIR.value, Status.NOT_DONE.value)  # the answers whose hints show practices
HINT_LIMIT = 3  # practices shown per item in a hint
LIST_LIMIT = 200  # the desk's list of one item


@dataclass(frozen=True)
class Practice:
    sheet_id: int
    item_key: str
    unit_id: int
    unit_code: str
    unit_name: str
    round_title: str
    memo: str
    featured: bool
    hidden: bool


_later = aliased(Answer)
_later_sheet = aliased(Sheet)
_later_round = aliased(Round)
_FEATURED = func.coalesce(PracticeMark.featured, false())
_HIDDEN = func.coalesce(PracticeMark.hidden, false())


def _newer():
    """SQL condition: the 所属 of ``Answer`` answered its item in a later round (in the order the rounds were held:
    a past round may be entered after a newer one, so not by id). Without it: the latest answered round."""
    return exists().where(_later.sheet_id == _later_sheet.id, _later_sheet.unit_id == Sheet.unit_id,
                          _later_round.id == _later_sheet.round_id,
                          or_(_later_round.opens_on > Round.opens_on,
                              and_(_later_round.opens_on == Round.opens_on, _later_round.id > Round.id)),
                          _later.item_key == Answer.item_key, _later.status.is_not(None))


def _shared(keys, *, with_hidden: bool = False):
    """The conditions of a shared practice of one of ``keys``: the latest answered round of its 所属."""
    keys = keys if isinstance(keys, BindParameter) else list(keys)
    where = [Answer.item_key.in_(keys), Answer.shared == true(), Answer.status == Status.EXCELLENT.value,
             func.trim(Answer.memo) != "", ~_newer()]
    if not with_hidden:
        where.append(_HIDDEN.is_(false()))
    return where


def _joined(query):
    return (query.join(Sheet, Sheet.id == Answer.sheet_id).join(Round, Round.id == Sheet.round_id)
            .outerjoin(PracticeMark, and_(PracticeMark.sheet_id == Answer.sheet_id,
                                          PracticeMark.item_key == Answer.item_key)))


def _columns(rank):
    return (Answer.sheet_id, Answer.item_key, Sheet.unit_id, Unit.code, Unit.name, Round.title, Answer.memo,
            _FEATURED.label("featured"), _HIDDEN.label("hidden"), rank.label("rank"))


@lru_cache(maxsize=2)
def _hints_statement(except_unit: bool):
    """The hints' statement, built once per shape (building it costs more than running it): bind parameters
    ``keys`` (expanding), ``limit`` and, with ``except_unit``, ``except_unit_id``."""
    rank = func.row_number().over(partition_by=Answer.item_key,
                                  order_by=(_FEATURED.desc(), Answer.updated_at.desc(), Answer.id))
    where = _shared(bindparam("keys", expanding=True))
    if except_unit:
        where.append(Sheet.unit_id != bindparam("except_unit_id"))
    inner = (_joined(select(*_columns(rank))).join(Unit, Unit.id == Sheet.unit_id).where(*where).subquery())
    return select(inner).where(inner.c.rank <= bindparam("limit")).order_by(inner.c.item_key, inner.c.rank)


def hints(session: Session, keys: Sequence[str], *, except_unit_id: int | None,
          limit: int = HINT_LIMIT) -> dict[str, list[Practice]]:
    """The practices other 所属 share on ``keys`` (items a 所属 answered △ or ×): featured first, then the
    newest, at most ``limit`` per item. One query."""
    if not keys:
        return {}
    rows = session.connection().execute(_hints_statement(except_unit_id is not None),
                                        {"keys": list(keys), "limit": limit, "except_unit_id": except_unit_id})
    found: dict[str, list[Practice]] = {}
    for row in rows:
        found.setdefault(row.item_key, []).append(Practice(*row[:9]))
    return found


# Built once (building it cost more than running it, with _newer()'s correlated subquery): bind parameters
# ``unit_id`` and ``keys`` (expanding).
_LATEST_STATUSES = (
    select(Answer.item_key, Answer.status).join(Sheet, Sheet.id == Answer.sheet_id)
    .join(Round, Round.id == Sheet.round_id)
    .where(Sheet.unit_id == bindparam("unit_id"), Answer.item_key.in_(bindparam("keys", expanding=True)),
           Answer.status.is_not(None), ~_newer())
)


def latest_statuses(session: Session, unit_id: int, keys: Sequence[str]) -> dict[str, str]:
    """A 所属's answer to each of ``keys`` in the latest round in which it answered the item (the same 「latest
    answered round」 as a shared practice's), any sheet state; items it never answered are left out. One query."""
    if not keys:
        return {}
    return dict(session.connection().execute(_LATEST_STATUSES, {"unit_id": unit_id, "keys": list(keys)}).all())


def askable(session: Session, principal: Principal, unit_id: int, keys: Sequence[str]) -> set[str]:
    """Of ``keys``, the items on which the person may use 「この所属に聞いてみる」 for ``unit_id``
    (``permissions.why_not_ask_practice``): where the button shows."""
    if not keys or permissions.why_not_request_support(principal, unit_id):
        return set()
    latest = latest_statuses(session, unit_id, keys)
    return {key for key in keys if permissions.why_not_ask_practice(principal, unit_id, latest.get(key)) is None}


def of_item(session: Session, principal: Principal, item_key: str) -> list[Practice]:
    """Every practice shared on one item (the desk also sees those it hid): featured first, then by 所属."""
    refusal = permissions.why_not_read_practices(principal)
    if refusal:
        raise Forbidden(refusal)
    with_hidden = permissions.why_not_mark_practice(principal) is None
    query = (_joined(select(*_columns(func.row_number().over(order_by=Answer.id))))
             .join(Unit, Unit.id == Sheet.unit_id)
             .where(*_shared([item_key], with_hidden=with_hidden))
             .order_by(_FEATURED.desc(), Unit.code).limit(LIST_LIMIT))
    return [Practice(*row[:9]) for row in session.connection().execute(query)]


def counts(session: Session, keys: Sequence[str]) -> dict[str, int]:
    """Practices shared (not hidden) per item, for the desk's weak items."""
    if not keys:
        return {}
    query = _joined(select(Answer.item_key, func.count())).where(*_shared(keys)).group_by(Answer.item_key)
    return dict(session.connection().execute(query).all())


def get(session: Session, principal: Principal, sheet_id: int, item_key: str) -> Practice:
    """One practice as others see it (shared and not hidden), or 404."""
    refusal = permissions.why_not_read_practices(principal)
    if refusal:
        raise Forbidden(refusal)
    query = (_joined(select(*_columns(func.row_number().over(order_by=Answer.id))))
             .join(Unit, Unit.id == Sheet.unit_id)
             .where(Answer.sheet_id == sheet_id, *_shared([item_key])))
    row = session.connection().execute(query).first()
    if row is None:
        raise NotFound("この取組事例は共有されていません（共有が取りやめられたか、非表示になりました）。")
    return Practice(*row[:9])


MARKS = {"feature": ("featured", True), "unfeature": ("featured", False), "hide": ("hidden", True),
         "show": ("hidden", False)}


def mark(session: Session, principal: Principal, sheet_id: int, item_key: str, action: str | None) -> PracticeMark:
    """The desk features a practice (shown first) or hides it from every 所属 (or undoes either)."""
    refusal = permissions.why_not_mark_practice(principal)
    if refusal:
        raise Forbidden(refusal)
    if action not in MARKS:
        raise InvalidInput("操作（おすすめ・非表示）を選んでください。")
    query = _joined(select(Answer.id)).where(Answer.sheet_id == sheet_id, *_shared([item_key], with_hidden=True))
    if session.connection().execute(query).first() is None:
        raise NotFound("この取組事例は共有されていません（共有が取りやめられました）。")
    row = session.get(PracticeMark, (sheet_id, item_key)) or PracticeMark(sheet_id=sheet_id, item_key=item_key)
    name, value = MARKS[action]
    setattr(row, name, value)
    row.updated_at = now_utc()
    row.updated_by_id = principal.user_id
    session.add(row)
    session.flush()
    return row

