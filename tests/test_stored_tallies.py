"""Stored tallies (``sheet_tally``) stay equal to what the answers say, whichever path wrote them."""

from __future__ import annotations

from sqlalchemy import select

from app import migrate
from app.scoring import queries
from app.sheets import service
from app.sheets.models import Sheet, SheetTally
from tests import factories as f
from tests.conftest import csrf_from, sign_in

K1 = "office.daily.keep-electronic"
K_NA = "meeting.internal.no-paper-handouts"


def stored(session) -> dict[int, dict[str, tuple]]:
    """Per sheet, the stored counts per category, and the sheet row's overall counts under ""."""
    result: dict[int, dict[str, tuple]] = {}
    for t in session.execute(select(SheetTally)).scalars():
        result.setdefault(t.sheet_id, {})[t.category] = (t.total, t.answered, t.not_applicable, t.points)
    for s in session.execute(select(Sheet)).scalars():
        result.setdefault(s.id, {})[""] = (s.tally_total, s.tally_answered, s.tally_not_applicable, s.tally_points)
    return result


def computed(session, round_ids) -> dict[int, dict[str, tuple]]:
    result = {}
    for round_id in round_ids:
        for s in queries.sheet_scores(session, round_id):
            result[s.sheet_id] = {c: (t.total, t.answered, t.not_applicable, t.points) for c, t in s.categories.items()}
            o = s.overall
            result[s.sheet_id][""] = (o.total, o.answered, o.not_applicable, o.points)
    return result


def assert_in_step(session, world):
    session.expire_all()
    try:
        assert stored(session) == computed(session, [world.round.id])
    finally:
        session.commit()  # end the read (without expiring the test's objects): no lock held


def test_every_writer_keeps_the_stored_tallies_in_step(client, session, world):
    assert_in_step(session, world)  # opening the round counted every sheet (all unanswered)
    base = f"/rounds/{world.round.id}/sections/A1"
    token = sign_in(client, "leader.a1@test.example")
    client.put(f"/api/v1{base}/answers/{K1}", json={"status": "◎", "version": 0}, headers={"X-CSRF-Token": token})
    assert_in_step(session, world)
    client.post(f"{base}/items/{K_NA}", data={f"status:{K_NA}": "該当なし", f"version:{K_NA}": "0"},
                headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert_in_step(session, world)
    page = client.get(base).text
    client.post(base, data={"csrf_token": csrf_from(page), f"status:{K1}": "△", f"version:{K1}": "1"})
    assert_in_step(session, world)
    sheet = f.sheet_of(session, world.round.id, world.b1)
    service.write_imported_answers(session, sheet_id=sheet.id, actor_id=world.admin.id, note="test", entry_on=None,
                                   answers=[service.ImportedAnswer(K1, "○", "", 0)])
    session.commit()
    assert_in_step(session, world)
    assert stored(session)[sheet.id]["所属内"] == (2, 1, 0, 2)
    assert stored(session)[sheet.id][""] == (6, 1, 0, 2)


def test_the_migration_counts_the_sheets_that_already_exist(client, session, world, database_url):
    token = sign_in(client, "member.a1@test.example")
    round_id = world.round.id
    for key, status in ((K1, "○"), (K_NA, "該当なし")):
        client.put(f"/api/v1/rounds/{round_id}/sections/A1/answers/{key}", json={"status": status, "version": 0},
                   headers={"X-CSRF-Token": token})
    expected = stored(session)
    assert expected == computed(session, [round_id])
    session.close()
    client.app.state.engine.dispose()
    migrate.downgrade(database_url, "0004")
    migrate.upgrade(database_url)
    assert stored(session) == expected
