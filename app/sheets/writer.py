"""The one writer of answers and sheet state. Nothing else in the app writes ``answer``, ``sheet``,
``sheet_event`` or the stored tallies; the use cases (``app.sheets.service``) decide *what* to write
and call this module, which writes it.

Every change starts by locking the sheet rows it touches (``lock``): on PostgreSQL ``FOR NO KEY
UPDATE`` of the sheet and ``FOR SHARE`` of its round, so that two changes of one sheet (a save and a
submission, an import and a save) run one after the other, and a round is closed only between saves;
on SQLite the write transaction (``BEGIN IMMEDIATE``) already holds the database's write lock. The
state, round state and stored counts the caller checks are those read under the lock.

Every change writes its history (``sheet_event``) and updates the stored tallies in the same
transaction with increments, never a recount: the sheet's counts (``sheet`` row and ``sheet_tally``)
and its groups' counts (``maturity_tally``, ``item_tally``), written last and in key order (see
``app.sheets.tallies.GroupDelta``). Statements are prebuilt Core statements: a save is a handful of
short statements, without ORM bookkeeping. Never commits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import JSON, Connection, Integer, Text, bindparam, cast, column, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.checklists.models import ChecklistItem
from app.checklists.service import Definition, ItemDef
from app.db import UTCDateTime
from app.orgs.models import Unit
from app.rounds.models import Round, RoundState
from app.sheets import figures, tallies
from app.sheets.evidence_rules import TYPE_LABELS
from app.sheets.models import (
    Answer,
    AnswerEvidence,
    EventKind,
    EventSource,
    EvidenceKind,
    ItemTally,
    MaturityTally,
    PracticeMark,
    ReviewMark,
    Sheet,
    SheetEvent,
    SheetReview,
    SheetState,
    SheetTally,
)
from app.sheets.tallies import OVERALL, Counts, GroupDelta
from app.statuses import Status

# PostgreSQL's row locks (SQLite has one writer at a time). FOR NO KEY UPDATE is the lock an UPDATE
# takes, and does not block the foreign-key checks of the history rows inserted after it.
_PG_LOCK = "FOR NO KEY UPDATE OF sheet FOR SHARE OF round"


@dataclass(frozen=True)
class LockedSheet:
    """A sheet as read under its lock."""

    id: int
    round_id: int
    unit_id: int
    bureau_id: int
    state: str
    round_state: str
    version_id: int  # the round's checklist version
    total: int  # items
    counts: Counts  # overall stored counts
    # stored counts of some of its categories, read under the lock with it (``lock_with_answer``: the answer's)
    categories: Mapping[str, Counts] = field(default_factory=dict)


# The hot statements are built on the tables, not the mapped classes: an ORM-enabled statement goes through
# the ORM's compile and bulk-update machinery on every execution, which costs more than SQLite runs them in.
_SHEET, _ROUND, _ANSWER, _TALLY = Sheet.__table__, Round.__table__, Answer.__table__, SheetTally.__table__
_ITEM = ChecklistItem.__table__
_LOCKED = (_SHEET.c.id, _SHEET.c.round_id, _SHEET.c.unit_id, _SHEET.c.bureau_id, _SHEET.c.state, _ROUND.c.state,
           _ROUND.c.checklist_version_id, _SHEET.c.tally_total, _SHEET.c.tally_answered,
           _SHEET.c.tally_not_applicable, _SHEET.c.tally_points, _SHEET.c.tally_quick_fair,
           _SHEET.c.tally_quick_not_done)
_STORED = (_ANSWER.c.id, _ANSWER.c.item_key, _ANSWER.c.status, _ANSWER.c.memo, _ANSWER.c.version,
           _ANSWER.c.updated_at, _ANSWER.c.updated_by_id, _ANSWER.c.shared)
_BY_CODE = (_SHEET.c.round_id == bindparam("round_id"),
            _SHEET.c.unit_id.in_(select(Unit.__table__.c.id).where(Unit.__table__.c.code == bindparam("code"))))


def _lock_query(*where):  # pragma: no mutate block (built once at import: no test can switch a mutant on)
    return (select(*_LOCKED).join(_ROUND, _ROUND.c.id == _SHEET.c.round_id).where(*where).order_by(_SHEET.c.id)
            .suffix_with(_PG_LOCK, dialect="postgresql"))


_LOCK_BY_ID = _lock_query(_SHEET.c.id.in_(bindparam("ids", expanding=True)))
_LOCK_BY_CODE = _lock_query(*_BY_CODE)
# One answer's save: the sheet, that answer and the counts of its category (through the round's checklist item)
# in one statement. On PostgreSQL the answer and category rows are locked too, so that a statement that waited
# for the sheet's lock reads them as the save before it left them (under READ COMMITTED only the locked rows of a
# join are read again after the wait).
_CATEGORY_COLUMNS = (_TALLY.c.category, _TALLY.c.answered, _TALLY.c.not_applicable, _TALLY.c.points)
_LOCK_WITH_ANSWER = (
    select(*_LOCKED, *_STORED, *_CATEGORY_COLUMNS)
    .select_from(_SHEET.join(_ROUND, _ROUND.c.id == _SHEET.c.round_id)
                 .join(_ANSWER, (_ANSWER.c.sheet_id == _SHEET.c.id) & (_ANSWER.c.item_key == bindparam("key")))
                 .join(_ITEM, (_ITEM.c.version_id == _ROUND.c.checklist_version_id) & (_ITEM.c.key == _ANSWER.c.item_key))
                 .join(_TALLY, (_TALLY.c.sheet_id == _SHEET.c.id) & (_TALLY.c.category == _ITEM.c.category)))
    .where(*_BY_CODE)
    .suffix_with("FOR NO KEY UPDATE OF sheet, answer, sheet_tally FOR SHARE OF round", dialect="postgresql")
)


def _locked(row, categories: Mapping[str, Counts] | None = None) -> LockedSheet:
    return LockedSheet(*row[:8], Counts(*row[8:len(_LOCKED)]), categories or {})


def lock(session: Session, sheet_ids: Iterable[int]) -> list[LockedSheet]:
    """Lock sheets (in id order, so that two writers of several sheets never wait for each other in a
    circle) and read them. Unknown ids are left out."""
    ids = sorted(set(sheet_ids))
    if not ids:
        return []
    session.flush()  # the ORM's pending changes first: the writer writes with Core
    return [_locked(row) for row in session.connection().execute(_LOCK_BY_ID, {"ids": ids})]


def lock_by_code(session: Session, round_id: int, code: str) -> LockedSheet | None:
    """Lock the sheet of the 所属 with ``code`` in a round (None when it has none)."""
    session.flush()
    row = session.connection().execute(_LOCK_BY_CODE, {"round_id": round_id, "code": code}).first()
    return _locked(row) if row else None


def lock_with_answer(session: Session, round_id: int, code: str,
                     item_key: str) -> tuple[LockedSheet, StoredAnswer] | None:
    """Lock the sheet of the 所属 with ``code`` in a round and read its answer to ``item_key`` and the counts of the
    item's category, in one statement (a save of one answer). None when there is no such sheet or answer (then
    ``lock_by_code`` tells which)."""
    session.flush()
    row = session.connection().execute(_LOCK_WITH_ANSWER, {"round_id": round_id, "code": code,
                                                           "key": item_key}).first()
    if row is None:
        return None
    stored_end = len(_LOCKED) + len(_STORED)
    category, *counts = row[stored_end:]
    return _locked(row, {category: Counts(*counts)}), StoredAnswer(*row[len(_LOCKED):stored_end])


# --- reading under the lock -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    item_key: str
    status: str | None
    memo: str
    version: int
    updated_at: datetime | None
    updated_by_id: int | None
    shared: bool = False  # 「取組事例として共有する」 (see ``shares``)


_ANSWERS = select(*_STORED).where(_ANSWER.c.sheet_id == bindparam("sheet_id"))
_SOME_ANSWERS = _ANSWERS.where(_ANSWER.c.item_key.in_(bindparam("keys", expanding=True)))


def answers(session: Session, sheet_id: int, keys: Sequence[str] | None = None) -> dict[str, StoredAnswer]:
    """The stored answers of a locked sheet (all, or those of ``keys``)."""
    query, params = (_ANSWERS, {"sheet_id": sheet_id}) if keys is None else (
        _SOME_ANSWERS, {"sheet_id": sheet_id, "keys": list(keys)})
    return {row.item_key: StoredAnswer(*row) for row in session.connection().execute(query, params)}


# --- changing answers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One answer to write: from what is stored (read under the lock) to its new status and memo."""

    item: ItemDef
    stored: StoredAnswer
    status: str | None
    memo: str
    share: bool | None = None  # 「取組事例として共有する」 ticked or not; None: as stored

    @property
    def shared(self) -> bool:
        """The share flag to store: the tick (or the stored flag), and only on a ◎ answer with a memo, so
        that an answer no longer ◎, or its memo emptied, stops being shared (and is not shared again
        without a new tick)."""
        return shares(self.stored.shared if self.share is None else self.share, self.status, self.memo)


