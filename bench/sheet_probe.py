"""The sheet page and the sheet JSON in one process: SQL statements, bytes before compression and server CPU
per request, with the app in-process (FastAPI's TestClient) on an existing database.

    PAPERLESS_DATABASE_URL=sqlite:////tmp/sheetread/demo.db PAPERLESS_ENV=test PAPERLESS_AUTH=dev \\
        .venv/bin/paperless migrate && ... .venv/bin/paperless demo --if-empty
    PAPERLESS_DATABASE_URL=... PAPERLESS_ENV=test PAPERLESS_AUTH=dev .venv/bin/python bench/sheet_probe.py

Signs in as the desk to find the current round and a leader of a 所属 that has not submitted (as
bench/throughput.py does), then signs in as that leader (development sign-in) and requests each endpoint
``--requests`` times after a warm-up. CPU is ``time.process_time`` of this process around the requests, so
it includes the test client's own work (small beside the app's); statement counts and bytes are exact.
``--profile`` writes a pyinstrument profile of the sheet page and of the JSON (pyinstrument is not a
dependency of the app: install it in your .venv to use it).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402 (bench/ is not a package)

from app.main import create_app  # noqa: E402

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: TestClient, upn: str) -> None:
    page = client.get("/auth/login")
    token = CSRF_INPUT.search(page.text)
    if token is None:
        sys.exit("no sign-in form: run with PAPERLESS_AUTH=dev")
    response = client.post("/auth/dev-login", data={"upn": upn, "csrf_token": token.group(1)})
    if response.status_code != 303:
        sys.exit(f"development sign-in as {upn} failed: {response.status_code} {response.text[:200]}")


class StatementCounter:
    """Counts the statements the engine sends (``before_cursor_execute``), per request."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.count = 0
        self.statements: list[str] = []

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _parameters, _context, _many) -> None:
        self.count += 1
        self.statements.append(statement)

    def reset(self) -> None:
        self.count = 0
        self.statements = []


def measure(label: str, get: Callable[[], object], counter: StatementCounter, requests: int, warmup: int,
            show_sql: bool) -> dict:
    for _ in range(warmup):
        get()
    counter.reset()
    response = get()
    if response.status_code != 200:
        sys.exit(f"{label}: {response.status_code} {response.text[:300]}")
    statements = counter.count
    if show_sql:
        for sql in counter.statements:
            print(f"    {' '.join(sql.split())[:160]}")
    size = len(response.content)
    start = time.process_time()
    for _ in range(requests):
        get()
    cpu_ms = (time.process_time() - start) * 1000 / requests
    print(f"{label:<12} statements {statements:>3}  bytes {size:>7,} ({size / 1024:.1f} KB)  "
          f"CPU {cpu_ms:.2f} ms/request (n={requests})")
    return {"label": label, "statements": statements, "bytes": size, "cpu_ms": cpu_ms}


def _profiled(profiler):
    from starlette.concurrency import run_in_threadpool

    async def profiled(func, *a, **kw):
        def run():
            profiler.start()
            try:
                return func(*a, **kw)
            finally:
                profiler.stop()
        return await run_in_threadpool(run)
    return profiled


def profile(client: TestClient, args, paths: dict[str, str]) -> None:
    """pyinstrument profiles of the app's own work: FastAPI runs a sync route, its sync dependencies and the
    response model's validation in a worker thread (``run_in_threadpool``), which the profiler, started in
    this thread, would not see: each of those calls is profiled in its own thread, into one session."""
    import fastapi.dependencies.utils
    import fastapi.routing
    from pyinstrument import Profiler
    from starlette.concurrency import run_in_threadpool

    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        profiler = Profiler(interval=0.0002, async_mode="disabled")
        fastapi.routing.run_in_threadpool = fastapi.dependencies.utils.run_in_threadpool = _profiled(profiler)
        try:
            for _ in range(args.requests):
                client.get(path)
        finally:
            fastapi.routing.run_in_threadpool = fastapi.dependencies.utils.run_in_threadpool = run_in_threadpool
        (out / f"{name}.html").write_text(profiler.output_html())
        (out / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
        print(f"profile: {out / name}.html / .txt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint (default 200)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--sql", action="store_true", help="print the statements of one request of each")
    parser.add_argument("--profile", metavar="DIR", help="write pyinstrument HTML profiles here")
    parser.add_argument("--code", help="the 所属 code (default: the first pending 所属 with a leader)")
    args = parser.parse_args(argv)

    app = create_app()
    with TestClient(app, follow_redirects=False) as desk, TestClient(app, follow_redirects=False) as client:
        sign_in(desk, throughput.DESK_UPN)
        round_id = throughput.newest_round(desk.get("/api/v1/rounds").json())
        _, pending = throughput.board_facts(desk.get(f"/api/v1/rounds/{round_id}/submissions").json(), 50)
        code, upn = next(((c, u) for c, u in pending if args.code in (None, c)), (None, None))
        if code is None:
            sys.exit("no pending 所属 with a leader in the newest round")
        sign_in(client, upn)
        page = f"/rounds/{round_id}/sections/{code}"
        api = f"/api/v1/rounds/{round_id}/sections/{code}/sheet"
        items = len(client.get(api).json()["items"])
        print(f"round {round_id}, 所属 {code} ({items} items), signed in as {upn}; {app.state.engine.url}")
        with StatementCounter(app.state.engine) as counter:
            for label, path in (("sheet page", page), ("sheet JSON", api)):
                measure(label, lambda path=path: client.get(path), counter, args.requests, args.warmup, args.sql)
        if args.profile:
            profile(client, args, {"sheet_page": page, "sheet_json": api})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
