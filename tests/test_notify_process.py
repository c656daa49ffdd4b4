"""The notice sender of ``paperless serve`` is a child process of its own (``paperless notify run --loop``), not a
thread of a page-serving worker: it sends, it stops with serve on SIGTERM and on Ctrl-C, and it never outlives
serve, even when serve is killed with SIGKILL. Real processes, a real SMTP server, SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.config import PROJECT_ROOT
from tests.mailserver import smtp_server
from tests.servers import PAPERLESS, free_port, server_env
from tests.test_notify_delivery import FROM, populate, states


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the living processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that does not reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout  # a bound on waiting, not an assertion on speed
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


class Serve:
    def __init__(self, database_url: str, smtp_port: int, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = server_env(database_url, PAPERLESS_SMTP_HOST="127.0.0.1", PAPERLESS_SMTP_PORT=str(smtp_port),
                         PAPERLESS_SMTP_FROM=FROM, PAPERLESS_PUBLIC_URL="https://paperless.test.example",
                         PAPERLESS_NOTIFY_MAX_PER_SECOND="0", PAPERLESS_NOTIFY_INTERVAL_SECONDS="0.2")
        env["PAPERLESS_ENV"] = "development"  # the sender is off in "test" (tests start senders themselves)
        with log.open("ab") as handle:
            self.proc = subprocess.Popen(  # noqa: S603 (our own command line)
                [str(PAPERLESS), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                env=env, cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> None:
        def up() -> bool:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 120, "paperless serve to answer")

    def sender(self) -> int:
        """The pid of serve's one notice-sending child."""
        wait_for(lambda: any("--loop" in c for _, c in children(self.proc.pid)), 60, "the sender process")
        found = [(pid, c) for pid, c in children(self.proc.pid) if "notify run --loop" in c]
        assert len(found) == 1, children(self.proc.pid)
        return found[0][0]

    def cleanup(self) -> None:
        """Whatever is left of serve's process group (a failed test's orphan too) is killed."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def serve(tmp_path):
    started: list[Serve] = []

    def start(database_url: str, smtp_port: int) -> Serve:
        s = Serve(database_url, smtp_port, tmp_path / f"serve{len(started)}.log")
        started.append(s)
        s.wait_ready()
        return s

    yield start
    for s in started:
        s.cleanup()


def test_serve_sends_from_a_child_process_and_stops_it_on_sigterm(session, database_url, serve):
    populate(session, 30)
    with smtp_server() as (inbox, port):
        server = serve(database_url, port)
        child = server.sender()
        wait_for(lambda: states(session)["sent"] == 30, 120, "30 notices sent")
        assert len(inbox.messages) == 30 and len(set(inbox.ids())) == 30
        log = server.log.read_text(errors="replace")
        assert f"notice sender started as process {child}" in log
        # SIGTERM to serve alone (not its group), as a service manager stopping the main process would.
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0
    assert not alive(child)
    log = server.log.read_text(errors="replace")
    assert "notice sender: SIGTERM, stopping" in log
    assert f"notice sender process {child} stopped (exit status 0)" in log  # an orderly exit, not an abort


def test_ctrl_c_stops_serve_and_its_sender(session, database_url, serve):
    with smtp_server() as (_inbox, port):
        server = serve(database_url, port)
        child = server.sender()
        os.killpg(server.proc.pid, signal.SIGINT)  # the terminal sends SIGINT to the whole foreground group
        server.proc.wait(timeout=60)
    wait_for(lambda: not alive(child), 30, "the sender to stop")


def test_a_killed_serve_leaves_no_orphan_sender(session, database_url, serve):
    with smtp_server() as (_inbox, port):
        server = serve(database_url, port)
        child = server.sender()
        server.proc.send_signal(signal.SIGKILL)  # serve alone: no shutdown code of its own runs
        server.proc.wait()
        # The pipe from serve ended with it: the sender notices and stops by itself.
        wait_for(lambda: not alive(child), 30, "the orphaned sender to stop")
    assert "paperless serve has gone, stopping" in server.log.read_text(errors="replace")


def test_a_sender_that_dies_is_started_again_and_one_that_ignores_sigterm_is_killed(monkeypatch, tmp_path):
    """SenderProcess with stand-in commands: a child exiting with 3 is started again (after RESTART_SECONDS);
    one that ignores SIGTERM is killed once ``stop``'s wait is over, and nothing is started after ``stop``."""
    import sys

    from app.notify import process
    from tests.conftest import make_settings

    monkeypatch.setattr(process, "RESTART_SECONDS", 0.1)
    settings = make_settings(f"sqlite:///{tmp_path / 'unused.db'}")
    starts = tmp_path / "starts"
    dying = process.SenderProcess(settings, [sys.executable, "-c",
                                             f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"]).start()
    wait_for(lambda: starts.exists() and len(starts.read_text()) >= 3, 30, "three starts")
    dying.stop(timeout=5)
    counted = len(starts.read_text())
    time.sleep(0.5)
    assert len(starts.read_text()) == counted  # stopped means stopped: no start after it

    stubborn = process.SenderProcess(settings, [sys.executable, "-c", "import signal, time; "
                                                "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', "
                                                "flush=True); time.sleep(600)"])
    stubborn.start()
    time.sleep(1.0)  # let it install its handler
    assert stubborn.stop(timeout=1) == -signal.SIGKILL
    assert not alive(stubborn.pid)


@pytest.mark.parametrize("flags", [(), ("--once", "--loop")])
def test_notify_run_wants_exactly_one_of_once_and_loop(flags):
    from click.testing import CliRunner

    from app import cli

    result = CliRunner().invoke(cli.main, ["notify", "run", *flags])
    assert result.exit_code == 2 and "exactly one of --once" in result.output
