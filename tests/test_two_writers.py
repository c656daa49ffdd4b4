"""Two people saving the same row with the same version: one wins, the other gets 409; nothing is lost."""

from __future__ import annotations

import threading

from sqlmodel import select

from app.sheets.models import Answer, SheetEvent
from tests.conftest import sign_in

K1 = "office.daily.keep-electronic"


def test_concurrent_writers_of_one_row_end_in_one_winner_and_one_409(new_client, session, world):
    url = f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{K1}"
    people = []
    for upn, status in (("member.a1@test.example", "◎"), ("leader.a1@test.example", "×")):
        c = new_client()
        people.append((c, sign_in(c, upn), status))
    barrier = threading.Barrier(len(people))
    results: list[tuple[str, int]] = []

    def save(c, token, status):
        barrier.wait()
        response = c.put(url, json={"status": status, "version": 0}, headers={"X-CSRF-Token": token})
        results.append((status, response.status_code))

    threads = [threading.Thread(target=save, args=p) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for _, code in results)
    assert codes == [200, 409], results
    winner = next(status for status, code in results if code == 200)
    session.expire_all()
    answer = session.exec(select(Answer).where(Answer.item_key == K1, Answer.sheet_id == _sheet_id(session, world))).one()
    assert (answer.status, answer.version) == (winner, 1)
    events = session.exec(select(SheetEvent).where(SheetEvent.item_key == K1)).all()
    assert [(e.new_status, e.old_status) for e in events] == [(winner, None)]


def test_many_sequential_saves_keep_every_version(new_client, session, world):
    c = new_client()
    token = sign_in(c, "member.a1@test.example")
    url = f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{K1}"
    for version, status in enumerate(["×", "△", "○", "◎", "○"]):
        assert c.put(url, json={"status": status, "version": version}, headers={"X-CSRF-Token": token}).json()[
            "version"] == version + 1
    events = session.exec(select(SheetEvent).where(SheetEvent.item_key == K1).order_by(SheetEvent.id)).all()
    assert [(e.old_status, e.new_status) for e in events] == [
        (None, "×"), ("×", "△"), ("△", "○"), ("○", "◎"), ("◎", "○")]


def _sheet_id(session, world):
    from tests.factories import sheet_of

    return sheet_of(session, world.round.id, world.a1).id
