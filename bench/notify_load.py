"""Does sending slow the pages? The save and the board page measured with wrk while the outbox is idle and
while 400 reminders are being sent (issue 12, point 5).

Run by hand (not in CI), from the project root, after ``scripts/ensure-wrk.sh``::

    .venv/bin/python bench/notify_load.py --duration 10                 # SQLite, small dataset, ~3 minutes
    .venv/bin/python bench/notify_load.py --db postgres --duration 10   # PostgreSQL (2 workers)

What it does:

1. prepares the app's database as bench/throughput.py does (``paperless migrate`` + ``paperless demo``; the
   200-所属 ``small`` dataset; reused when it holds answers, ``--rebuild`` to start again) in a file or database
   of its own (var/bench/notify-<dataset>.db, PostgreSQL ``bench_notify_<dataset>``): the reminders it sends
   stay in that database;
2. starts a local SMTP server (aiosmtpd, a thread of this process) that notes when each message arrives, and
   ``paperless serve`` with its sender (``PAPERLESS_NOTIFY_SENDER=serve``: a child process of serve,
   ``paperless notify run --loop``; ``PAPERLESS_ENV=development`` as the test of the sender: it is off in
   ``test``) and ``PAPERLESS_SMTP_*`` pointing at that server; the sender looks for due notices every
   ``--interval`` seconds (default 1; the app's default is 30);
3. signs in as the desk and 32 leaders (throughput.py's ``discover``), waits until the outbox is idle (nothing
   pending or being sent), then for each of the save (PUT …/answers/{item}) and the board page, alternately:
   (a) a wrk run at ``--connections`` for ``--duration`` seconds with the outbox idle, (b) the desk's
   「今すぐ送る」 (POST /desk/reminders/send, CSRF token, for as many 所属 as make 400 mails), then at once the same
   wrk run while the sender sends them; after it, waits until the SMTP server has all 400 and notes the time
   from the POST to the last one. ``--repeat`` pairs (default 2) show the noise;
4. prints a markdown table: req/s, p50, p99, pages' CPU ms per request (throughput.py's ``CpuMeter`` on serve's
   process tree without the sender's process, whose CPU is given apart: ms per mail, from the POST to the 400th
   mail received), the time until the 400 were received,
   whether the sending lasted the whole wrk run, and the ratios sending ÷ idle of the pair.

Server log: var/bench/notify-app-<db>.log. Exit status 1 when a run answered outside 2xx for more than 1 % or
the 400 mails did not all arrive; 2 when the setup failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import throughput as tp
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

REMINDERS = 400
SMTP_FROM = "paperless-noreply@bench.example"
SAVE = next(e for e in tp.ENDPOINTS if e.kind == "save")
BOARD = next(e for e in tp.ENDPOINTS if e.label == "board page")
QUEUED = re.compile(r"[?&]n=(\d+)")


# --- the SMTP server -----------------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler: the arrival time (time.monotonic) of every message and its Message-ID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        match = re.search(rb"(?im)^Message-ID:\s*(\S+)", envelope.content)
        with self.lock:
            self.arrivals.append((time.monotonic(), match.group(1).decode() if match else ""))
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def since(self, index: int) -> list[tuple[float, str]]:
        with self.lock:
            return self.arrivals[index:]


# --- the database --------------------------------------------------------------------------------------


def prepare_database(db: str, dataset: str, pg_url: str, rebuild: bool, secret: str) -> str:
    """As throughput.prepare_app_database, in a database of this bench's own (its reminders stay there)."""
    return tp.prepare_app_database(db, dataset, pg_url, rebuild, secret, name="notify")[0]


def outbox_busy(engine: Engine) -> int:
    """Notices pending or being sent, whenever due."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM outbox_message WHERE state IN ('pending', 'sending')")
                            ).scalar_one()


def wait_idle(engine: Engine, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while (busy := outbox_busy(engine)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if busy:
        raise RuntimeError(f"the outbox still has {busy} notices to send after {timeout_s:.0f} s")


# --- the sender's process ----------------------------------------------------------------------------


def sender_pids(root: int) -> set[int]:
    """serve's notice-sending child (``paperless notify run --loop``) among the processes under ``root``."""
    found = set()
    for pid in tp.tree_ticks(root):
        try:
            if b"notify\0run\0--loop" in open(f"/proc/{pid}/cmdline", "rb").read():  # noqa: PTH123, SIM115
                found.add(pid)
        except OSError:
            pass
    return found


