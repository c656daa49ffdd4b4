"""Reminder rules per round: who is reminded (pure decision), the preview that lists exactly who receives what,
「今すぐ送る」 from the board (CSRF, one transaction), the daily automatic run, and the escalation to a 部局.

World: 部局 A (A1 with leader.a1, A2 without a leader), 部局 B (B1 with leader.b1); every sheet 未着手."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import delete, select

from app.jpdate import today_jst, wareki
from app.notify import reminders
from app.notify.models import ReminderLog, ReminderRule
from app.outbox.models import NotifyChannel, OutboxMessage
from app.outbox.service import bureau_scope
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import V1_KEYS

TODAY = date(2026, 6, 10)


@pytest.fixture
def world(world, session):
    """The shared world, without the 開始 notices its round's opening queued: each test queues its own."""
    session.execute(delete(OutboxMessage))
    session.commit()
    return world


def rule(**values) -> ReminderRule:
    base = {"round_id": 1, "starts_on": date(2026, 6, 1), "min_days_between": 7, "max_per_section": 3,
            "targets": "not_started,in_progress,ready", "escalate_after": 2}
    return ReminderRule(**{**base, **values})


@pytest.mark.parametrize("kwargs, expected", [
    ({}, ""),
    ({"has_recipients": False}, "DX推進リーダーが登録されていません"),
    ({"rule": None}, "督促の設定がありません"),
    ({"rule": None, "manual": True}, ""),
    ({"sent": 3}, "督促の上限（3回）に達しています"),
    ({"sent": 3, "manual": True}, "督促の上限（3回）に達しています"),
    ({"target": "ready", "rule": rule(targets="not_started")}, "督促の対象外の状況です"),
    ({"rule": rule(starts_on=date(2026, 6, 11))}, "督促の開始日前です"),
    ({"sent": 1, "last_on": date(2026, 6, 4)}, "前回の督促から7日たっていません"),
    ({"sent": 1, "last_on": date(2026, 6, 3)}, ""),
    ({"sent": 1, "last_on": date(2026, 6, 9), "manual": True}, ""),
])
def test_who_gets_a_reminder_now(kwargs, expected):
    args = {"target": "not_started", "rule": rule(), "sent": 0, "last_on": None, "today": TODAY, "manual": False,
            "has_recipients": True, **kwargs}
    assert reminders.decide(**args) == expected


def save_rule(client, token, world, **values):
    form = {"csrf_token": token, "enabled": "on", "starts_on": today_jst().isoformat(), "min_days_between": "7",
            "max_per_section": "2", "targets": ["not_started", "in_progress", "ready"], "escalate_after": "1",
            **values}
    return client.post(f"/desk/reminders?round={world.round.id}", data=form)


def outbox(session):
    found = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)
                         .execution_options(populate_existing=True)).all()
    session.commit()
    return found


def test_the_desk_sets_a_rule_and_the_preview_lists_exactly_who_receives_what(client, session, world):
    token = sign_in(client, "desk@test.example")
    bad = save_rule(client, token, world, min_days_between="0", targets=[])
    assert bad.status_code == 422 and "督促の間隔は1～60" in bad.text and "1つ以上選んで" in bad.text
    assert session.exec(select(ReminderRule)).first() is None
    session.commit()
    assert save_rule(client, token, world).status_code == 303
    page = client.get(f"/desk/reminders?round={world.round.id}")
    assert page.status_code == 200
    text = page.text
    assert "送る所属: 2、宛先: 2人" in text
    assert "leader.a1@test.example" in text and "leader.b1@test.example" in text
    assert "DX推進リーダーが登録されていません" in text  # A2
    assert f"締切は{wareki(world.round.closes_on)}です" in text and "A部 一課 DX推進リーダー 様" in text
    assert outbox(session) == []  # a preview sends nothing


