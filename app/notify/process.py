"""The sending process of ``paperless serve``: a child process (``paperless notify run --loop``) that serve starts
before the web server and stops after it, instead of a thread inside a page-serving worker.

Why a process: a thread of a uvicorn worker shares that worker's GIL, so every millisecond of CPU the sender
spends (SQL, building mails, SMTP) is one the pages of that worker wait for (docs/benchmarks.md, "Sending 400
reminders"). In a process of its own it takes only what the operating system gives it.

- Exactly one sender across processes is still the advisory lock's job (PostgreSQL): every ``serve`` (one per
  host) starts one child, and only the child holding ``pg_try_advisory_lock`` sends; on SQLite the one ``serve``
  has the one child.
- No orphans: the child reads a pipe from ``serve`` on its standard input and stops when it ends, which happens
  when ``serve`` exits in any way, SIGKILL included. ``stop`` sends SIGTERM and waits (then SIGKILL).
- A child that dies on its own (not asked to stop, exit status not 0) is started again after ``RESTART_SECONDS``.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading

from app.config import Settings

log = logging.getLogger("paperless.notify")
RESTART_SECONDS = 10.0


def wanted(settings: Settings) -> bool:
    """``PAPERLESS_NOTIFY_SENDER=serve`` (the default), except in tests (they start senders themselves)."""
    return settings.notify_sender == "serve" and settings.env != "test"


def command() -> list[str]:
    return [sys.executable, "-m", "app.cli", "notify", "run", "--loop", "--watch-stdin"]


class SenderProcess:
    """Start with ``start()``, stop with ``stop()``; a watcher thread starts it again if it dies."""

    def __init__(self, settings: Settings, argv: list[str] | None = None):
        self.settings = settings
        self.argv = argv or command()
        self.proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _spawn(self) -> None:
        # stdin: the pipe whose end tells the child that serve has gone; stdout/stderr: serve's own (its log).
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE)  # noqa: S603 (our own command line)
        log.info("notice sender started as process %d", self.proc.pid)

    def start(self) -> SenderProcess:
        with self._lock:
            self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="notify-sender-watch", daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._stopping.is_set():
            proc = self.proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            if code == 0:  # told to stop by a signal to the whole group (Ctrl-C): serve is stopping too
                log.info("notice sender process %d stopped", proc.pid)
                return
            log.error("notice sender process %d exited with %d; starting it again in %.0f s", proc.pid, code,
                      RESTART_SECONDS)
            if self._stopping.wait(RESTART_SECONDS):
                return
            with self._lock:
                if not self._stopping.is_set():
                    self._spawn()

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, wait until it has finished the send in flight (at most the SMTP timeout + 5 s), then
        SIGKILL. Returns its exit status."""
        self._stopping.set()
        with self._lock:
            proc = self.proc
        if proc is None:
            return None
        timeout = timeout if timeout is not None else self.settings.smtp_timeout_seconds + 5
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("notice sender process %d did not stop in %.0f s: killed", proc.pid, timeout)
            proc.kill()
            code = proc.wait()
        log.info("notice sender process %d stopped (exit status %s)", proc.pid, code)
        if proc.stdin is not None:
            proc.stdin.close()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        return code


def start(settings: Settings) -> SenderProcess | None:
    """The child of ``paperless serve`` when ``wanted``; None otherwise."""
    return SenderProcess(settings).start() if wanted(settings) else None
