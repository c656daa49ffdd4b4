"""Notices through the office's SMTP relay: a real SMTP server in the test process (aiosmtpd) receives them.

The outbox is written by ``enqueue`` in the caller's transaction; the sender claims, sends and marks. Each
mail carries its idempotency key as Message-ID; failures are retried after 1, 10 and 100 minutes and then
stop as failed with a reason a person can act on; an address refused is failed at once and never repeated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import delete, select

from app.jpdate import now_utc
from app.notify.sender import BACKOFF_SECONDS, Sender
from app.outbox import notices
from app.outbox.models import OutboxMessage
from app.outbox.service import enqueue_mail, set_opt_outs
from tests.conftest import make_settings
from tests.mailserver import REFUSED_DOMAIN, smtp_server
from tests.servers import free_port

FROM = "paperless-noreply@pref.test.example"


@pytest.fixture
def world(world, session):
    """The shared world, without the 開始 notices its round's opening queued: each test queues its own."""
    session.execute(delete(OutboxMessage))
    session.commit()
    return world


def mail_settings(database_url, port, **extra):
    return make_settings(database_url, smtp_host="127.0.0.1", smtp_port=port, smtp_from=FROM,
                         public_url="https://paperless.test.example", smtp_timeout_seconds=5, **extra)


def opened(world):
    return notices.round_opened(round_id=world.round.id, round_title=world.round.title,
                                opens_on=world.round.opens_on, closes_on=world.round.closes_on)


def rows(session):
    """The outbox now; the read's transaction ends at once (on SQLite the test's session writes, and would keep
    the sender waiting for the write lock)."""
    found = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)
                         .execution_options(populate_existing=True)).all()
    session.commit()
    return found


def test_a_notice_is_mailed_once_with_its_key_as_message_id_and_the_link_made_absolute(
        session, engine, world, database_url):
    to = [(world.leader_a.id, world.leader_a.upn), (world.leader_b.id, world.leader_b.upn)]
    assert enqueue_mail(session, opened(world), to, key=f"round_opened.r{world.round.id}") == 2
    assert enqueue_mail(session, opened(world), to, key=f"round_opened.r{world.round.id}") == 0  # same event again
    session.commit()
    with smtp_server() as (inbox, port):
        result = Sender(engine, mail_settings(database_url, port)).run_once()
        assert (result.sent, result.retried, result.failed) == (2, 0, 0)
        assert Sender(engine, mail_settings(database_url, port)).run_once().sent == 0  # nothing twice
    assert sorted(m["To"] for m in inbox.messages) == sorted(upn for _, upn in to)
    first = next(m for m in inbox.messages if m["To"] == world.leader_a.upn)
    key = f"round_opened.r{world.round.id}.leader.a1-test.example"  # the key's characters are Message-ID-safe
    assert first["Message-ID"] == f"<{key}@pref.test.example>"
    assert {r.idempotency_key for r in rows(session)} >= {key}
    assert first["Subject"].startswith(f"【ペーパーレス化状況チェック】{world.round.title}を開始しました")
    body = first.get_content()
    assert "令和" in body and "https://paperless.test.example/" in body and "{link}" not in body
    assert all(r.state == "sent" and r.sent_at is not None and r.attempts == 1 for r in rows(session))


def test_a_person_who_turned_a_notice_off_gets_none_but_essential_reminders_still_go(session, world):
    set_opt_outs(session, world.leader_a.id, ["round_opened", "reminder"])  # reminders cannot be turned off
    assert enqueue_mail(session, opened(world), [(world.leader_a.id, world.leader_a.upn)], key="k1") == 0
    reminder = notices.reminder(round_id=world.round.id, round_title=world.round.title,
                                closes_on=world.round.closes_on, section_code="A1", section_name="A部 一課",
                                progress_label="未着手", number=1)
    assert enqueue_mail(session, reminder, [(world.leader_a.id, world.leader_a.upn)], key="k2") == 1


def test_a_relay_that_is_down_is_retried_after_1_10_and_100_minutes_then_the_notice_stops_as_failed(
        session, engine, world, database_url):
    enqueue_mail(session, opened(world), [(world.leader_a.id, world.leader_a.upn)], key="down")
    session.commit()
    dead_port = free_port()  # nothing listens here
    clock = now_utc()
    waits = []
    for attempt in range(1, 5):
        result = Sender(engine, mail_settings(database_url, dead_port), clock=lambda at=clock: at).run_once()
        [row] = rows(session)
        assert row.attempts == attempt and "接続できません" in row.last_error and "127.0.0.1" in row.last_error
        if attempt < 4:
            assert result.retried == 1 and row.state == "pending"
            waits.append(round((row.next_attempt_at - clock).total_seconds()))
            assert Sender(engine, mail_settings(database_url, dead_port), clock=lambda at=clock: at).run_once().retried == 0
            clock = row.next_attempt_at + timedelta(seconds=1)
        else:
            assert result.failed == 1 and row.state == "failed"
        session.commit()
    assert waits == list(BACKOFF_SECONDS) == [60, 600, 6000]