class PagesMeter(tp.CpuMeter):
    """The server's CPU without its sender's process (the pages' own cost); ``sender_ticks()`` is the rest."""

    def snapshot(self) -> tp.Usage:
        usage = super().snapshot()
        senders = sender_pids(self.server.proc.pid)
        pages = {pid: t for pid, t in usage.per_process.items() if pid not in senders}
        return dataclasses.replace(usage, server_ticks=sum(pages.values()), per_process=pages)

    def sender_ticks(self) -> int:
        ticks = tp.tree_ticks(self.server.proc.pid)
        return sum(ticks.get(pid, 0) for pid in sender_pids(self.server.proc.pid))


# --- 「今すぐ送る」 -------------------------------------------------------------------------------------


def send_now(ctx: tp.Context, count: int) -> int:
    """Queue ``count`` reminder mails through the desk's 「今すぐ送る」 (POST /desk/reminders/send): 所属 not yet
    submitted, chosen so that their leaders make ``count`` mails (a 所属 may be reminded again in a later POST).
    Returns the POSTs made."""
    desk = ctx.desk
    board = desk.client.get(f"/api/v1/rounds/{ctx.round_id}/submissions", params={"per_page": 1000})
    board.raise_for_status()
    pending = [(p["section"]["code"], len(p["leaders"])) for p in board.json()["pending"] if p["leaders"]]
    remaining, posts = count, 0
    while remaining > 0:
        chosen, planned = [], 0
        for code, leaders in pending:
            if planned + leaders <= remaining:
                chosen.append(code)
                planned += leaders
        if not chosen:
            raise RuntimeError(f"no 所属 left to remind for the last {remaining} mails")
        response = desk.client.post("/desk/reminders/send", params={"round": ctx.round_id},
                                    data={"section": chosen, "csrf_token": desk.csrf},
                                    headers={"X-CSRF-Token": desk.csrf})
        posts += 1
        queued = QUEUED.search(response.headers.get("location", ""))
        if response.status_code != 303 or queued is None or int(queued.group(1)) == 0:
            raise RuntimeError(f"今すぐ送る: HTTP {response.status_code} {response.headers.get('location', '')} "
                               f"{response.text[:300]}")
        remaining -= int(queued.group(1))
    if remaining < 0:
        raise RuntimeError(f"今すぐ送る queued {count - remaining} mails, not {count}")
    return posts


# --- measuring -----------------------------------------------------------------------------------------


@dataclass
class Run:
    pair: int
    label: str
    sending: bool
    row: tp.Row
    received: int | None = None  # mails the SMTP server got for this run's reminders
    duplicates: int | None = None
    delivered_s: float | None = None  # from the POST of 「今すぐ送る」 to the last of the 400 received
    wrk_s: float | None = None  # from the POST to the end of the wrk run
    enqueue_s: float | None = None  # the POSTs themselves
    posts: int | None = None
    duration_s: float = 0.0  # the wrk run's length
    sender_ms_per_mail: float | None = None  # the sender process's CPU from the POST to the 400th received ÷ 400

    @property
    def sending_share(self) -> float:
        """The share of the wrk run (its last ``duration_s`` seconds before ``wrk_s``) with mails still going."""
        if self.delivered_s is None or self.wrk_s is None or not self.duration_s:
            return 0.0
        return max(0.0, min(1.0, (self.delivered_s - (self.wrk_s - self.duration_s)) / self.duration_s))


def measure_pair(bench: tp.Bench, engine: Engine, inbox: Inbox, pair: int, endpoint: tp.Endpoint,
                 connections: int, wait_s: float) -> list[Run]:
    wait_idle(engine)
    tp.log(f"pair {pair}, {endpoint.label}: outbox idle")
    idle = Run(pair, endpoint.label, False, bench.measure(endpoint, connections))
    wait_idle(engine)
    first = inbox.count()
    meter: PagesMeter = bench.app_cpu
    sender_before = meter.sender_ticks()
    started = time.monotonic()
    posts = send_now(bench.context, REMINDERS)
    enqueued = time.monotonic()
    tp.log(f"pair {pair}, {endpoint.label}: {REMINDERS} reminders queued by {posts} POST(s) in "
           f"{enqueued - started:.2f} s; sending")
    row = bench.measure(endpoint, connections)
    wrk_done = time.monotonic()
    deadline = wrk_done + wait_s
    while inbox.count() - first < REMINDERS and time.monotonic() < deadline:
        time.sleep(0.2)
    got = inbox.since(first)
    sender_ms = (meter.sender_ticks() - sender_before) * tp.TICK_MS
    ids = {message_id for _, message_id in got}
    sending = Run(pair, endpoint.label, True, row, len(got), len(got) - len(ids),
                  (got[-1][0] - started) if len(got) >= REMINDERS else None, wrk_done - started,
                  enqueued - started, posts, bench.args.duration)
    sending.sender_ms_per_mail = sender_ms / REMINDERS if len(got) >= REMINDERS else None
    tp.log(f"    {len(got)} received ({sending.duplicates} duplicates), the last "
           + (f"{sending.delivered_s:.1f} s" if sending.delivered_s is not None else "never")
           + f" after the POST; wrk ended {sending.wrk_s:.1f} s after it "
           f"({100 * sending.sending_share:.0f} % of the run while sending)")
    return [idle, sending]