def shares(ticked: bool, status: str | None, memo: str) -> bool:
    """Whether an answer is shared as a practice (取組事例): ticked, ◎, and a memo that says something."""
    return ticked and status == Status.EXCELLENT.value and memo.strip() != ""


_UPDATE_ANSWER = (
    update(_ANSWER).where(_ANSWER.c.id == bindparam("answer_id"))
    .values(status=bindparam("new_status"), memo=bindparam("new_memo"), version=_ANSWER.c.version + 1,
            updated_at=bindparam("now"), updated_by_id=bindparam("actor_id"), shared=bindparam("new_shared"))
)
_INSERT_EVENT = insert(SheetEvent.__table__)
_CATEGORY_COUNTS = select(_TALLY.c.category, _TALLY.c.answered, _TALLY.c.not_applicable,
                          _TALLY.c.points).where(_TALLY.c.sheet_id == bindparam("sheet_id"),
                                                 _TALLY.c.category.in_(bindparam("names", expanding=True)))
_BUMP_CATEGORY = (
    update(_TALLY)
    .where(_TALLY.c.sheet_id == bindparam("b_sheet"), _TALLY.c.category == bindparam("name"))
    .values(answered=_TALLY.c.answered + bindparam("d_answered"),
            not_applicable=_TALLY.c.not_applicable + bindparam("d_na"),
            points=_TALLY.c.points + bindparam("d_points"))
)


