"""SQL for the desk's pages (業務DX相談窓口) that is not a figure: the 部局 of a round, the answers a page
shows (the heatmap's cells of one page, the quick wins of a few 所属, the names of 所属 at × on ☆☆☆
items), the DX推進リーダー to write to. Every figure comes from ``app.sheets.figures``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Date, Integer, String, and_, bindparam, func, or_, select, text
from sqlmodel import Session

from app.auth.models import Membership, SectionRole, User
from app.checklists.service import Definition
from app.orgs.models import Unit, UnitKind
from app.orgs.service import in_force
from app.rounds.models import Round
from app.scoring import rules
from app.scoring.rules import Progress
from app.sheets import figures
from app.sheets.figures import ORG_ORDER, Bureau
from app.sheets.models import Answer, Sheet


@dataclass(frozen=True)
class BureauRef:
    id: int
    code: str
    name: str
    position: int


_ROUND_BUREAUS = (
    select(Unit.id, Unit.code, Unit.name, Unit.position)
    .where(or_(and_(Unit.kind == UnitKind.BUREAU, Unit.parent_id.is_(None), in_force(bindparam("on", type_=Date))),
               Unit.id.in_(select(Sheet.bureau_id).where(Sheet.round_id == bindparam("round_id")))))
    .order_by(Unit.position, Unit.code)
)  # built once: every desk page and JSON reads it


def round_bureaus(session: Session, round_: Round) -> list[BureauRef]:
    """The 部局 of a round, in organisation order: those in force when it opened (even with no 所属,
    shown with zero counts) and any 部局 its sheets were filed under."""
    rows = session.connection().execute(_ROUND_BUREAUS, {"on": round_.opens_on, "round_id": round_.id}).all()
    return [BureauRef(*row) for row in rows]


def bureau_by_code(bureaus: Iterable[BureauRef], code: str | None) -> BureauRef | None:
    return next((b for b in bureaus if b.code == code), None) if code else None


# One row per sheet, its answers as "key=status" lines (status empty when unanswered): a heatmap page is
# 100 rows instead of 4,000 (fetching a row costs more than the database's work, and on SQLite each row
# releases and retakes the GIL, which under concurrent requests is the page's largest cost).
_CELLS = (select(Answer.sheet_id,
                 func.aggregate_strings(Answer.item_key + "=" + func.coalesce(Answer.status, ""), "\n"))
          .where(Answer.sheet_id.in_(bindparam("ids", expanding=True)))
          .group_by(Answer.sheet_id))


def cells(session: Session, sheet_ids: Sequence[int], keys: Sequence[str]) -> dict[int, list[str | None]]:
    """The answers of a few sheets (one heatmap page): ``{sheet id: [status of each of keys]}`` (None:
    unanswered, or no answer row). Keys and statuses hold no "=" or line break, so a sheet's lines split
    into key, status, key, status… in C: 4,000 ``partition`` calls a page cost more than the query."""
    if not sheet_ids:
        return {}
    rows = session.connection().execute(_CELLS, {"ids": list(sheet_ids)}).all()
    found: dict[int, list[str | None]] = {}
    for sheet_id, joined in rows:
        flat = joined.replace("=", "\n").split("\n")
        get = dict(zip(flat[::2], flat[1::2], strict=True)).get
        found[sheet_id] = [get(key) or None for key in keys]
    return found


_QUICK_WIN_ANSWERS = select(Answer.sheet_id, Answer.item_key, Answer.status).where(
    Answer.sheet_id.in_(bindparam("ids", expanding=True)), Answer.item_key.in_(bindparam("keys", expanding=True)),
    Answer.status.in_(bindparam("statuses", expanding=True)))  # built once


def quick_win_answers(session: Session, definition: Definition, sheet_ids: Sequence[int]
                      ) -> dict[int, list[tuple[str, str]]]:
    """``{sheet id: [(item key, status)]}`` of the quick wins of a few sheets, in sheet order."""
    keys = [i.key for i in definition.items if i.difficulty == rules.QUICK_WIN_DIFFICULTY]
    result: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if not sheet_ids or not keys:
        return result
    params = {"ids": list(sheet_ids), "keys": keys, "statuses": [s.value for s in rules.QUICK_WIN_STATUSES]}
    for sheet_id, key, status in session.connection().execute(_QUICK_WIN_ANSWERS, params):
        result[sheet_id].append((key, status))
    for answers in result.values():
        answers.sort(key=lambda a: definition.by_key[a[0]].position)
    return result


@dataclass(frozen=True)
class SectionStatuses:
    bureau_id: int
    statuses: dict[str, str | None]


def section_statuses(session: Session, round_id: int, unit_ids: Collection[int],
                     keys: Collection[str]) -> list[SectionStatuses]:
    """The answers to ``keys`` of a few 所属 (a person's own) in a round."""
    query = (select(Sheet.id, Sheet.bureau_id, Answer.item_key, Answer.status)
             .join(Answer, Answer.sheet_id == Sheet.id)
             .where(Sheet.round_id == round_id, Sheet.unit_id.in_(list(unit_ids)), Answer.item_key.in_(list(keys))))
    found: dict[int, SectionStatuses] = {}
    for sheet_id, bureau_id, key, status in session.connection().execute(query):
        found.setdefault(sheet_id, SectionStatuses(bureau_id, {})).statuses[key] = status
    return list(found.values())


def _pairs(n: int):
    """``n`` (item key, 部局 id) pairs bound as ``key_i``, ``bureau_i``: a ``VALUES`` list as a derived table (its
    columns are named column1, column2 by SQLite and PostgreSQL alike; neither takes a column list after it)."""
    rows = ", ".join(f"(:key_{i}, :bureau_{i})" for i in range(n))
    # only placeholder names go into the text; the values are bound
    return (text(f"SELECT column1 AS item_key, column2 AS bureau_id FROM (VALUES {rows}) AS v")  # noqa: S608
            .bindparams(*(bindparam(f"key_{i}", type_=String) for i in range(n)),
                        *(bindparam(f"bureau_{i}", type_=Integer) for i in range(n)))
            .columns(item_key=String, bureau_id=Integer).subquery("pairs"))


@lru_cache(maxsize=64)
def _counterpart_names_statement(pairs: int, own: bool, states: str | None = None):
    """The first ``per_bureau`` 所属 per (item, 部局) at ×, numbered in SQL: at prefecture scale thousands
    of 所属 answered × to a ☆☆☆ item, and the page shows five per 部局 of the ten 部局 shown per item.

    One join driven by the (item, 部局) pairs shown: per pair the sheets of that 部局 (``ix_sheet_round_bureau``)
    and one index probe of each for its answer to that item. (A ``UNION ALL`` branch per item cost PostgreSQL a
    plan per branch and a parallel plan with two workers per request, and scanned the round's sheets per branch.)"""
    pair = _pairs(pairs)
    where = [Sheet.round_id == bindparam("round_id"), Answer.status == bindparam("status")]
    if own:
        where.append(Sheet.unit_id.in_(bindparam("unit_ids", expanding=True)))
    where.extend(figures.sheet_in(states))  # the sheets in ``states``, or the confirmed ones
    found = (select(pair.c.item_key, Sheet.bureau_id, Unit.code, Unit.name,
                    # organisation order within one 部局 (the partition's): no join to the 部局 for its place
                    func.row_number().over(partition_by=(pair.c.item_key, Sheet.bureau_id),
                                           order_by=(Unit.position, Unit.code)).label("n"))
             .select_from(pair)
             .join(Sheet, Sheet.bureau_id == pair.c.bureau_id)
             .join(Answer, and_(Answer.sheet_id == Sheet.id, Answer.item_key == pair.c.item_key))
             .join(Unit, Unit.id == Sheet.unit_id)
             .where(*where)).subquery("ranked")
    return (select(found.c.item_key, found.c.bureau_id, found.c.code, found.c.name)
            .where(found.c.n <= bindparam("per_bureau"))
            .order_by(found.c.item_key, found.c.bureau_id, found.c.n))


def counterpart_names(session: Session, round_id: int, bureaus: Mapping[str, Collection[int]], *,
                      unit_ids: Collection[int] | None = None, per_bureau: int,
                      states: Collection[str] | None = None) -> dict[tuple[str, int], list[tuple[str, str]]]:
    """``{(item key, 部局 id): [(code, name)]}``: for each item key of ``bureaus``, the first ``per_bureau``
    所属 (organisation order) of each of its 部局 that answered × to it (with their sheet in ``states``)."""
    wanted = list(dict.fromkeys((key, bureau_id) for key, ids in bureaus.items() for bureau_id in ids))
    if not wanted:
        return {}
    params = {"round_id": round_id, "status": rules.COUNTERPART_STATUS.value, "unit_ids": list(unit_ids or ()),
              "per_bureau": per_bureau, "states": list(states or ())}
    for n, (key, bureau_id) in enumerate(wanted):
        params[f"key_{n}"], params[f"bureau_{n}"] = key, bureau_id
    result: dict[tuple[str, int], list[tuple[str, str]]] = defaultdict(list)
    for key, bureau_id, code, name in session.connection().execute(
            _counterpart_names_statement(len(wanted), unit_ids is not None, figures.states_shape(states)),
            params).all():
        result[(key, bureau_id)].append((code, name))
    return result


def leader_upns(session: Session, round_id: int, *, bureau_id: int | None = None,
                progress: Collection[Progress] | None = None) -> list[tuple[int, str]]:
    """(unit id, UPN) of the DX推進リーダー of the 所属 of a round (of one 部局, in some states of progress),
    in the order of ``leaders_of_round``: the board's mail list (thousands at prefecture scale), from the same
    statement built once per shape, the names left out."""
    statement = _leaders_statement(bureau_id is not None, tuple(sorted(progress)) if progress is not None else None,
                                   False)
    return [(unit_id, upn) for unit_id, _, upn in session.connection().execute(
        statement, {"round_id": round_id, "bureau_id": bureau_id}).all()]


@dataclass(frozen=True)
class Leader:
    name: str
    upn: str


@lru_cache(maxsize=16)
def _leaders_statement(bureau: bool, progress: tuple[Progress, ...] | None, units: bool):
    where = [Sheet.round_id == bindparam("round_id"), Membership.role == SectionRole.LEADER, User.is_active]
    if progress is not None:
        where.append(figures.in_progress(progress))
    if bureau:
        where.append(Sheet.bureau_id == bindparam("bureau_id"))
    leaders = (select(Sheet.unit_id, User.display_name, User.upn)
               .join(Membership, Membership.unit_id == Sheet.unit_id)
               .join(User, User.id == Membership.user_id))
    if units:  # a page's few 所属, looked up by id: no organisation order, so no join to the 所属 and the 部局
        where.append(Sheet.unit_id.in_(bindparam("unit_ids", expanding=True)))
        return leaders.where(*where).order_by(Sheet.unit_id, User.display_name, User.upn)
    return (leaders.join(Unit, Unit.id == Sheet.unit_id)
            .join(Bureau, Bureau.id == Sheet.bureau_id)
            .where(*where)
            .order_by(*ORG_ORDER, User.display_name, User.upn))


def leaders_of_round(session: Session, round_id: int, *, bureau_id: int | None = None,
                     progress: Collection[Progress] | None = None,
                     unit_ids: Collection[int] | None = None) -> dict[int, list[Leader]]:
    """``{unit id: [DX推進リーダー]}`` for the 所属 of a round (of one 部局, in some states of progress, or
    some 所属), in organisation order (given ``unit_ids``: in no order of 所属), each 所属's by name (a statement
    built once per shape: the board asks for every page)."""
    statement = _leaders_statement(bureau_id is not None,
                                   tuple(sorted(progress)) if progress is not None else None, unit_ids is not None)
    params = {"round_id": round_id, "bureau_id": bureau_id, "unit_ids": list(unit_ids or ())}
    result: dict[int, list[Leader]] = defaultdict(list)
    for unit_id, name, upn in session.connection().execute(statement, params).all():
        result[unit_id].append(Leader(name, upn))
    return result