def test_after_the_relay_comes_back_everything_waiting_is_delivered(session, engine, world, database_url):
    to = [(world.leader_a.id, world.leader_a.upn), (world.leader_b.id, world.leader_b.upn)]
    enqueue_mail(session, opened(world), to, key="back")
    session.commit()
    port = free_port()
    assert Sender(engine, mail_settings(database_url, port)).run_once().retried == 2
    later = now_utc() + timedelta(minutes=2)
    session.commit()
    from tests.mailserver import Controller, Inbox

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert Sender(engine, mail_settings(database_url, port), clock=lambda: later).run_once().sent == 2
    finally:
        controller.stop()
    assert len(inbox.messages) == 2 and len(set(inbox.ids())) == 2


@pytest.mark.parametrize("address, reason", [
    ("not-an-address", "メールアドレスの形式ではありません"),
    (f"nobody@{REFUSED_DOMAIN}", "メールサーバーに拒否されました（550"),
])
def test_an_invalid_or_refused_address_fails_at_once_with_the_reason_and_is_never_sent_again(
        session, engine, world, database_url, address, reason):
    enqueue_mail(session, opened(world), [(None, address), (world.leader_a.id, world.leader_a.upn)], key="bad")
    session.commit()
    with smtp_server() as (inbox, port):
        result = Sender(engine, mail_settings(database_url, port)).run_once()
        assert (result.sent, result.failed) == (1, 1)
        later = now_utc() + timedelta(days=1)
        assert Sender(engine, mail_settings(database_url, port), clock=lambda: later).run_once().sent == 0
    bad = next(r for r in rows(session) if r.recipient == address)
    assert bad.state == "failed" and reason in bad.last_error and bad.attempts == 1
    assert [m["To"] for m in inbox.messages] == [world.leader_a.upn]


def test_a_refused_login_is_recorded_without_the_password_and_nothing_is_sent_twice(
        session, engine, world, database_url, caplog):
    enqueue_mail(session, opened(world), [(world.leader_a.id, world.leader_a.upn)], key="login")
    session.commit()
    secret = "s3cret-Wrong-passw0rd"
    with smtp_server(username="paperless", password="right-password") as (inbox, port):
        wrong = mail_settings(database_url, port, smtp_username="paperless", smtp_password=secret)
        assert Sender(engine, wrong).run_once().retried == 1
        [row] = rows(session)
        assert "ログインを拒否しました（535）" in row.last_error and "PAPERLESS_SMTP_PASSWORD" in row.last_error
        assert secret not in row.last_error and secret not in caplog.text
        session.commit()
        right = mail_settings(database_url, port, smtp_username="paperless", smtp_password="right-password")
        later = now_utc() + timedelta(minutes=2)
        assert Sender(engine, right, clock=lambda: later).run_once().sent == 1
        assert Sender(engine, right, clock=lambda: later + timedelta(days=1)).run_once().sent == 0
    assert len(inbox.messages) == 1


def test_the_sender_keeps_to_the_most_notices_per_second_and_stops_between_two_when_asked(
        session, engine, world, database_url):
    """Sending shares the server's CPU with the pages: paced at ``notify_max_per_second`` (a pause after each
    notice, the rest of the second), and the background thread's stop ends a run between two notices."""
    to = [(u.id, u.upn) for u in (world.leader_a, world.leader_b, world.desk)]
    assert enqueue_mail(session, opened(world), to, key=f"paced.r{world.round.id}") == 3
    session.commit()
    pauses: list[float] = []
    with smtp_server() as (inbox, port):
        paced = Sender(engine, mail_settings(database_url, port, notify_max_per_second=4),
                       wait=lambda s: pauses.append(s) or len(pauses) == 2)  # asked to stop at the 2nd pause
        assert paced.run_once().sent == 2
        assert len(pauses) == 2 and all(0 < s <= 0.25 for s in pauses)
        # The stopped run had claimed all three in one batch: the one it did not send was given back at once
        # (not left to its lease), so the next run sends it.
        asked: list[float] = []
        unpaced = Sender(engine, mail_settings(database_url, port, notify_max_per_second=0),
                         wait=lambda s: asked.append(s) or False)
        assert unpaced.run_once().sent == 1 and asked == [0.0]  # no pause, only "stop now?" between two
    assert len(inbox.messages) == 3


def test_one_connection_for_a_run_opened_again_once_when_the_relay_dropped_it(database_url):
    """The run's SMTP connection is reused from one mail to the next; a relay that closed it while it sat idle
    (here: it answered QUIT and hung up) costs one reconnection, not a failed notice."""
    from app.notify.channels import Mailer, Outgoing

    def out(i: int) -> Outgoing:
        return Outgoing(key=f"reuse.{i}", channel="mail", recipient=f"leader{i}@test.example", subject=f"件名 {i}",
                        body="本文", link="")

    with smtp_server() as (inbox, port):
        mailer = Mailer(mail_settings(database_url, port))
        mailer.send(out(1))
        first = mailer._smtp  # noqa: SLF001 (the connection itself is what this test is about)
        mailer.send(out(2))
        assert mailer._smtp is first  # noqa: SLF001 — reused
        assert first.docmd("QUIT")[0] == 221  # the relay hangs up; the client does not know yet
        mailer.send(out(3))
        assert mailer._smtp is not first  # noqa: SLF001 — opened again, and the mail went
        mailer.close()
    assert [m["To"] for m in inbox.messages] == ["leader1@test.example", "leader2@test.example",
                                                 "leader3@test.example"]
    assert inbox.messages[2]["Message-ID"] == "<reuse.3@pref.test.example>"