def _touch_sheet(sheet_id):  # pragma: no mutate block (built once at import)
    return (update(_SHEET).where(_SHEET.c.id == sheet_id)
            .values(updated_at=bindparam("now"), entry_on=bindparam("on"),
                    tally_answered=_SHEET.c.tally_answered + bindparam("d_answered"),
                    tally_not_applicable=_SHEET.c.tally_not_applicable + bindparam("d_na"),
                    tally_points=_SHEET.c.tally_points + bindparam("d_points"),
                    tally_quick_fair=_SHEET.c.tally_quick_fair + bindparam("d_quick_fair"),
                    tally_quick_not_done=_SHEET.c.tally_quick_not_done + bindparam("d_quick_not_done")))


_TOUCH_SHEET = _touch_sheet(bindparam("sheet_id"))


def _rows(param: str, table, names: Sequence[str]):  # pragma: no mutate block (built once at import)
    """Rows given as one JSON parameter (a list of objects with the keys ``names``), as a table whose columns are
    typed as ``table``'s. JSON rather than one array per column: psycopg adapts a string much faster than lists,
    and PostgreSQL keeps one generic plan of the statement (with arrays it plans it again on every execution)."""
    rows = func.json_to_recordset(cast(bindparam(param, type_=Text), JSON))
    return rows.table_valued(*(column(name, table.c[name].type) for name in names)).render_derived(
        name=param, with_types=True)


_ANSWER_COLUMNS = ("id", "status", "memo", "shared")
_EVENT_COLUMNS = ("item_key", "old_status", "new_status", "old_memo", "new_memo", "note")
_CATEGORY_STEP_COLUMNS = ("category", "answered", "not_applicable", "points")
_GROUP_COLUMNS = {MaturityTally: ("round_id", "bureau_id", "category", "maturity_x10", "state", "sections"),
                  ItemTally: ("round_id", "bureau_id", "item_key", "status", "state", "sections")}


def _write_in_one_statement():  # pragma: no mutate block (built once at import; PostgreSQL only)
    """PostgreSQL: everything ``write_answers`` writes, in one statement of data-modifying CTEs (one round trip
    instead of six). The rows of each table come as JSON (``_rows``), so that one prebuilt statement writes any
    number of answers, and no group rows at all when the caller gathers them (``group``). The sub-statements of one
    statement run in an order PostgreSQL chooses, except where one reads another's rows: the group tallies are
    written in the order ``apply`` writes them (maturity, then items, each in key order) because the items' rows
    read the maturity rows' count first (two writers never take the same group rows in opposite orders). No
    parameter is named after a column of a table it updates (SQLAlchemy would add it to the SET clause)."""
    answers = _rows("w_answers", _ANSWER, _ANSWER_COLUMNS)
    events = _rows("w_events", SheetEvent.__table__, _EVENT_COLUMNS)
    categories = _rows("w_categories", _TALLY, _CATEGORY_STEP_COLUMNS)
    now = bindparam("now", type_=UTCDateTime())
    sheet_id, actor_id = bindparam("w_sheet", type_=Integer), bindparam("w_actor", type_=Integer)
    ctes = [
        # the sheet's answers by the index, not every answer (the planner takes JSON for 100 rows)
        update(_ANSWER).where(_ANSWER.c.sheet_id == sheet_id, _ANSWER.c.id == answers.c.id)
        .values(status=answers.c.status, memo=answers.c.memo, version=_ANSWER.c.version + 1, updated_at=now,
                updated_by_id=actor_id, shared=answers.c.shared).cte("w_answer"),
        insert(SheetEvent.__table__).from_select(
            ["sheet_id", "at", "actor_id", "kind", "source", *_EVENT_COLUMNS],
            select(sheet_id, now, actor_id, bindparam("w_kind", type_=SheetEvent.__table__.c.kind.type),
                   bindparam("w_source", type_=SheetEvent.__table__.c.source.type), *events.c)).cte("w_event"),
        update(_TALLY).where(_TALLY.c.sheet_id == sheet_id, _TALLY.c.category == categories.c.category)
        .values(answered=_TALLY.c.answered + categories.c.answered,
                not_applicable=_TALLY.c.not_applicable + categories.c.not_applicable,
                points=_TALLY.c.points + categories.c.points).cte("w_category"),
        _touch_sheet(sheet_id).cte("w_sheet"),
    ]
    upserts = []
    for model, param in ((MaturityTally, "w_maturity"), (ItemTally, "w_items")):
        table, names = model.__table__, _GROUP_COLUMNS[model]
        rows = select(*_rows(param, table, names).c)
        if upserts:  # after the maturity rows
            rows = rows.where(select(func.count()).select_from(upserts[-1]).scalar_subquery() >= 0)
        stmt = postgresql.insert(table).from_select(list(names), rows)
        stmt = stmt.on_conflict_do_update(index_elements=[n for n in names if n != "sections"],
                                          set_={"sections": table.c.sections + stmt.excluded.sections})
        upserts.append(stmt.returning(table.c.sections).cte(f"w_{table.name}"))
    return select(func.count()).select_from(upserts[-1]).add_cte(*ctes, upserts[0])


