"""The statements one save sends to the database, counted (bench/save_probe.py prints them in full).

A save is the hot path of the whole app (a row saves itself on every change): its statements are pinned here,
statement by statement, so that an extra read, a read of what was just read under the lock, an N+1 or a write
taken again after the commit fails a test instead of slowing every save. Both databases."""

from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import event

from tests.conftest import sign_in
from tests.factories import field

K1 = "office.daily.keep-electronic"
K2 = "office.daily.no-personal-printing"
_TABLE = re.compile(r'^(?:SELECT .*? FROM|UPDATE|INSERT INTO|DELETE FROM)\s+"?(\w+)"?', re.S)
_WRITTEN = re.compile(r'(?<!DO )\b(UPDATE|INSERT INTO|DELETE FROM)\s+"?(\w+)"?')

# One answer saved: who is asking, the sheet locked with the answer and its category's counts, then the writes: the
# answer, its history, the category's counts, the sheet's counts, the 部局's and prefecture's counts. On PostgreSQL
# the writes are one statement (data-modifying CTEs: one round trip instead of six).
WRITES = [("UPDATE", "answer"), ("INSERT", "sheet_event"), ("UPDATE", "sheet_tally"), ("UPDATE", "sheet"),
          ("INSERT", "maturity_tally"), ("INSERT", "item_tally")]


def save_statements(backend: str) -> list[tuple]:
    writes = [("WITH", tuple(WRITES))] if backend == "postgres" else WRITES
    return [("SELECT", "user"), ("SELECT", "sheet"), *writes]


def _kind(statement: str) -> tuple:
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
        return verb, text
    if verb == "WITH":  # data-modifying CTEs: what each writes, in the order written in the statement
        return verb, tuple((found[0].split()[0], found[1]) for found in _WRITTEN.findall(text))
    found = _TABLE.match(text)
    return verb, found.group(1) if found else text


@contextmanager
def recorded(engine):
    """Every statement sent while inside, as (verb, table), with the commits and rollbacks in their place."""
    seen: list[tuple[str, str]] = []

    def statement(conn, cursor, text, parameters, context, executemany):
        seen.append(_kind(text))

    def commit(conn):
        seen.append(("COMMIT", ""))

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def _sql(seen):
    """Without SQLite's explicit BEGIN (PostgreSQL's is implicit) and the commit."""
    return [s for s in seen if s[0] not in ("BEGIN", "COMMIT")]


def test_one_answer_saved_through_the_api_is_eight_statements_and_one_commit(client, world, engine, backend):
    token = sign_in(client, "member.a1@test.example")
    url = f"/api/v1/rounds/{world.round.id}/sections/A1/answers"
    headers = {"X-CSRF-Token": token}
    assert client.put(f"{url}/{K2}", json={"status": "○", "memo": "", "version": 0}, headers=headers).status_code == 200
    with recorded(engine) as seen:
        response = client.put(f"{url}/{K1}", json={"status": "◎", "memo": "電子で保存", "version": 0}, headers=headers)
    assert response.status_code == 200, response.text
    assert _sql(seen) == save_statements(backend)
    assert seen[-1] == ("COMMIT", "") and seen.count(("COMMIT", "")) == 1
    # a change of an answered item: the same statements (the category's counts read back by the increment)
    with recorded(engine) as seen:
        again = client.put(f"{url}/{K1}", json={"status": "△", "memo": "", "version": 1}, headers=headers)
    assert again.status_code == 200 and again.json()["version"] == 2
    assert _sql(seen) == save_statements(backend)


def test_a_row_saved_through_htmx_writes_once_then_only_reads_without_the_write_lock(client, world, engine, backend):
    token = sign_in(client, "member.a1@test.example")
    url = f"/rounds/{world.round.id}/sections/A1/items"
    headers = {"X-CSRF-Token": token, "HX-Request": "true"}
    client.post(f"{url}/{K1}", data={field("status", K1): "○", field("version", K1): "0"}, headers=headers)
    with recorded(engine) as seen:  # an answered item changed (the previous round's panel cannot change)
        response = client.post(f"{url}/{K1}", data={field("status", K1): "◎", field("memo", K1): "",
                                                     field("version", K1): "1"}, headers=headers)
    assert response.status_code == 200 and "保存しました" in response.text
    commit = seen.index(("COMMIT", ""))
    write, after = seen[:commit], seen[commit + 1:]
    # the round (the form's field names follow its checklist), then the save itself
    save = save_statements(backend)
    assert _sql(write) == [save[0], ("SELECT", "round"), *save[1:]]
    # after the commit: reads only (the sheet with its 所属, answers and 部局; its figures), never the write lock;
    # on PostgreSQL they end with COMMIT (app.db.end_reads: a ROLLBACK would make psycopg forget its prepared
    # statements)
    if backend == "postgres":
        assert after[-1] == ("COMMIT", ""), after
        after = after[:-1]
    assert all(verb in ("SELECT", "BEGIN") for verb, _ in after), after
    assert len(_sql(after)) <= 7, after
    assert not any(table in ("user", "membership", "sheet_review", "sheet_event") for _, table in after), after
    if backend == "sqlite":
        assert ("BEGIN", "BEGIN DEFERRED") in after and ("BEGIN", "BEGIN IMMEDIATE") not in after


