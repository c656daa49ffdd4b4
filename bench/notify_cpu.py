"""The sender's CPU per mail by itself: ``paperless notify run --once`` on 400 queued reminders, a local SMTP
server (aiosmtpd, a thread of this process), and the sender process's own CPU time from ``wait4``.

Run by hand (not in CI), from the project root::

    .venv/bin/python bench/notify_cpu.py                     # SQLite
    .venv/bin/python bench/notify_cpu.py --db postgres       # PostgreSQL (database bench_notify_cpu)
    .venv/bin/python bench/notify_cpu.py --profile           # and a pyinstrument profile of one run (text)

What it does, ``--repeat`` times (default 3): a fresh database (``paperless migrate``), 400 reminder mails
queued through the outbox's own ``enqueue_mail`` (the texts of ``notices.reminder``, as 「今すぐ送る」 writes
them), then ``paperless notify run --once --no-reminders`` unpaced (``PAPERLESS_NOTIFY_MAX_PER_SECOND=0``); and
once the same command on an empty outbox, the cost of starting the process (imports, settings, engine). CPU
per mail = (user + system CPU of the run − that of the empty run) ÷ 400. The receiving server's CPU is not in it
(another process). A figure of CPU time, not of elapsed time: it hardly moves with the load of a shared
machine, unlike the elapsed time also printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import throughput as tp
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

MAILS = 400
SMTP_FROM = "paperless-noreply@bench.example"
PG_NAME = "bench_notify_cpu"


class Counting:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        self.count += 1
        return "250 Message accepted for delivery"


def fresh_database(db: str, pg_url: str, workdir: Path, secret: str) -> str:
    if db == "postgres":
        url = tp.ensure_pg_database(pg_url, PG_NAME, fresh=True)
    else:
        path = workdir / "notify-cpu.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    subprocess.run([str(tp.PAPERLESS), "migrate"], env=tp.app_env(url, secret), check=True,  # noqa: S603
                   capture_output=True)
    return url


def queue_reminders(url: str, count: int) -> None:
    """``count`` reminder mails in the outbox, written as 「今すぐ送る」 writes them (one transaction)."""
    import app.models  # noqa: F401  (every table)
    from app.db import make_engine, session_for
    from app.outbox import notices
    from app.outbox.service import enqueue_mail

    engine = make_engine(url, pool_size=1)
    closes = date.today() + timedelta(days=10)
    try:
        with session_for(engine, write=True) as session:
            for i in range(count):
                notice = notices.reminder(round_id=1, round_title="令和8年度 ペーパーレス化状況チェック",
                                          closes_on=closes, section_code=f"S{i:04d}", section_name=f"総務部 {i}課",
                                          progress_label="入力中", number=1)
                enqueue_mail(session, notice, [(None, f"leader{i:04d}@bench.example")], key=f"bench.reminder.{i}")
            session.commit()
    finally:
        engine.dispose()


def outbox_states(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT state, count(*) FROM outbox_message GROUP BY state")).all())
    finally:
        engine.dispose()


def run_sender(url: str, secret: str, port: int, profile: Path | None = None) -> tuple[float, str]:
    """(elapsed seconds, what it printed) of one ``paperless notify run --once`` (its CPU: ``child_cpu``)."""
    env = {**tp.app_env(url, secret), "PAPERLESS_ENV": "development", "PAPERLESS_SMTP_HOST": "127.0.0.1",
           "PAPERLESS_SMTP_PORT": str(port), "PAPERLESS_SMTP_FROM": SMTP_FROM,
           "PAPERLESS_PUBLIC_URL": "http://127.0.0.1", "PAPERLESS_NOTIFY_MAX_PER_SECOND": "0"}
    command = [str(tp.PAPERLESS), "notify", "run", "--once", "--no-reminders"]
    if profile is not None:
        command = [str(tp.ROOT / ".venv" / "bin" / "pyinstrument"), "-r", "text", "-o", str(profile), *command]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                               text=True)
    out, err = process.communicate(timeout=600)
    elapsed = time.perf_counter() - started
    # reaped by communicate(): its CPU time is now in this process's children times (child_cpu)
    if process.returncode:
        raise RuntimeError(f"paperless notify run failed ({process.returncode}): {err[-2000:]}")
    return elapsed, out.strip()


def child_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("PAPERLESS_TEST_POSTGRES_URL", tp.DEFAULT_PG))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also one run under pyinstrument (var/bench/)")
    args = parser.parse_args(argv)
    secret = "bench-notify-cpu-" + "x" * 40
    handler = Counting()
    port = tp.free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    load_before = os.getloadavg()[0]
    rows = []
    try:
        with tempfile.TemporaryDirectory(dir=tp.VAR if tp.VAR.exists() else None) as tmp:
            workdir = Path(tmp)
            url = fresh_database(args.db, args.pg_url, workdir, secret)
            empty = []
            for _ in range(args.repeat):
                before = child_cpu()
                elapsed, _out = run_sender(url, secret, port)
                empty.append(child_cpu() - before)
            base = min(empty)
            for i in range(args.repeat):
                url = fresh_database(args.db, args.pg_url, workdir, secret)
                queue_reminders(url, MAILS)
                received = handler.count
                before = child_cpu()
                elapsed, out = run_sender(url, secret, port)
                cpu = child_cpu() - before
                got = handler.count - received
                states = outbox_states(url)
                if got != MAILS or states != {"sent": MAILS}:
                    raise RuntimeError(f"run {i + 1}: {got} received, outbox {states}")
                rows.append((cpu, elapsed, out))
            if args.profile:
                url = fresh_database(args.db, args.pg_url, workdir, secret)
                queue_reminders(url, MAILS)
                tp.VAR.mkdir(parents=True, exist_ok=True)
                target = tp.VAR / f"notify-cpu-{args.db}.pyinstrument.txt"
                run_sender(url, secret, port, profile=target)
                tp.log(f"profile: {target}")
    finally:
        controller.stop()
    print(f"`paperless notify run --once` on {MAILS} queued reminders, {args.db}, unpaced; aiosmtpd in the bench "
          f"process; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after.\n")
    print(f"Empty outbox (process start): {', '.join(f'{c * 1000:.0f}' for c in empty)} ms CPU; "
          f"the least, {base * 1000:.0f} ms, is taken off.\n")
    print("| run | CPU s (user+sys) | CPU ms per mail | elapsed s | it said |")
    print("|--:|--:|--:|--:|---|")
    for i, (cpu, elapsed, out) in enumerate(rows, 1):
        print(f"| {i} | {cpu:.2f} | {(cpu - base) * 1000 / MAILS:.2f} | {elapsed:.1f} | {out} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