_WRITE_IN_ONE = _write_in_one_statement()


def _json(rows: Sequence[Mapping], names: Sequence[str]) -> str:
    return json.dumps([{name: row[name] for name in names} for row in rows], ensure_ascii=False)


def write_answers(session: Session, sheet: LockedSheet, definition: Definition, changes: Sequence[Change], *,
                  actor_id: int | None, source: EventSource, now: datetime, entry_on: date, note: str = "",
                  group: GroupDelta | None = None) -> None:
    """Write ``changes`` to a locked sheet: the answers (each one version up), one history event each,
    the sheet's counts and its groups'. With ``group`` (several sheets in one transaction) the group
    counts are gathered there, for the caller to ``apply``; otherwise they are written here. On PostgreSQL
    in one statement (``_WRITE_IN_ONE``), on SQLite (no round trips) one statement per table."""
    if not changes:
        return
    conn = session.connection()
    own = GroupDelta() if group is None else group
    steps: dict[str, Counts] = defaultdict(Counts)
    for c in changes:
        points = definition.points
        steps[c.item.category] += tallies.counts_of(c.item, c.status, points) - tallies.counts_of(
            c.item, c.stored.status, points)
        own.status_moved(sheet.round_id, sheet.bureau_id, sheet.state, c.item.key,
                         c.stored.status or tallies.UNANSWERED, c.status or tallies.UNANSWERED)
    moved = {name: step for name, step in steps.items() if step}
    total = sum(moved.values(), Counts())
    top = definition.max_points
    if moved:
        before = {name: sheet.categories[name] for name in moved if name in sheet.categories}
        unread = [name for name in moved if name not in before]
        if unread:  # not read with the lock (a save of several answers)
            before.update((row[0], Counts(*row[1:])) for row in conn.execute(
                _CATEGORY_COUNTS, {"sheet_id": sheet.id, "names": unread}))
        for name, step in moved.items():
            old = before[name]
            own.maturity_moved(sheet.round_id, sheet.bureau_id, sheet.state, name,
                               tallies.maturity_x10(old, top), tallies.maturity_x10(old + step, top))
        own.maturity_moved(sheet.round_id, sheet.bureau_id, sheet.state, OVERALL,
                           tallies.maturity_x10(sheet.counts, top), tallies.maturity_x10(sheet.counts + total, top))
    answers = [{"answer_id": c.stored.id, "new_status": c.status, "new_memo": c.memo, "now": now,
                "actor_id": actor_id, "new_shared": c.shared} for c in changes]
    events = [_event(sheet.id, c, actor_id, source, now, note) for c in changes]
    bumps = [{"b_sheet": sheet.id, "name": name, "d_answered": step.answered, "d_na": step.not_applicable,
              "d_points": step.points} for name, step in moved.items()]
    touch = {"sheet_id": sheet.id, "now": now, "on": entry_on, "d_answered": total.answered,
             "d_na": total.not_applicable, "d_points": total.points, "d_quick_fair": total.quick_fair,
             "d_quick_not_done": total.quick_not_done}
    if conn.dialect.name == "postgresql":
        conn.execute(_WRITE_IN_ONE, {
            **{name: value for name, value in touch.items() if name != "sheet_id"}, "w_sheet": sheet.id,
            "w_actor": actor_id, "w_kind": EventKind.ANSWER.value, "w_source": source.value,
            "w_answers": json.dumps([{"id": c.stored.id, "status": c.status, "memo": c.memo, "shared": c.shared}
                                     for c in changes], ensure_ascii=False),
            "w_events": _json(events, _EVENT_COLUMNS),
            "w_categories": json.dumps([{"category": name, "answered": step.answered,
                                         "not_applicable": step.not_applicable, "points": step.points}
                                        for name, step in moved.items()], ensure_ascii=False),
            "w_maturity": _json(own.maturity_rows() if group is None else [], _GROUP_COLUMNS[MaturityTally]),
            "w_items": _json(own.item_rows() if group is None else [], _GROUP_COLUMNS[ItemTally])})
    else:
        conn.execute(_UPDATE_ANSWER, answers)
        conn.execute(_INSERT_EVENT, events)
        if bumps:
            conn.execute(_BUMP_CATEGORY, bumps)
        conn.execute(_TOUCH_SHEET, touch)
        if group is None:
            apply(session, own)
    if group is None:
        closed_round_changed(session, sheet.round_state, sheet.round_id, [sheet.bureau_id])


