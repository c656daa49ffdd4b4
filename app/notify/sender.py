"""The sender: claims a batch of due outbox rows in one transaction, sends each, marks each sent.

- **Claim** in one short transaction: the oldest due rows, up to ``BATCH`` (``pending``, or ``sending`` whose
  lease ran out) read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two senders never take one row; on SQLite the
  write transaction, ``BEGIN IMMEDIATE``, is the one writer), then marked ``sending`` until now + the lease,
  attempts + 1, by one UPDATE.
- **Send** outside any transaction, on one SMTP connection for the run: no database lock is held while the
  relay or Teams answers, so pages never wait for a send.
- **Mark** each notice in its own short transaction (one UPDATE), only if the row is still this claim's (same
  attempt): sent; or due again after the backoff (1 min, 10 min, 100 min); or, after the last attempt or a
  permanent refusal, ``failed`` with the reason (shown on 「送信できなかった通知」, where 「再送」 puts it back).
  The marks are not gathered into one transaction per batch on purpose: a sender killed after sending k
  notices of a batch and before that one mark would send all k again; marked one by one, at most the notice
  in flight repeats.
- **Release** what a stopping sender claimed and did not send (``release``): due again at once, its attempt
  not counted, so that a restart does not wait for the lease.

A sender killed between the send and the mark leaves the row ``sending``; when its lease runs out it is
sent again with the same Message-ID (the idempotency key): nothing is lost, at most that one repeats. The rest
of its batch, never sent, is claimed again after the lease too.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.config import Settings
from app.db import session_for
from app.jpdate import now_utc
from app.notify import reminders, secrets
from app.notify.channels import Mailer, Outgoing, SendError, post_card
from app.outbox.models import Channel, NotifyChannel, OutboxMessage, OutboxState

log = logging.getLogger("paperless.notify")
BACKOFF_SECONDS = (60, 600, 6000)  # after the 1st, 2nd and 3rd failed attempt; the 4th failure is final
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
ADVISORY_LOCK = 0x7061_7065_6E74  # pg_try_advisory_lock key of the one sending process ("papent")
DUE_EVERY_SECONDS = 3600  # the sending process queues the day's reminders and deadline notices this often
BATCH = 50  # notices claimed in one transaction (at the default 10 per second, 5 s of sending: far within the lease)


@dataclass
class RunResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"sent {self.sent}, to retry {self.retried}, failed {self.failed}"


@dataclass(frozen=True)
class Claim:
    id: int
    attempts: int
    out: Outgoing


def _absolute(settings: Settings, link: str) -> str:
    if not link or "://" in link:
        return link
    return settings.public_url.rstrip("/") + link


def claim(engine: Engine, settings: Settings, now: datetime | None = None, *, limit: int = 1) -> list[Claim]:
    """Take the oldest due rows, at most ``limit``, for this sender (its lease: ``notify_lease_seconds``), in one
    transaction: one SELECT (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and one UPDATE. [] when none is due."""
    now = now or now_utc()
    with session_for(engine, write=True) as session:
        query = (select(OutboxMessage.id, OutboxMessage.attempts, OutboxMessage.idempotency_key,
                        OutboxMessage.channel, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body,
                        OutboxMessage.payload)
                 .where(OutboxMessage.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]),
                        OutboxMessage.next_attempt_at <= now)
                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                 .limit(limit))
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.exec(query).all()
        if not rows:
            return []
        session.connection().execute(
            update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
            .values(state=OutboxState.SENDING.value, attempts=OutboxMessage.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=settings.notify_lease_seconds)))
        session.commit()
    claims = []
    for r in rows:
        link = _absolute(settings, (r.payload or {}).get("link", ""))
        claims.append(Claim(r.id, r.attempts + 1, Outgoing(key=r.idempotency_key, channel=r.channel,
                                                            recipient=r.recipient, subject=r.subject,
                                                            body=r.body.replace("{link}", link), link=link)))
    return claims


def release(engine: Engine, claims: list[Claim], now: datetime) -> int:
    """Give back claims this sender did not send (it is stopping): due at once, the attempt not counted. Only
    rows still this claim's are touched. Returns how many."""
    if not claims:
        return 0
    with session_for(engine, write=True) as session:
        released = 0
        for c in claims:
            released += session.connection().execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == c.id, OutboxMessage.attempts == c.attempts,
                       OutboxMessage.state == OutboxState.SENDING.value)
                .values(state=OutboxState.PENDING.value, attempts=c.attempts - 1, next_attempt_at=now)).rowcount
        session.commit()
    return released


