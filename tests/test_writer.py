"""The sheet writer (``app.sheets.writer``) called directly: every column it writes, every history event,
and the stored tallies recounted from the answers after each kind of write (``test_stored_tallies``),
on SQLite and PostgreSQL. The pages and the API reach the writer through the use cases; these tests
pin what the writer itself writes, so that a change to one of its values fails here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import select

from app.checklists import service as checklists
from app.orgs.models import UnitKind
from app.rounds.models import Round
from app.sheets import service, writer
from app.sheets.models import (
    Answer,
    EventSource,
    ItemTally,
    MaturityTally,
    Sheet,
    SheetEvent,
    SheetState,
    SheetTally,
)
from app.sheets.tallies import GroupDelta
from tests import factories as f
from tests.test_stored_tallies import assert_in_step, recounted, stored

NOW = datetime(2026, 6, 1, 3, 4, 5, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
ON = date(2026, 6, 1)


def _items(session, world):
    """A ☆ item (a quick win), an item that allows 該当なし, and an item of another category than both."""
    definition = checklists.get_definition(session, world.version_id)
    quick = next(i for i in definition.items if i.difficulty == 1)
    na = next(i for i in definition.items if i.allows_na and i.key != quick.key)
    other = next(i for i in definition.items if i.category not in (quick.category, na.category))
    return definition, quick, na, other


def _locked(session, world, unit):
    [sheet] = writer.lock(session, [f.sheet_of(session, world.round.id, unit).id])
    return sheet


def _answer(session, sheet_id, key):
    return session.execute(select(Answer).where(Answer.sheet_id == sheet_id, Answer.item_key == key)).scalar_one()


def _events(session, sheet_id):
    return session.execute(select(SheetEvent).where(SheetEvent.sheet_id == sheet_id).order_by(SheetEvent.id)).scalars().all()


def test_write_answers_writes_each_answer_its_history_and_every_count(session, world):
    definition, quick, na, other = _items(session, world)
    sheet = _locked(session, world, world.a1)
    assert writer.answers(session, sheet.id, [quick.key]).keys() == {quick.key}  # only those asked for
    stored_answers = writer.answers(session, sheet.id)
    assert len(stored_answers) == len(definition.items)
    changes = [writer.Change(quick, stored_answers[quick.key], "×", "紙で保管"),
               writer.Change(na, stored_answers[na.key], "該当なし", ""),
               writer.Change(other, stored_answers[other.key], "◎", "")]
    writer.write_answers(session, sheet, definition, changes, actor_id=world.member_a.id, source=EventSource.API,
                         now=NOW, entry_on=ON, note="一括")
    session.flush()
    session.expire_all()
    a = _answer(session, sheet.id, quick.key)
    assert (a.status, a.memo, a.version, a.updated_at, a.updated_by_id) == ("×", "紙で保管", 1, NOW, world.member_a.id)
    assert (_answer(session, sheet.id, na.key).status, _answer(session, sheet.id, other.key).version) == ("該当なし", 1)
    row = session.get(Sheet, sheet.id)
    assert (row.updated_at, row.entry_on) == (NOW, ON)
    assert (row.tally_answered, row.tally_not_applicable, row.tally_points) == (2, 1, 3)
    assert (row.tally_quick_fair, row.tally_quick_not_done) == (0, 1)
    events = _events(session, sheet.id)
    assert [(e.at, e.actor_id, e.kind, e.source, e.item_key, e.old_status, e.new_status, e.old_memo, e.new_memo, e.note)
            for e in events] == [
        (NOW, world.member_a.id, "answer", "api", quick.key, None, "×", "", "紙で保管", "一括"),
        (NOW, world.member_a.id, "answer", "api", na.key, None, "該当なし", None, None, "一括"),
        (NOW, world.member_a.id, "answer", "api", other.key, None, "◎", None, None, "一括")]
    session.commit()
    assert_in_step(session)

    # The memo alone changes (no count moves), then the status alone (the memo is kept, not in the history).
    sheet = _locked(session, world, world.a1)
    before = stored(session)
    now = writer.answers(session, sheet.id, [quick.key])
    writer.write_answers(session, sheet, definition, [writer.Change(quick, now[quick.key], "×", "電子化を検討中")],
                         actor_id=world.leader_a.id, source=EventSource.PAGE, now=LATER, entry_on=ON + timedelta(days=1))
    session.flush()
    session.expire_all()
    assert {k: v for k, v in stored(session).items() if k != "sheets"} == {
        k: v for k, v in before.items() if k != "sheets"}
    assert session.get(Sheet, sheet.id).tally_points == 3
    sheet = _locked(session, world, world.a1)
    now = writer.answers(session, sheet.id, [quick.key])
    assert (now[quick.key].version, now[quick.key].memo, now[quick.key].updated_by_id) == (
        2, "電子化を検討中", world.leader_a.id)
    writer.write_answers(session, sheet, definition, [writer.Change(quick, now[quick.key], "△", "電子化を検討中")],
                         actor_id=None, source=EventSource.IMPORT, now=LATER, entry_on=ON)
    session.flush()
    session.expire_all()
    last_two = _events(session, sheet.id)[-2:]
    assert [(e.actor_id, e.source, e.old_status, e.new_status, e.old_memo, e.new_memo, e.note) for e in last_two] == [
        (world.leader_a.id, "page", "×", "×", "紙で保管", "電子化を検討中", ""),
        (None, "import", "×", "△", None, None, "")]
    row = session.get(Sheet, sheet.id)
    assert (row.tally_points, row.tally_quick_fair, row.tally_quick_not_done) == (4, 1, 0)
    assert _answer(session, sheet.id, quick.key).version == 3
    session.commit()
    assert_in_step(session)


def test_write_answers_of_several_sheets_gathers_the_group_counts_for_the_caller(session, world):
    definition, quick, na, _ = _items(session, world)
    sheets = writer.lock(session, [f.sheet_of(session, world.round.id, u).id for u in (world.a1, world.b1)])
    group = GroupDelta()
    groups_before = {k: v for k, v in stored(session).items() if k in ("maturity", "items")}
    for sheet in sheets:
        now = writer.answers(session, sheet.id, [quick.key, na.key])
        writer.write_answers(session, sheet, definition, [writer.Change(quick, now[quick.key], "○", ""),
                                                          writer.Change(na, now[na.key], "◎", "")],
                             actor_id=world.admin.id, source=EventSource.IMPORT, now=NOW, entry_on=ON, group=group)
    session.flush()
    session.expire_all()
    assert {k: v for k, v in stored(session).items() if k in ("maturity", "items")} == groups_before  # not yet
    writer.apply(session, group)
    session.commit()
    assert_in_step(session)
    assert writer.write_answers(session, sheets[0], definition, [], actor_id=None, source=EventSource.API,
                                now=NOW, entry_on=ON) is None
    session.commit()


def test_set_state_submits_with_who_and_when_and_reopens_clearing_them(session, world):
    definition, quick, _, _ = _items(session, world)
    f.set_answers(session, world.round.id, world.a1, {quick.key: "◎"})
    sheet = _locked(session, world, world.a1)
    writer.set_state(session, sheet, definition, SheetState.SUBMITTED, actor_id=world.leader_a.id,
                     source=EventSource.PAGE, now=NOW)
    session.flush()
    session.expire_all()
    row = session.get(Sheet, sheet.id)
    assert (row.state, row.submitted_at, row.submitted_by_id, row.updated_at) == (
        "submitted", NOW, world.leader_a.id, NOW)
    session.commit()
    assert_in_step(session)
    sheet = _locked(session, world, world.a1)
    writer.set_state(session, sheet, definition, SheetState.DRAFT, actor_id=world.admin.id,
                     source=EventSource.API, now=LATER, note="誤り")
    session.flush()
    session.expire_all()
    row = session.get(Sheet, sheet.id)
    assert (row.state, row.submitted_at, row.submitted_by_id, row.updated_at) == ("draft", None, None, LATER)
    events = [e for e in _events(session, sheet.id) if e.kind != "answer"]
    assert [(e.at, e.actor_id, e.kind, e.source, e.item_key, e.note) for e in events] == [
        (NOW, world.leader_a.id, "submit", "page", None, ""), (LATER, world.admin.id, "reopen", "api", None, "誤り")]
    session.commit()
    assert_in_step(session)


def test_move_hands_a_sheet_on_and_moves_its_group_counts_only_between_bureaus(session, world):
    definition, quick, na, _ = _items(session, world)
    f.set_answers(session, world.round.id, world.b1, {quick.key: "△", na.key: "該当なし"})
    session.commit()
    bureau_c = f.make_unit(session, "C", "C部", kind=UnitKind.BUREAU, position=3)
    c1 = f.make_unit(session, "C1", "C部 一課", parent=bureau_c, position=1)
    b2 = f.make_unit(session, "B2", "B部 二課", parent=world.bureau_b, position=2)
    sheet = _locked(session, world, world.b1)
    groups = {k: v for k, v in stored(session).items() if k in ("maturity", "items")}
    writer.move(session, sheet, definition, unit_id=b2.id, bureau_id=world.bureau_b.id)  # the same 部局
    session.flush()
    session.expire_all()
    assert session.execute(select(Sheet.unit_id, Sheet.bureau_id).where(Sheet.id == sheet.id)).one() == (
        b2.id, world.bureau_b.id)
    assert {k: v for k, v in stored(session).items() if k in ("maturity", "items")} == groups
    session.commit()
    assert_in_step(session)
    [sheet] = writer.lock(session, [sheet.id])
    writer.move(session, sheet, definition, unit_id=c1.id, bureau_id=bureau_c.id)
    session.flush()
    session.expire_all()
    assert session.execute(select(Sheet.unit_id, Sheet.bureau_id).where(Sheet.id == sheet.id)).one() == (
        c1.id, bureau_c.id)
    session.commit()
    assert_in_step(session)
    gone = session.execute(select(MaturityTally.sections).where(
        MaturityTally.bureau_id == world.bureau_b.id, MaturityTally.category == "")).scalars().all()
    assert sum(gone) == 0  # B部 has no sheet left in this round


def test_create_writes_every_answer_the_sheet_its_counts_and_its_groups(session, world, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 7)  # several inserts of at most 7 rows (20,000 in use)
    definition, quick, na, other = _items(session, world)
    quick_fair = next(i for i in definition.items if i.difficulty == 1 and i.key not in (quick.key, na.key, other.key))
    round_ = f.make_round(session, world.version_id, title="令和8年度 第2回", open_it=False)
    untouched = next(i for i in definition.items if i.key not in (quick.key, quick_fair.key, na.key, other.key))
    when = {quick.key: NOW - timedelta(days=2), untouched.key: NOW}  # an unanswered item has no time
    full = writer.NewSheet(world.a1.id, world.bureau_a.id,
                           statuses={quick.key: "×", quick_fair.key: "△", na.key: "該当なし", other.key: "○"},
                           memos={quick.key: "紙", other.key: ""}, state="submitted", entry_on=ON,
                           submitted_at=NOW - timedelta(days=1), submitted_by_id=world.leader_a.id,
                           updated_at=NOW - timedelta(hours=3), answered_at=when, answered_by_id=world.member_a.id)
    empty = writer.NewSheet(world.b1.id, world.bureau_b.id)
    assert writer.create(session, round_, definition, [], now=NOW) == []
    ids = writer.create(session, round_, definition, [full, empty], now=NOW)
    session.flush()
    session.expire_all()
    assert [session.get(Sheet, i).unit_id for i in ids] == [world.a1.id, world.b1.id]
    first, second = (session.get(Sheet, i) for i in ids)
    assert (first.round_id, first.bureau_id, first.state, first.entry_on, first.submitted_at, first.submitted_by_id,
            first.updated_at) == (round_.id, world.bureau_a.id, "submitted", ON, NOW - timedelta(days=1),
                                  world.leader_a.id, NOW - timedelta(hours=3))
    assert (first.tally_total, first.tally_answered, first.tally_not_applicable, first.tally_points,
            first.tally_quick_fair, first.tally_quick_not_done) == (len(definition.items), 3, 1, 3, 1, 1)
    assert (second.state, second.updated_at, second.entry_on, second.tally_answered) == ("draft", NOW, None, 0)
    a = _answer(session, first.id, quick.key)
    assert (a.status, a.memo, a.version, a.updated_at, a.updated_by_id) == (
        "×", "紙", 1, NOW - timedelta(days=2), world.member_a.id)
    b = _answer(session, first.id, other.key)
    assert (b.status, b.memo, b.version, b.updated_at, b.updated_by_id) == ("○", "", 1, None, world.member_a.id)
    c = _answer(session, first.id, untouched.key)
    assert (c.status, c.memo, c.version, c.updated_at, c.updated_by_id) == (None, "", 0, None, None)
    assert len(session.execute(select(Answer.id).where(Answer.sheet_id == second.id)).all()) == len(definition.items)
    positions = {name: min(i.position for i in items) for name, items in definition.grouped}
    rows = session.execute(select(SheetTally).where(SheetTally.sheet_id == first.id)).scalars().all()
    assert {(t.category, t.position, t.total) for t in rows} == {
        (name, positions[name], len(items)) for name, items in definition.grouped}
    session.commit()
    assert_in_step(session)
    assert session.execute(select(ItemTally.sections).where(
        ItemTally.round_id == round_.id, ItemTally.state == "submitted", ItemTally.item_key == quick.key,
        ItemTally.status == "×")).scalars().all() == [1, 1]  # the prefecture and A部


def test_add_history_writes_the_events_given(session, world):
    sheet_id = f.sheet_of(session, world.round.id, world.a1).id
    events = [{"sheet_id": sheet_id, "at": NOW, "actor_id": world.member_a.id, "kind": "answer", "source": "demo",
               "item_key": "k", "old_status": None, "new_status": "◎", "old_memo": None, "new_memo": None,
               "note": f"n{i}"} for i in range(3)]
    writer.add_history(session, events)
    writer.add_history(session, [])
    session.flush()
    assert [(e.at, e.actor_id, e.source, e.new_status, e.note) for e in _events(session, sheet_id)] == [
        (NOW, world.member_a.id, "demo", "◎", f"n{i}") for i in range(3)]
    session.commit()
    assert recounted(session) == stored(session)


def test_in_a_closed_round_the_stored_figures_follow_every_write(session, world):
    """The app submits, reopens, hands on and creates sheets only in open rounds (the demo generator creates
    past rounds' sheets), and imports into a closed one several sheets at a time; the writer keeps a closed round's stored figures (``figures.materialize``) whatever it writes
    there, one sheet at a time too."""
    definition, quick, na, _ = _items(session, world)
    f.set_answers(session, world.round.id, world.a1, {quick.key: "◎", na.key: "○"})
    f.set_answers(session, world.round.id, world.a2, {quick.key: "×"})
    session.commit()
    [round_] = session.execute(select(Round).where(Round.id == world.round.id)).scalars()
    service.close_round(session, round_)
    session.commit()
    assert_in_step(session)
    writer.set_state(session, _locked(session, world, world.a1), definition, SheetState.SUBMITTED,
                     actor_id=world.admin.id, source=EventSource.API, now=NOW)
    session.commit()
    assert_in_step(session)
    writer.set_state(session, _locked(session, world, world.a1), definition, SheetState.DRAFT,
                     actor_id=world.admin.id, source=EventSource.API, now=LATER)
    session.commit()
    assert_in_step(session)
    writer.move(session, _locked(session, world, world.a2), definition, unit_id=world.a2.id,
                bureau_id=world.bureau_b.id)
    session.commit()
    assert_in_step(session)
    sheet = _locked(session, world, world.a1)
    now = writer.answers(session, sheet.id, [quick.key])
    writer.write_answers(session, sheet, definition, [writer.Change(quick, now[quick.key], "×", "")],
                         actor_id=world.admin.id, source=EventSource.IMPORT, now=LATER, entry_on=ON)
    session.commit()
    assert_in_step(session)
    c1 = f.make_unit(session, "C1", "C部 一課", parent=world.bureau_b, position=2)
    [round_] = session.execute(select(Round).where(Round.id == world.round.id)).scalars()
    writer.create(session, round_, definition, [writer.NewSheet(c1.id, world.bureau_b.id, statuses={quick.key: "◎"})],
                  now=NOW)
    session.commit()
    assert_in_step(session)


def test_the_copy_path_binds_each_value_as_its_column_type_would():
    """``bulk_insert`` on PostgreSQL writes with COPY, past SQLAlchemy's binding: ``_db_value`` applies the
    column type's own (UTC datetimes: aware, converted to UTC, naive refused)."""
    import pytest
    from sqlalchemy import Integer
    from sqlalchemy.dialects import postgresql, sqlite

    from app.db import UTCDateTime

    pg, lite = postgresql.dialect(), sqlite.dialect()
    tokyo = datetime(2026, 6, 1, 12, 4, 5, tzinfo=timezone(timedelta(hours=9)))
    assert writer._db_value(UTCDateTime(), tokyo, pg) == NOW and writer._db_value(UTCDateTime(), tokyo, pg).tzinfo
    assert writer._db_value(UTCDateTime(), tokyo, lite) == NOW.replace(tzinfo=None)  # the dialect is passed on
    assert writer._db_value(UTCDateTime(), None, pg) is None
    with pytest.raises(ValueError, match="naive"):
        writer._db_value(UTCDateTime(), NOW.replace(tzinfo=None), pg)
    assert writer._db_value(Integer(), 7, pg) == 7 and writer._db_value(Integer(), None, pg) is None