def _event(sheet_id: int, c: Change, actor_id: int | None, source: EventSource, now: datetime, note: str) -> dict:
    memo_changed = c.stored.memo != c.memo
    if c.shared != c.stored.shared:  # the history says when a practice started or stopped being shared
        note = " ".join(filter(None, (note, "取組事例として共有" if c.shared else "取組事例の共有を終了")))
    return {"sheet_id": sheet_id, "at": now, "actor_id": actor_id, "kind": EventKind.ANSWER.value,
            "source": source.value, "item_key": c.item.key, "old_status": c.stored.status, "new_status": c.status,
            "old_memo": c.stored.memo if memo_changed else None, "new_memo": c.memo if memo_changed else None,
            "note": note}


# --- the sheet's state (submit, reopen) and place (reorganisation) ------------------------------------------


_SET_STATE = (
    update(Sheet).where(Sheet.id == bindparam("sheet_id"))
    .values(state=bindparam("new_state"), submitted_at=bindparam("when_submitted"),
            submitted_by_id=bindparam("who_submitted"), updated_at=bindparam("now"))
)
_RESUBMITTED = (update(SheetReview).where(SheetReview.sheet_id == bindparam("r_sheet"),
                                          SheetReview.mark == ReviewMark.RETURNED.value)
                .values(mark=ReviewMark.RESUBMITTED.value))
_STATUSES = select(Answer.item_key, Answer.status).where(Answer.sheet_id == bindparam("sheet_id"))


def _adds(session: Session, sheet: LockedSheet, definition: Definition) -> tallies.SheetFigures:
    statuses = dict(session.connection().execute(_STATUSES, {"sheet_id": sheet.id}).all())
    return tallies.figures_of(definition, statuses)[2]


def set_state(session: Session, sheet: LockedSheet, definition: Definition, state: SheetState, *,
              actor_id: int | None, source: EventSource, now: datetime, note: str = "") -> None:
    """Submit (``SUBMITTED``) or reopen (``DRAFT``) a locked sheet: its state, one history event, and
    its place in the group tallies (which count sheets per state)."""
    submitted = state == SheetState.SUBMITTED
    conn = session.connection()
    conn.execute(_SET_STATE, {"sheet_id": sheet.id, "new_state": state.value, "now": now,
                              "when_submitted": now if submitted else None,
                              "who_submitted": actor_id if submitted else None})
    conn.execute(_INSERT_EVENT, [{
        "sheet_id": sheet.id, "at": now, "actor_id": actor_id, "source": source.value, "note": note,
        "kind": (EventKind.SUBMIT if submitted else EventKind.REOPEN).value}])
    if submitted:  # the desk's 差戻し are answered by a new 提出: the desk reviews those items again
        conn.execute(_RESUBMITTED, {"r_sheet": sheet.id})
    adds = _adds(session, sheet, definition)
    group = GroupDelta()
    group.sheet(sheet.round_id, sheet.bureau_id, sheet.state, adds, -1)
    group.sheet(sheet.round_id, sheet.bureau_id, state.value, adds, 1)
    apply(session, group)
    closed_round_changed(session, sheet.round_state, sheet.round_id, [sheet.bureau_id])


_REVIEWS = select(SheetReview.item_key, SheetReview.mark, SheetReview.comment).where(
    SheetReview.sheet_id == bindparam("sheet_id"))


def reviews(session: Session, sheet_id: int) -> dict[str, tuple[str, str]]:
    """The desk's marks on a (locked) sheet: item key → (mark, comment)."""
    return {row[0]: (row[1], row[2]) for row in session.connection().execute(_REVIEWS, {"sheet_id": sheet_id})}


