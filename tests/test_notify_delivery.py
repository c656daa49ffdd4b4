"""Sent once, never lost, with real processes: ``paperless notify run --once`` against a real SMTP server
(aiosmtpd in this process), on SQLite and on PostgreSQL.

- A sender killed with SIGKILL while the server holds a message mid-send: nothing is lost; only the message in
  flight can arrive twice, and then with the same Message-ID (its lease runs out and it is sent again).
- Two senders racing over 400 reminders: 400 mails, each exactly once (PostgreSQL: FOR UPDATE SKIP LOCKED;
  SQLite: the one writer).
- The time to send 400 reminders is printed (docs/notifications.md), never asserted."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from app.auth import service as auth_service
from app.auth.models import SectionRole
from app.jpdate import now_utc
from app.notify import reminders
from app.notify.sender import Sender
from app.orgs.models import UnitKind
from app.outbox.models import OutboxMessage
from tests import factories as f
from tests.conftest import SECRET, make_settings
from tests.mailserver import smtp_server
from tests.servers import PAPERLESS

FROM = "paperless-noreply@pref.test.example"


def populate(session, sections: int) -> int:
    """``sections`` 所属 with a leader each, an open round, and a reminder queued for every 所属 through
    「今すぐ送る」 (the desk's path). Returns the round id."""
    bureau = f.make_unit(session, "Z", "Z部", kind=UnitKind.BUREAU, position=1)
    units = [f.make_unit(session, f"Z{i:04d}", f"Z部 {i}課", parent=bureau, position=i) for i in range(sections)]
    desk = f.make_user(session, "desk@test.example", "窓口", is_desk=True)
    round_ = f.make_round(session, f.publish(session))
    for i, unit in enumerate(units):  # leaders after the round opened: no 開始 notices, only the reminders
        f.make_user(session, f"leader{i:04d}@test.example", f"リーダー {i}", section=unit, role=SectionRole.LEADER)
    session.commit()
    principal = auth_service.load_principal(session, desk.id)
    reminded, queued = reminders.send_now(session, principal, round_, [u.id for u in units])
    session.commit()
    assert (reminded, queued) == (sections, sections)
    return round_.id


def cli_env(database_url: str, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERLESS_")}
    env.update(PAPERLESS_DATABASE_URL=database_url, PAPERLESS_ENV="development", PAPERLESS_SECRET_KEY=SECRET,
               PAPERLESS_SMTP_HOST="127.0.0.1", PAPERLESS_SMTP_PORT=str(port), PAPERLESS_SMTP_FROM=FROM,
               PAPERLESS_PUBLIC_URL="https://paperless.test.example", PAPERLESS_NOTIFY_MAX_PER_SECOND="0")
    return env


def run_once(env: dict) -> subprocess.Popen:
    return subprocess.Popen([str(PAPERLESS), "notify", "run", "--once", "--no-reminders"], env=env,  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def states(session) -> Counter:
    found = Counter(dict(session.exec(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()))
    session.commit()
    return found


def test_a_sender_killed_mid_send_loses_nothing_and_repeats_at_most_the_message_in_flight(
        session, engine, database_url):
    populate(session, 20)
    arrived, release = threading.Event(), threading.Event()

    def hold(message):  # the 6th message arrives, the server does not answer until the sender is dead
        if message["To"] == "leader0005@test.example" and not arrived.is_set():
            arrived.set()
            release.wait(60)

    with smtp_server() as (inbox, port):
        inbox.hold = hold
        sender = run_once(cli_env(database_url, port))
        while not arrived.wait(0.2):  # a bound on waiting for the sender, not a timing assertion
            assert sender.poll() is None, sender.communicate()
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        release.set()
        killed_with = Counter(states(session))
        # The 6th was in flight; the sender had claimed all 20 in one batch, so the 14 it never reached are
        # "sending" too (its lease), and 5 are marked sent: each was marked before the next went out.
        assert killed_with["sent"] == 5 and killed_with["sending"] == 15
        inbox.hold = None
        # Later, once the dead sender's lease has run out, a sender sends what is left, the 6th again.
        later = now_utc() + timedelta(seconds=make_settings(database_url).notify_lease_seconds + 1)
        settings = make_settings(database_url, smtp_host="127.0.0.1", smtp_port=port, smtp_from=FROM)
        result = Sender(engine, settings, clock=lambda: later).run_once()
    assert (result.sent, result.failed) == (15, 0)
    assert states(session) == Counter({"sent": 20})
    received = Counter(m["To"] for m in inbox.messages)
    assert set(received) == {f"leader{i:04d}@test.example" for i in range(20)}  # nothing lost
    assert [to for to, n in received.items() if n > 1] == ["leader0005@test.example"]  # only the one in flight
    ids = [m["Message-ID"] for m in inbox.messages if m["To"] == "leader0005@test.example"]
    assert len(ids) == 2 and ids[0] == ids[1]  # and with the same Message-ID
    print(f"\nSIGKILL mid-batch: 20 queued, {len(inbox.messages)} received, 20 distinct, 1 repeated (same Message-ID)")


def test_two_senders_racing_deliver_400_reminders_exactly_once(session, database_url, backend):
    populate(session, 400)
    with smtp_server() as (inbox, port):
        env = cli_env(database_url, port)
        started = time.perf_counter()
        racers = [run_once(env), run_once(env)]
        outputs = [r.communicate(timeout=600) for r in racers]
        elapsed = time.perf_counter() - started
    assert [r.returncode for r in racers] == [0, 0], outputs
    ids = Counter(m["Message-ID"] for m in inbox.messages)
    assert len(inbox.messages) == 400 and len(ids) == 400  # 400 received, 0 duplicates
    assert states(session) == Counter({"sent": 400})
    shares = [out.strip().splitlines()[-1] for out, _ in outputs]
    print(f"\n[{backend}] two senders, 400 reminders: 400 received, 0 duplicates in {elapsed:.1f} s ({shares})")


def test_time_to_send_400_reminders_with_one_sender(session, database_url, backend):
    populate(session, 400)
    with smtp_server() as (inbox, port):
        started = time.perf_counter()
        out, err = run_once(cli_env(database_url, port)).communicate(timeout=600)
        elapsed = time.perf_counter() - started
    assert len(inbox.messages) == 400, err
    print(f"\n[{backend}] paperless notify run --once: 400 reminders sent in {elapsed:.1f} s "
          f"(process start included); it said: {out.strip()}")


def test_the_background_sender_of_serve_sends_from_one_process_only(session, database_url, backend, caplog):
    """Inside ``paperless serve``: on PostgreSQL each process runs the loop, and only the one holding the advisory
    lock sends (two loops here, as two processes would); on SQLite the one worker's loop sends."""
    import logging

    from app.db import make_engine
    from app.notify.sender import background

    populate(session, 30)
    caplog.set_level(logging.INFO, logger="paperless.notify")
    loops = 2 if backend == "postgres" else 1
    with smtp_server() as (inbox, port):
        settings = make_settings(database_url, smtp_host="127.0.0.1", smtp_port=port, smtp_from=FROM,
                                 notify_interval_seconds=0.2)
        engines = [make_engine(database_url, pool_size=2) for _ in range(loops)]
        stop = threading.Event()
        threads = [threading.Thread(target=background, args=(e, settings, stop)) for e in engines]
        for t in threads:
            t.start()
        try:
            while states(session)["sent"] < 30:  # waits for the loops to finish, asserts nothing about time
                assert all(t.is_alive() for t in threads)
                time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join()
            for e in engines:
                e.dispose()
    assert len(inbox.messages) == 30 and len({m["Message-ID"] for m in inbox.messages}) == 30
    if backend == "postgres":
        assert caplog.text.count("advisory lock taken") == 1