# --- the report ----------------------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base else "–"


def markdown(runs: list[Run], summary: dict) -> str:
    postgres = summary["database"] == "postgres"
    lines = [
        f"Dataset **{summary['dataset']}** on **{summary['database']}**, {summary['workers']} worker(s), wrk "
        f"{summary['duration_s']:g} s at {summary['connections']} connections per run; round {summary['round_id']}, "
        f"{summary['leaders']} leaders signed in for the saves; sender: a child process of `paperless serve`, looking every "
        f"{summary['interval_s']:g} s, at most {summary['rate']:g} notices per second (0 = no limit); "
        "SMTP: aiosmtpd on 127.0.0.1 (a thread of the bench process).",
        "",
        "| pair | page | outbox | req/s | p50 ms | p99 ms | pages CPU ms/req | "
        + ("DB CPU ms/req | " if postgres else "")
        + "400 received after | sender CPU ms/mail | wrk run while sending | req/s ÷ idle | p50 ÷ idle | p99 ÷ idle | CPU ÷ idle | "
        "non-2xx | other load (cores) |",
        "|--:|---|---|--:|--:|--:|--:|" + ("--:|" if postgres else "") + "--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    idle: dict[tuple[int, str], tp.Row] = {}
    for run in runs:
        r = run.row
        if not run.sending:
            idle[(run.pair, run.label)] = r
        base = idle.get((run.pair, run.label)) if run.sending else None
        received = "–"
        covered = "–"
        if run.sending:
            received = (f"{run.delivered_s:.1f} s" if run.delivered_s is not None
                        else f"only {run.received} of {REMINDERS}")
            if run.duplicates:
                received += f" ({run.duplicates} duplicates)"
            covered = "–" if run.delivered_s is None else f"{100 * run.sending_share:.0f} %"
        cells = [str(run.pair), run.label, f"sending {REMINDERS}" if run.sending else "idle",
                 f"{r.per_second:,.0f}" if r.per_second >= 100 else f"{r.per_second:,.1f}",
                 f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}", f"{r.server_cpu_ms_per_request:.2f}"]
        if postgres:
            cells.append("–" if r.db_cpu_ms_per_request is None else f"{r.db_cpu_ms_per_request:.2f}"
                         + ("*" if r.foreign_db_transactions else ""))
        mail_cpu = "–" if run.sender_ms_per_mail is None else f"{run.sender_ms_per_mail:.2f}"
        cells += [received, mail_cpu, covered]
        if base is not None:
            cells += [_ratio(r.per_second, base.per_second), _ratio(r.p50_ms, base.p50_ms),
                      _ratio(r.p99_ms, base.p99_ms),
                      _ratio(tp._total_cpu(r), tp._total_cpu(base))]  # noqa: SLF001 (server + DB, as throughput.py)
        else:
            cells += ["", "", "", ""]
        cells += [f"error: {r.error}" if r.error else f"{r.not_ok:,} of {r.requests:,}", f"{r.others_cores:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    m = summary["machine"]
    lines += [
        "",
        "400 received after: from the POST of 「今すぐ送る」 to the 400th mail at the SMTP server (the POST, then the "
        "sheets read for the saves' versions, then wrk). Wrk run while sending: the share of the wrk run before the "
        "400th mail arrived (the rest of the run had an idle outbox again). Pages CPU: `paperless serve` and its "
        "workers, without the sender's child process; sender CPU: that process from the POST to the 400th mail "
        "received, ÷ 400"
        + ("; DB CPU: the whole PostgreSQL server (* where other databases had transactions meanwhile: an upper "
           "bound)" if postgres else "")
        + ". CPU ÷ idle: pages CPU" + (" + DB CPU (the sender's SQL included)" if postgres else "") + " per request. Other load: cores busy "
        f"with processes other than the server{', PostgreSQL' if postgres else ''} and wrk during the run "
        f"(out of {m['cores']}).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; load average {summary['load_before']:.2f} before, "
        f"{summary['load_after']:.2f} after; Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
        f"{m['postgresql']}; {m['wrk']}; git {m['git']}; {summary['started_at']}, {summary['elapsed_s']:.0f} s.",
    ]
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("PAPERLESS_TEST_POSTGRES_URL", tp.DEFAULT_PG))
    parser.add_argument("--dataset", choices=tuple(tp.DATASETS), default="small")
    parser.add_argument("--rebuild", action="store_true", help="drop the dataset and build it again")
    parser.add_argument("--workers", type=int, help="uvicorn workers (default 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--repeat", type=int, default=2, help="pairs (idle, sending) per page (default 2)")
    parser.add_argument("--rate", type=float, default=10.0,
                        help="PAPERLESS_NOTIFY_MAX_PER_SECOND of the app (default 10, the app's; 0 = no limit)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="PAPERLESS_NOTIFY_INTERVAL_SECONDS of the app (default 1)")
    parser.add_argument("--leaders", type=int, default=32, help="leaders whose answers the saves write")
    parser.add_argument("--wait", type=float, default=600, help="longest wait for the 400 mails after a run")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = 1 if args.db == "sqlite" else 2
    # what tp.Bench reads
    args.wrk_threads, args.timeout, args.warmup = 0, 60.0, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True, check=False).returncode:  # noqa: S607
        tp.log("wrk is missing: run scripts/ensure-wrk.sh (Debian's wrk package)")
        return 2
    signal.signal(signal.SIGTERM, tp._stop_on_sigterm)  # noqa: SLF001 (the same handling as throughput.py)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started_at, started = datetime.now(UTC), time.monotonic()
    load_before = os.getloadavg()[0]
    secret = secrets.token_urlsafe(48)
    inbox = Inbox()
    runs: list[Run] = []
    try:
        url = prepare_database(args.db, args.dataset, args.pg_url, args.rebuild, secret)
        smtp_port = tp.free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        engine = create_engine(url)
        monitor = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1) if args.db == "postgres" else None
        try:
            with tp.running([]) as servers:
                port = tp.free_port()
                env = {**tp.app_env(url, secret), "PAPERLESS_ENV": "development", "PAPERLESS_NOTIFY_SENDER": "serve",
                       "PAPERLESS_NOTIFY_INTERVAL_SECONDS": str(args.interval),
                       "PAPERLESS_NOTIFY_MAX_PER_SECOND": str(args.rate),
                       "PAPERLESS_SMTP_HOST": "127.0.0.1", "PAPERLESS_SMTP_PORT": str(smtp_port),
                       "PAPERLESS_SMTP_FROM": SMTP_FROM, "PAPERLESS_PUBLIC_URL": "http://127.0.0.1"}
                app = tp.start_server("app", [str(tp.PAPERLESS), "serve", "--host", "127.0.0.1", "--port", str(port),
                                              "--workers", str(args.workers)],
                                      env, port, tp.VAR / f"notify-app-{args.db}.log", servers)
                tp.log(f"app {app.base} (log {app.log}), SMTP 127.0.0.1:{smtp_port}; signing in…")
                context = tp.discover(app.base, args.leaders)
                bench = tp.Bench(args, app, None, context, PagesMeter(app, monitor), None)
                wait_idle(engine)  # whatever the sender found at start (deadline notices of the demo round)
                for pair in range(1, args.repeat + 1):
                    for endpoint in (SAVE, BOARD):
                        runs += measure_pair(bench, engine, inbox, pair, endpoint, args.connections, args.wait)
                context.close()
        finally:
            controller.stop()
            engine.dispose()
            if monitor is not None:
                monitor.dispose()
    except (RuntimeError, httpx.HTTPError, subprocess.CalledProcessError, OSError) as exc:
        tp.log(f"setup failed: {exc}\n(server log: {tp.VAR}/notify-app-{args.db}.log)")
        return 2
    summary = {
        "started_at": started_at.isoformat(timespec="seconds"), "elapsed_s": time.monotonic() - started,
        "database": args.db, "dataset": args.dataset, "workers": args.workers, "duration_s": args.duration,
        "connections": args.connections, "interval_s": args.interval, "rate": args.rate, "round_id": context.round_id,
        "leaders": len(context.leaders), "load_before": load_before, "load_after": os.getloadavg()[0],
        "machine": tp.machine_info(args.pg_url),
    }
    print(markdown(runs, summary))
    bad = [r for r in runs if r.row.failed or (r.sending and (r.delivered_s is None or r.duplicates))]
    for r in bad:
        tp.log(f"FAILED: pair {r.pair} {r.label} ({'sending' if r.sending else 'idle'}): "
               + (r.row.error or f"{r.row.not_ok} of {r.row.requests} outside 2xx; {r.received} mails received"))
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        tp.log("interrupted: servers stopped")
        sys.exit(130)