def test_a_save_that_waited_for_the_sheet_reads_the_answer_as_the_save_before_it_left_it(world, engine):
    """The save's one statement (sheet, answer and the answer's category counts) waits for the sheet's lock; it must
    then read the answer and the category's counts as the save that held the lock committed them, not as they were
    when the statement began (PostgreSQL's READ COMMITTED reads only the locked rows of a join again: the answer
    and the category's counts are locked with the sheet for that). Stale counts would move the group tallies from
    a maturity the sheet no longer has."""
    import threading
    import time

    from sqlalchemy import update

    from app.db import session_for
    from app.sheets import writer
    from app.sheets.models import Answer, SheetTally

    first, second = session_for(engine, write=True), session_for(engine, write=True)
    try:
        sheet, stored = writer.lock_with_answer(first, world.round.id, "A1", K1)
        [(category, counts)] = sheet.categories.items()
        first.connection().execute(update(Answer).where(Answer.id == stored.id)
                                   .values(status="◎", version=Answer.version + 1))
        first.connection().execute(update(SheetTally).where(SheetTally.sheet_id == sheet.id,
                                                            SheetTally.category == category)
                                   .values(answered=SheetTally.answered + 1, points=SheetTally.points + 3))
        found = {}
        waiting = threading.Thread(target=lambda: found.update(
            row=writer.lock_with_answer(second, world.round.id, "A1", K1)))
        waiting.start()
        time.sleep(0.5)  # the second statement is now waiting for the sheet's lock
        assert "row" not in found
        first.commit()
        waiting.join(timeout=30)
        locked, seen = found["row"]
        assert (seen.status, seen.version) == ("◎", stored.version + 1)
        assert locked.categories == {category: writer.Counts(counts.answered + 1, counts.not_applicable,
                                                             counts.points + 3)}
    finally:
        first.close()
        second.rollback()
        second.close()


def test_a_save_takes_the_group_rows_in_the_order_every_writer_takes_them(world, engine, backend):
    """Group tallies are shared by every sheet of a 部局: every writer takes their rows in one order (the maturity
    rows, then the item rows, as ``writer.apply`` writes them), so that two writers never wait for each other in a
    circle. On PostgreSQL a save writes them in one statement, whose sub-statements run in an order of the
    database's choosing unless one reads another's rows. Here another writer holds the round's maturity rows, the
    save waits for one of them, and the other writer then takes the item rows: a save that had taken an item row
    before waiting would deadlock (and one of the two would fail)."""
    import threading
    import time

    from sqlalchemy import update

    from app.checklists import service as checklists
    from app.db import session_for
    from app.jpdate import now_utc, today_jst
    from app.sheets import writer
    from app.sheets.models import EventSource, ItemTally, MaturityTally

    if backend == "sqlite":
        return  # one writer at a time: nothing to interleave
    other, saving = session_for(engine, write=True), session_for(engine, write=True)
    failed = []

    def save():
        try:
            sheet, stored = writer.lock_with_answer(saving, world.round.id, "A1", K1)
            definition = checklists.get_definition(saving, sheet.version_id)
            writer.write_answers(saving, sheet, definition, [writer.Change(definition.item(K1), stored, "◎", "")],
                                 actor_id=None, source=EventSource.API, now=now_utc(), entry_on=today_jst())
            saving.commit()
        except Exception as exc:  # noqa: BLE001 (reported below)
            failed.append(exc)

    try:
        other.connection().execute(update(MaturityTally).where(MaturityTally.round_id == world.round.id)
                                   .values(sections=MaturityTally.sections))
        thread = threading.Thread(target=save)
        thread.start()
        time.sleep(0.5)  # the save now waits for a maturity row
        assert thread.is_alive()
        other.connection().execute(update(ItemTally).where(ItemTally.round_id == world.round.id)
                                   .values(sections=ItemTally.sections))
        other.commit()
        thread.join(timeout=30)
        assert not failed, failed
    finally:
        other.rollback()
        other.close()
        saving.rollback()
        saving.close()


def test_a_writer_that_committed_lets_the_next_writer_through_the_gate_before_it_renders():
    """SQLite's writers queue one at a time in the process (``DbGate``); a save that committed and only renders
    now lets the next one in (``reads_from_here`` calls what ``admit`` yields, from the request's thread)."""
    import asyncio
    import threading

    from app.db import DbGate

    async def scenario() -> list[str]:
        gate = DbGate(4, wait_seconds=2, serialise_writes=True)
        order: list[str] = []
        committed, rendered = asyncio.Event(), asyncio.Event()

        async def first():
            async with gate.admit(write=True) as done_writing:
                order.append("first writes")
                await asyncio.to_thread(done_writing)  # from a worker thread, as a sync route does
                threading.Thread(target=done_writing).start()  # a second call changes nothing
                committed.set()
                await rendered.wait()  # still rendering: the second writer must not wait for this
                order.append("first rendered")

        async def second():
            await committed.wait()
            async with gate.admit(write=True):
                order.append("second writes")
                rendered.set()

        await asyncio.wait_for(asyncio.gather(first(), second()), timeout=5)
        async with gate.admit(write=True):  # every slot given back exactly once: a third writer gets in
            order.append("third writes")
        slots, writers = gate._semaphores()
        assert (writers._value, slots._value) == (1, 4)  # nothing given back twice
        return order

    # a loop of its own in a thread of its own: a browser test before this one in the same worker may have left
    # the main thread's event loop running (Playwright's sync API), where asyncio.run() refuses to start
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        order = pool.submit(asyncio.run, scenario()).result()
    assert order == ["first writes", "second writes", "first rendered", "third writes"]