def test_send_now_from_the_board_previews_then_enqueues_in_one_transaction_and_counts_toward_the_limit(
        client, session, world):
    token = sign_in(client, "desk@test.example")
    board = client.get(f"/desk/board?round={world.round.id}")
    assert 'action="/desk/reminders/preview"' in board.text and 'name="section" value="A1"' in board.text
    preview = client.get(f"/desk/reminders/preview?round={world.round.id}&section=A1&section=A2")
    assert preview.status_code == 200 and "1所属へ送る" in preview.text and "leader.a1@test.example" in preview.text
    assert outbox(session) == []
    no_csrf = client.post(f"/desk/reminders/send?round={world.round.id}", data={"section": "A1"})
    assert no_csrf.status_code == 403 and outbox(session) == []
    for _ in (1, 2):
        sent = client.post(f"/desk/reminders/send?round={world.round.id}", data={"csrf_token": token, "section": "A1"})
        assert sent.status_code == 303 and "n=1" in sent.headers["location"]
    rows = outbox(session)
    assert [(r.kind, r.recipient) for r in rows] == [("reminder", "leader.a1@test.example")] * 2
    assert "（督促 2回目）" in rows[1].body and rows[0].idempotency_key != rows[1].idempotency_key
    logs = session.exec(select(ReminderLog.number, ReminderLog.manual)).all()
    session.commit()
    assert sorted(logs) == [(1, True), (2, True)]
    # with a rule of at most 2 per 所属, a third is refused in the preview and not sent
    assert save_rule(client, token, world, max_per_section="2").status_code == 303
    again = client.post(f"/desk/reminders/send?round={world.round.id}", data={"csrf_token": token, "section": "A1"})
    assert again.status_code == 303 and "n=0" in again.headers["location"]
    assert len(outbox(session)) == 2


def test_a_member_cannot_send_reminders(client, world):
    token = sign_in(client, "leader.a1@test.example")
    refused = client.post(f"/desk/reminders/send?round={world.round.id}", data={"csrf_token": token, "section": "A1"})
    assert refused.status_code == 403


def test_the_daily_run_reminds_once_per_interval_and_tells_the_bureau_after_the_set_number(
        client, session, world, engine):
    session.add(NotifyChannel(scope=bureau_scope(world.bureau_a.id), unit_id=world.bureau_a.id,
                              contact_address="a-bu@test.example"))
    session.commit()
    token = sign_in(client, "desk@test.example")
    assert save_rule(client, token, world, escalate_after="1").status_code == 303
    today = today_jst()
    assert reminders.run_due(engine, today) == 3  # A1, B1 and A部's contact (A2 has no leader)
    assert reminders.run_due(engine, today) == 0  # the same day again: nothing
    assert reminders.run_due(engine, today + timedelta(days=6)) == 0  # within the 7 days
    rows = outbox(session)
    escalation = next(r for r in rows if r.kind == "escalation")
    assert escalation.recipient == "a-bu@test.example" and "A部 一課（督促 1回）" in escalation.body
    assert "A部 二課" not in escalation.body
    assert sorted(r.recipient for r in rows if r.kind == "reminder") == ["leader.a1@test.example",
                                                                        "leader.b1@test.example"]


def test_three_days_and_one_day_before_the_deadline_every_leader_not_yet_submitted_is_told_once(
        client, session, world, engine):
    f.set_answers(session, world.round.id, world.b1, dict.fromkeys(V1_KEYS, "○"))
    session.commit()
    token = sign_in(client, "leader.b1@test.example")
    assert client.post(f"/rounds/{world.round.id}/sections/B1/submit", data={"csrf_token": token}).status_code == 303
    closes = world.round.closes_on
    assert reminders.run_due(engine, closes - timedelta(days=4)) == 0
    assert reminders.run_due(engine, closes - timedelta(days=3)) == 1  # A1's leader; A2 has none; B1 submitted
    assert reminders.run_due(engine, closes - timedelta(days=3)) == 0  # once a day
    assert reminders.run_due(engine, closes - timedelta(days=2)) == 0
    assert reminders.run_due(engine, closes - timedelta(days=1)) == 1
    rows = [r for r in outbox(session) if r.kind == "deadline_soon"]
    assert [r.recipient for r in rows] == ["leader.a1@test.example"] * 2
    assert "締切まであと3日" in rows[0].subject and "締切まであと1日" in rows[1].subject
    assert f"締切は{wareki(closes)}です" in rows[0].body