def mark_review(session: Session, sheet: LockedSheet, marks: Mapping[str, tuple[str, str]], *, kind: EventKind,
                actor_id: int | None, now: datetime, source: EventSource = EventSource.PAGE) -> None:
    """The desk's review of a locked sheet: each item's mark (item key → (mark, comment)) replaces the one
    stored, and history records it (one event per item, or one for the whole sheet with ``REVIEW_ALL``).
    Sending back (差戻し) also reopens the sheet: the caller then calls ``set_state`` with ``DRAFT``."""
    if not marks:
        return
    conn = session.connection()
    conn.execute(delete(SheetReview).where(SheetReview.sheet_id == sheet.id,
                                           SheetReview.item_key.in_(list(marks))))
    conn.execute(insert(SheetReview), [
        {"sheet_id": sheet.id, "item_key": key, "mark": mark, "comment": comment, "at": now, "by_id": actor_id}
        for key, (mark, comment) in marks.items()])
    if kind == EventKind.REVIEW_ALL:
        events = [{"sheet_id": sheet.id, "at": now, "actor_id": actor_id, "source": source.value,
                   "kind": kind.value, "note": ""}]
    else:
        events = [{"sheet_id": sheet.id, "at": now, "actor_id": actor_id, "source": source.value,
                   "kind": kind.value, "item_key": key, "note": comment} for key, (_, comment) in marks.items()]
    conn.execute(_INSERT_EVENT, events)


def move(session: Session, sheet: LockedSheet, definition: Definition, *, unit_id: int, bureau_id: int) -> None:
    """A reorganisation hands a sheet of an open round to the 所属 that continues its 所属, under that
    所属's 部局: the sheet leaves its old 部局's group tallies for the new one's."""
    session.connection().execute(update(Sheet).where(Sheet.id == sheet.id).values(unit_id=unit_id,
                                                                                   bureau_id=bureau_id))
    if bureau_id == sheet.bureau_id:
        return
    adds = _adds(session, sheet, definition)
    group = GroupDelta()
    group.sheet(sheet.round_id, sheet.bureau_id, sheet.state, adds, -1, scopes=[sheet.bureau_id])
    group.sheet(sheet.round_id, bureau_id, sheet.state, adds, 1, scopes=[bureau_id])
    apply(session, group)
    closed_round_changed(session, sheet.round_state, sheet.round_id, [sheet.bureau_id, bureau_id])


def fold(session: Session, sheet: LockedSheet, into: LockedSheet, definition: Definition, *, note: str,
         now: datetime, entry_on: date) -> None:
    """A merge during an open round: the sheet of a 所属 merged away joins the sheet handed on to the merged
    所属 (``into``, locked with it, of the same round). Its answers fill the items still unanswered there
    (one history event each, ``note`` saying where they come from); its own history moves along, marked with
    ``note`` (history is never deleted); then it leaves the round, and its groups' counts with it."""
    carried = answers(session, sheet.id)
    target = answers(session, into.id)
    changes = [Change(item, target[item.key], carried[item.key].status, carried[item.key].memo)
               for item in definition.items
               if target[item.key].status is None and carried[item.key].status is not None]
    write_answers(session, into, definition, changes, actor_id=None, source=EventSource.REORG, now=now,
                  entry_on=entry_on, note=note)
    adds = _adds(session, sheet, definition)
    conn = session.connection()
    conn.execute(update(SheetEvent).where(SheetEvent.sheet_id == sheet.id)
                 .values(sheet_id=into.id, note=(note + " " + SheetEvent.note)))
    conn.execute(delete(SheetTally).where(SheetTally.sheet_id == sheet.id))
    conn.execute(delete(SheetReview).where(SheetReview.sheet_id == sheet.id))
    conn.execute(update(AnswerEvidence).where(AnswerEvidence.sheet_id == sheet.id).values(sheet_id=into.id))
    conn.execute(delete(PracticeMark).where(PracticeMark.sheet_id == sheet.id))
    conn.execute(delete(Answer).where(Answer.sheet_id == sheet.id))
    conn.execute(delete(Sheet).where(Sheet.id == sheet.id))
    group = GroupDelta()
    group.sheet(sheet.round_id, sheet.bureau_id, sheet.state, adds, -1)
    apply(session, group)
    closed_round_changed(session, sheet.round_state, sheet.round_id, [sheet.bureau_id])


# --- evidence on answers (根拠資料) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvidence:
    """A link or a file on an answer, without the file's bytes."""

    id: int
    item_key: str
    kind: str  # EvidenceKind
    url: str
    label: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    created_by_id: int | None = None

    @property
    def is_file(self) -> bool:
        return self.kind == EvidenceKind.FILE

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.content_type, "")

    @property
    def size_text(self) -> str:
        """The size as a person reads it: 820 B, 12 KB, 3.4 MB."""
        if self.size < 1000:
            return f"{self.size} B"
        if self.size < 1_000_000:
            return f"{self.size / 1000:.0f} KB"
        return f"{self.size / 1_000_000:.1f} MB"

    @property
    def name(self) -> str:
        """What the history and the page call it: the file's name, or the link's label and URL."""
        if self.is_file:
            return self.filename
        return f"{self.label}（{self.url}）" if self.label else self.url