def _mark(engine: Engine, c: Claim, **values) -> bool:
    """Record the outcome of a claim, unless the row has been claimed again since (its lease ran out)."""
    with session_for(engine, write=True) as session:
        done = session.connection().execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == c.id, OutboxMessage.attempts == c.attempts,
                   OutboxMessage.state == OutboxState.SENDING.value)
            .values(**values))
        session.commit()
        return done.rowcount == 1


def _webhook(engine: Engine, settings: Settings, scope: str) -> str:
    with session_for(engine) as session:
        token = session.exec(select(NotifyChannel.webhook_encrypted).where(NotifyChannel.scope == scope)).first()
    if not token:
        raise SendError("Teams の Webhook URL が設定されていません（通知先の設定で登録してください）。", permanent=True)
    try:
        return secrets.decrypt(settings, token)
    except ValueError as exc:
        raise SendError(str(exc), permanent=True) from None


class Sender:
    """Drains the outbox with one SMTP connection per run."""

    def __init__(self, engine: Engine, settings: Settings, *, mailer: Mailer | None = None, post=None,
                 clock=now_utc, wait=None):
        self.engine = engine
        self.settings = settings
        self.mailer = mailer or Mailer(settings)
        self.post = post
        self.clock = clock  # tests move time to see the backoff
        # The pause between two notices (``notify_max_per_second``); returns True when the sender must stop
        # (the background thread passes its stop event's wait).
        self.wait = wait or (lambda seconds: time.sleep(seconds) or False)
        self._webhooks: dict[str, str | SendError] = {}  # read once per run (a Sender lives for one run)

    def webhook(self, scope: str) -> str:
        if scope not in self._webhooks:
            try:
                self._webhooks[scope] = _webhook(self.engine, self.settings, scope)
            except SendError as exc:
                self._webhooks[scope] = exc
        found = self._webhooks[scope]
        if isinstance(found, SendError):
            raise SendError(found.reason, permanent=found.permanent)
        return found

    def deliver(self, out: Outgoing) -> None:
        if out.channel == Channel.MAIL:
            self.mailer.send(out)
        elif out.channel == Channel.TEAMS:
            url = self.webhook(out.recipient)
            post_card(url, out, self.settings, **({"post": self.post} if self.post else {}))
        else:
            raise SendError(f"不明な送信経路です（{out.channel}）。", permanent=True)

    def send_one(self, c: Claim, result: RunResult) -> None:
        try:
            self.deliver(c.out)
        except SendError as exc:
            now = self.clock()
            if exc.permanent or c.attempts >= MAX_ATTEMPTS:
                _mark(self.engine, c, state=OutboxState.FAILED.value, last_error=exc.reason)
                result.failed += 1
                log.warning("notice %s failed for good after %d attempt(s): %s", c.id, c.attempts, exc.reason)
            else:
                wait = max(BACKOFF_SECONDS[c.attempts - 1], exc.retry_after or 0)
                _mark(self.engine, c, state=OutboxState.PENDING.value, last_error=exc.reason,
                      next_attempt_at=now + timedelta(seconds=wait))
                result.retried += 1
                log.info("notice %s attempt %d failed, retry in %d s: %s", c.id, c.attempts, wait, exc.reason)
            return
        _mark(self.engine, c, state=OutboxState.SENT.value, sent_at=self.clock(), last_error="")
        result.sent += 1

    def run_once(self, *, limit: int | None = None) -> RunResult:
        """Send every due notice (or ``limit`` of them), a batch claimed at a time, then return."""
        result = RunResult()
        rate = self.settings.notify_max_per_second
        pending: list[Claim] = []
        try:
            while limit is None or result.sent + result.retried + result.failed < limit:
                done = result.sent + result.retried + result.failed
                pending = claim(self.engine, self.settings, self.clock(),
                                limit=BATCH if limit is None else min(BATCH, limit - done))
                if not pending:
                    break
                stopping = False
                while pending:
                    started = time.monotonic()
                    self.send_one(pending.pop(0), result)
                    rest = (1 / rate if rate else 0) - (time.monotonic() - started)
                    if self.wait(max(rest, 0.0)):  # unpaced, wait(0) still says whether to stop
                        stopping = True  # what is left waits for the next run
                        break
                if stopping:
                    break
        finally:
            self.mailer.close()
            if pending:
                try:
                    release(self.engine, pending, self.clock())
                except Exception:  # noqa: BLE001 — their lease runs out: sent later all the same
                    log.exception("notice sender: could not give back %d claimed notices", len(pending))
        return result


