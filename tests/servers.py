"""Running the app for tests that need a real server: in a thread (browser tests) or as the real
`paperless serve` process (restart tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from app.config import PROJECT_ROOT

PAPERLESS = str(Path(sys.executable).with_name("paperless"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {base} did not start")


@contextmanager
def thread_server(app):
    """Serve ``app`` with uvicorn in a background thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERLESS_")}
    env.update(PAPERLESS_DATABASE_URL=database_url, PAPERLESS_ENV="development", PAPERLESS_AUTH="dev", **extra)
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PAPERLESS, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


@contextmanager
def process_server(env: dict[str, str]):
    """`paperless serve` as its own process; yields the base URL, then stops it."""
    port = free_port()
    proc = subprocess.Popen([PAPERLESS, "serve", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