_EVIDENCE = (select(AnswerEvidence.id, AnswerEvidence.item_key, AnswerEvidence.kind, AnswerEvidence.url,
                    AnswerEvidence.label, AnswerEvidence.filename, AnswerEvidence.content_type, AnswerEvidence.size,
                    AnswerEvidence.sha256, AnswerEvidence.created_at, AnswerEvidence.created_by_id)
             .where(AnswerEvidence.sheet_id.in_(bindparam("sheet_ids", expanding=True)),
                    AnswerEvidence.removed_at.is_(None))
             .order_by(AnswerEvidence.sheet_id, AnswerEvidence.id))


def evidence(session: Session, sheet_ids: Sequence[int]) -> dict[int, list[StoredEvidence]]:
    """The current evidence of sheets (removed evidence left out): sheet id → its links and files, oldest first."""
    found: dict[int, list[StoredEvidence]] = defaultdict(list)
    if not sheet_ids:
        return found
    query = _EVIDENCE.add_columns(AnswerEvidence.sheet_id)
    for row in session.connection().execute(query, {"sheet_ids": list(sheet_ids)}):
        found[row[-1]].append(StoredEvidence(*row[:-1]))
    return found


_TOUCH = update(Sheet).where(Sheet.id == bindparam("t_sheet")).values(updated_at=bindparam("t_now"))


def add_evidence(session: Session, sheet: LockedSheet, item_key: str, *, kind: EvidenceKind, actor_id: int | None,
                 now: datetime, note: str, url: str = "", label: str = "", filename: str = "",
                 content_type: str = "", data: bytes | None = None, sha256: str = "",
                 source: EventSource = EventSource.PAGE) -> int:
    """Add a link or a file to an answer of a locked sheet, with its history event. Returns its id."""
    conn = session.connection()
    new_id = conn.execute(insert(AnswerEvidence).values(
        sheet_id=sheet.id, item_key=item_key, kind=kind.value, url=url, label=label, filename=filename,
        content_type=content_type, size=len(data) if data is not None else 0, sha256=sha256, data=data,
        created_at=now, created_by_id=actor_id).returning(AnswerEvidence.id)).scalar_one()
    conn.execute(insert(SheetEvent), [{"sheet_id": sheet.id, "at": now, "actor_id": actor_id, "item_key": item_key,
                                       "kind": EventKind.EVIDENCE_ADD.value, "source": source.value,
                                       "note": note}])
    conn.execute(_TOUCH, {"t_sheet": sheet.id, "t_now": now})
    return new_id


def remove_evidence(session: Session, sheet: LockedSheet, evidence_id: int, item_key: str, *, actor_id: int | None,
                    now: datetime, note: str, source: EventSource = EventSource.PAGE) -> None:
    """Remove a link or a file from an answer of a locked sheet: the row stays (history), its bytes go."""
    conn = session.connection()
    conn.execute(update(AnswerEvidence).where(AnswerEvidence.id == evidence_id, AnswerEvidence.sheet_id == sheet.id)
                 .values(removed_at=now, removed_by_id=actor_id, data=None))
    conn.execute(insert(SheetEvent), [{"sheet_id": sheet.id, "at": now, "actor_id": actor_id, "item_key": item_key,
                                       "kind": EventKind.EVIDENCE_REMOVE.value, "source": source.value,
                                       "note": note}])
    conn.execute(_TOUCH, {"t_sheet": sheet.id, "t_now": now})


# --- new sheets ---------------------------------------------------------------------------------------------


@dataclass
class NewSheet:
    """A sheet to create with its answers (the demo generator's bulk path; opening a round creates
    empty ones)."""

    unit_id: int
    bureau_id: int
    statuses: Mapping[str, str | None] = field(default_factory=dict)  # item key → status (absent: none)
    memos: Mapping[str, str] = field(default_factory=dict)
    state: str = SheetState.DRAFT.value
    entry_on: date | None = None
    submitted_at: datetime | None = None
    submitted_by_id: int | None = None
    updated_at: datetime | None = None
    answered_at: Mapping[str, datetime] = field(default_factory=dict)  # item key → when answered
    answered_by_id: int | None = None
    versions: Mapping[str, int] = field(default_factory=dict)  # item key → times saved (absent: 1 if answered)


CHUNK = 20_000