def background(engine: Engine, settings: Settings, stop: threading.Event) -> None:
    """The sender inside ``paperless serve``: on PostgreSQL only the process holding the advisory lock sends
    (the others keep trying to take it, so one takes over when that process ends); on SQLite the one worker."""
    holder = None
    last_due = None
    try:
        while not stop.is_set():
            try:
                if engine.dialect.name == "postgresql" and holder is None:
                    conn = engine.connect()
                    if conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK}).scalar():
                        conn.commit()
                        holder = conn
                        log.info("this process sends the notices (advisory lock taken)")
                    else:
                        conn.rollback()
                        conn.close()
                if holder is not None or engine.dialect.name != "postgresql":
                    if last_due is None or time.monotonic() - last_due >= DUE_EVERY_SECONDS:
                        queued = reminders.run_due(engine)  # idempotent: the keys and the reminder log
                        last_due = time.monotonic()
                        if queued:
                            log.info("reminders and deadline notices queued: %d", queued)
                    result = Sender(engine, settings, wait=stop.wait).run_once()
                    if result.sent or result.retried or result.failed:
                        log.info("notices: %s", result)
            except Exception:  # noqa: BLE001 — the loop must outlive a database restart
                log.exception("notice sender: run failed; trying again later")
                if holder is not None:
                    holder.invalidate()
                    holder = None
            stop.wait(settings.notify_interval_seconds)
    finally:
        if holder is not None:
            holder.close()


def run_loop(settings: Settings, *, watch_stdin: bool = False) -> None:
    """``paperless notify run --loop``: the sending process that ``paperless serve`` starts (``app.notify.process``),
    running ``background`` until SIGTERM or SIGINT (Ctrl-C reaches the whole process group), or, with
    ``watch_stdin``, until its standard input ends: the pipe from ``serve`` closes when ``serve`` dies by any means
    (SIGKILL included), so this process never outlives it. A send in flight is finished, and the notices claimed
    but not sent are given back (``release``) before it exits."""
    import os
    import signal
    import sys

    from app.db import make_engine

    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("notice sender: %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if watch_stdin:
        fd = sys.stdin.fileno()

        def watch() -> None:
            # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside the buffered reader holds
            # its lock, and the interpreter's shutdown then aborts ("could not acquire lock for <stdin>").
            try:
                while os.read(fd, 1):
                    pass
            except OSError:
                pass
            if not stop.is_set():
                log.info("notice sender: paperless serve has gone, stopping")
                stop.set()

        threading.Thread(target=watch, name="notify-parent-watch", daemon=True).start()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        background(engine, settings, stop)
    finally:
        engine.dispose()
