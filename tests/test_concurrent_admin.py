"""Two admins at the same moment: bulk changes that plan from what they read run one at a time, and a
write that loses a race on a uniqueness rule is a 409 with a message, never a 500."""

from __future__ import annotations

import threading

from sqlmodel import func, select

from app.auth import directory
from app.auth.models import User
from app.db import one_at_a_time, session_for
from tests.conftest import sign_in


def test_one_at_a_time_lets_the_second_transaction_in_only_after_the_first_commits(engine, world):
    committed = threading.Event()
    seen: list[bool] = []

    def second() -> None:
        with session_for(engine, write=True) as s:
            one_at_a_time(s, "reorg")
            seen.append(committed.is_set())
            s.rollback()

    with session_for(engine, write=True) as first:
        one_at_a_time(first, "reorg")
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.5)  # without the lock the second would be through by now
        assert thread.is_alive()
        committed.set()
        first.commit()
    thread.join(timeout=30)
    assert seen == [True]


def test_a_write_that_loses_a_uniqueness_race_is_a_409_and_changes_nothing(client, session, world, monkeypatch):
    def add_user_after_the_other_admin(s, principal, data):
        # Between this admin's check and insert, another admin registered the same person.
        s.add(User(upn="member.a1@test.example", display_name="同時登録"))
        s.flush()

    monkeypatch.setattr(directory, "add_user", add_user_after_the_other_admin)
    token = sign_in(client, "admin@test.example")
    response = client.post("/admin/users", data={"csrf_token": token, "upn": "member.a1@test.example",
                                                   "display_name": "同時登録", "unit_code": "A1", "role": "member"})
    assert response.status_code == 409
    assert "同時に別の変更が行われた" in response.text
    count = session.exec(select(func.count()).select_from(User).where(User.upn == "member.a1@test.example")).one()
    assert count == 1