def create(session: Session, round_: Round, definition: Definition, sheets: Sequence[NewSheet], *,
           now: datetime) -> list[int]:
    """Create sheets with their answers (every item has an answer row, unanswered or not) and their
    stored tallies, in bulk. Returns the new sheets' ids in the order given."""
    if not sheets:
        return []
    conn = session.connection()
    positions = {name: min(i.position for i in items) for name, items in definition.grouped}
    sizes = {name: len(items) for name, items in definition.grouped}
    counted = [tallies.figures_of(definition, s.statuses) for s in sheets]
    rows = []
    for s, (overall, _, _) in zip(sheets, counted, strict=True):
        rows.append({
            "round_id": round_.id, "unit_id": s.unit_id, "bureau_id": s.bureau_id, "state": s.state,
            "entry_on": s.entry_on, "submitted_at": s.submitted_at, "submitted_by_id": s.submitted_by_id,
            "updated_at": s.updated_at or now, "tally_total": len(definition.items),
            "tally_answered": overall.answered, "tally_not_applicable": overall.not_applicable,
            "tally_points": overall.points, "tally_quick_fair": overall.quick_fair,
            "tally_quick_not_done": overall.quick_not_done})
    for start in range(0, len(rows), CHUNK):
        bulk_insert(conn, Sheet, rows[start:start + CHUNK])
    units = [s.unit_id for s in sheets]
    found = dict(conn.execute(select(Sheet.unit_id, Sheet.id).where(Sheet.round_id == round_.id,
                                                                     Sheet.unit_id.in_(units))).all())
    ids = [found[u] for u in units]
    answers, categories = [], []
    group = GroupDelta()
    for sheet_id, s, (_, by_category, adds) in zip(ids, sheets, counted, strict=True):
        for item in definition.items:
            status = s.statuses.get(item.key)
            answered = status is not None
            answers.append({"sheet_id": sheet_id, "item_key": item.key, "status": status,
                            "memo": s.memos.get(item.key, ""),
                            "version": s.versions.get(item.key, 1) if answered else 0,
                            "updated_at": s.answered_at.get(item.key) if answered else None,
                            "updated_by_id": s.answered_by_id if answered else None})
        for name, c in by_category.items():
            categories.append({"sheet_id": sheet_id, "category": name, "position": positions[name],
                               "total": sizes[name], "answered": c.answered, "not_applicable": c.not_applicable,
                               "points": c.points})
        group.sheet(round_.id, s.bureau_id, s.state, adds, 1)
        if len(answers) >= CHUNK:
            bulk_insert(conn, Answer, answers)
            answers.clear()
    bulk_insert(conn, Answer, answers)
    for start in range(0, len(categories), CHUNK):
        bulk_insert(conn, SheetTally, categories[start:start + CHUNK])
    apply(session, group)
    closed_round_changed(session, round_.state, round_.id, {s.bureau_id for s in sheets})
    return ids


def add_history(session: Session, events: Sequence[dict]) -> None:
    """History events written in bulk with ``create`` (the demo generator's past answers)."""
    conn = session.connection()
    for start in range(0, len(events), CHUNK):
        bulk_insert(conn, SheetEvent, list(events[start:start + CHUNK]))


def bulk_insert(conn: Connection, model, rows: list[dict]) -> None:
    """executemany on SQLite; COPY on PostgreSQL (several times faster than INSERT batches there).
    Every row of one call has the same keys."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(model), rows)
        return
    # pragma: no mutate block (PostgreSQL only; `make mutate` runs on SQLite: tests/test_writer.py, PG half)
    columns = list(rows[0])
    table = model.__table__
    binds = [table.c[name].type for name in columns]
    names = ", ".join(f'"{name}"' for name in columns)
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:  # noqa: S608 (our own names)
        for row in rows:
            copy.write_row([_db_value(t, row[c], conn.dialect) for t, c in zip(binds, columns, strict=True)])


def _db_value(type_, value, dialect):
    """What the column type would bind (UTCDateTime checks and normalises datetimes)."""
    processor = getattr(type_, "process_bind_param", None)
    return processor(value, dialect) if processor and value is not None else value


# --- the group tallies --------------------------------------------------------------------------------------


def _upserts(model, keys: tuple[str, ...]) -> dict[str, object]:  # pragma: no mutate block (built once at import)
    statements = {}
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite)):
        stmt = dialect.insert(model.__table__)
        statements[name] = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={"sections": model.__table__.c.sections + stmt.excluded.sections})
    return statements


_MATURITY_UPSERT = _upserts(MaturityTally, ("round_id", "bureau_id", "category", "maturity_x10", "state"))
_ITEM_UPSERT = _upserts(ItemTally, ("round_id", "bureau_id", "item_key", "status", "state"))


def closed_round_changed(session: Session, round_state: str, round_id: int, bureau_ids: Iterable[int]) -> None:
    """A change of a round that is not open (an import into a closed round, say): the figures stored for
    it follow (``figures.materialize``); open rounds have none."""
    if round_state != RoundState.OPEN:
        figures.refresh_stored(session, round_id, set(bureau_ids))


def apply(session: Session, group: GroupDelta) -> None:
    """Write gathered group counts: increments of existing rows, new rows for new values."""
    conn = session.connection()
    dialect = conn.dialect.name
    for statement, rows in ((_MATURITY_UPSERT, group.maturity_rows()), (_ITEM_UPSERT, group.item_rows())):
        if rows:
            conn.execute(statement[dialect], rows)
