"""One save, looked at closely: the SQL statements it sends, and (with ``--profile``) where its CPU goes.

Run by hand, from the project root::

    .venv/bin/python bench/save_probe.py                       # statements of each kind of save (SQLite)
    .venv/bin/python bench/save_probe.py --db postgres         # the same on PostgreSQL
    .venv/bin/python bench/save_probe.py --profile --saves 400 # pyinstrument over 400 API saves

It prepares its own copy of the small benchmark dataset (``bench/throughput.py``'s ``prepare_app_database``
under the name ``probe``), builds the app in this process and drives it through its ASGI interface (no
server, no network), signed in as the DX推進リーダー of a 所属 that has not submitted. Every save is a real
change (the next status in ◎ ○ △ × and a new memo) with the version learnt from the last answer.

The kinds of save: ``api`` (PUT /api/v1/…/answers/{item}, JSON), ``row`` (the sheet page's htmx row,
POST …/items/{item} with HX-Request), ``form`` (the page without JavaScript: every row at once).

CPU per save is the process's CPU time during the app's part of each request (the event loop and the thread
pool: the sync routes and dependencies run there, as under uvicorn; the client's part is left out). For
``--profile`` the thread pool is bypassed (sync routes and dependencies run inline on the profiled
thread) so that pyinstrument sees the whole request; pyinstrument is not a dependency of the project
(``.venv/bin/pip install pyinstrument``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import pstats
import re
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

import anyio.to_thread
import httpx
import throughput
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATUSES = ["◎", "○", "△", "×"]
_VALUES = re.compile(r"\(\s*(?:%\(\w+\)s|\?|\$\d+|%s)(?:\s*,\s*(?:%\(\w+\)s|\?|\$\d+|%s))*\s*\)")


def shape(statement: str) -> str:
    """A statement without its parameter lists and extra whitespace: one line per kind of statement."""
    return " ".join(_VALUES.sub("(…)", statement).split())


class Recorder:
    """Every statement the engine sends while ``on``, and the transactions' BEGIN/COMMIT as the DBAPI sees them."""

    def __init__(self, engine) -> None:
        self.on = False
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)
        event.listen(engine, "commit", lambda conn: self._mark("COMMIT"))
        event.listen(engine, "rollback", lambda conn: self._mark("ROLLBACK"))

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.on:
            self.statements.append(shape(statement))

    def _mark(self, what: str) -> None:
        if self.on:
            self.statements.append(what)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken


class Driver:
    """The app in this process, a signed-in leader, and the answers of their sheet with their versions."""

    def __init__(self, url: str, secret: str) -> None:
        import os

        os.environ.update(throughput.app_env(url, secret))
        from app.config import get_settings
        from app.main import create_app

        get_settings.cache_clear()
        self.app = create_app()
        self.engine = self.app.state.engine
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://probe")
        self.turn: dict[str, int] = {}
        self.versions: dict[str, int] = {}
        self.seq = 0
        self.cpu = 0.0  # seconds of CPU spent in the app (see ``call``)
        self.calls: cProfile.Profile | None = None  # counting the app's Python function calls (``calls``)
        self.backends: set[int] = set()  # PostgreSQL: the server processes of the app's connections
        if self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", lambda dbapi, _record: self.backends.add(dbapi.info.backend_pid))

    def db_cpu(self) -> float:
        """Seconds of CPU the PostgreSQL processes serving the app's connections have used (0 on SQLite)."""
        total = 0
        for pid in self.backends:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    async def sign_in(self) -> None:
        desk = await self._dev_login(throughput.DESK_UPN)
        rounds = (await self.client.get("/api/v1/rounds")).json()
        self.round_id = throughput.newest_round(rounds)
        board = await self.client.get(f"/api/v1/rounds/{self.round_id}/submissions", params={"per_page": 1000})
        _, pending = throughput.board_facts(board.json(), 1)
        self.client.cookies.clear()
        self.code, upn = pending[0]
        del desk
        await self._dev_login(upn)
        me = await self.client.get("/api/v1/me")
        self.csrf = me.json()["csrf_token"]
        sheet = (await self.client.get(f"/api/v1/rounds/{self.round_id}/sections/{self.code}/sheet")).json()
        self.keys = []
        self.memos = {item["item_key"]: item["answer"]["memo"] for item in sheet["items"]}
        for key, version, status in throughput.answers_of(sheet):
            self.keys.append(key)
            self.versions[key] = version
            self.turn[key] = STATUSES.index(status) if status in STATUSES else -1
        page = await self.client.get(f"/rounds/{self.round_id}/sections/{self.code}")
        numbers = sorted({int(n) for n in re.findall(r'name="?v(\d+)', page.text)})  # rows' positions, in item order
        self.positions = dict(zip(self.keys, numbers, strict=True))

    async def _dev_login(self, upn: str) -> None:
        page = await self.client.get("/auth/login")
        token = throughput.CSRF_INPUT.search(page.text).group(1)
        done = await self.client.post("/auth/dev-login", data={"upn": upn, "csrf_token": token})
        if done.status_code != 303:
            raise RuntimeError(f"sign-in as {upn}: HTTP {done.status_code}")

    def _next(self, key: str) -> tuple[str, str]:
        self.turn[key] = (self.turn[key] + 1) % len(STATUSES)
        self.seq += 1
        return STATUSES[self.turn[key]], f"probe {self.seq}"

    async def save(self, kind: str, key: str) -> tuple[int, bytes]:
        """One real change of ``key``'s answer, sent straight to the app's ASGI interface. The time spent in
        the app (CPU of this thread) is added to ``self.cpu``."""
        status, memo = self._next(key)
        self.memos[key] = memo
        base = f"/rounds/{self.round_id}/sections/{self.code}"
        if kind == "api":
            request = self.client.build_request(
                "PUT", f"/api/v1{base}/answers/{key}", headers={"X-CSRF-Token": self.csrf},
                json={"status": status, "memo": memo, "version": self.versions[key]})
        elif kind == "row":
            n = self.positions[key]
            request = self.client.build_request(
                "POST", f"{base}/items/{key}", headers={"X-CSRF-Token": self.csrf, "HX-Request": "true"},
                data={f"s{n}": status, f"m{n}": memo, f"v{n}": str(self.versions[key])})
        else:  # form: every row sent, this one changed, the others as they are (unchanged: not written)
            data = {"csrf_token": self.csrf}
            for other in self.keys:
                n = self.positions[other]
                turn = self.turn[other]
                data.update({f"v{n}": str(self.versions[other]), f"m{n}": self.memos[other] or ""})
                if turn >= 0:
                    data[f"s{n}"] = STATUSES[turn]
            request = self.client.build_request("POST", base, data=data)
        code, body = await self.call(request)
        if code not in (200, 303):
            raise RuntimeError(f"{kind} save of {key}: HTTP {code} {body[:300]!r}")
        self.versions[key] = json.loads(body)["version"] if kind == "api" else self.versions[key] + 1
        return code, body

    async def call(self, request: httpx.Request) -> tuple[int, bytes]:
        """``request`` through the app's ASGI interface, without a client or transport in between."""
        body = request.read()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
                 "scheme": "http", "path": request.url.path, "raw_path": request.url.raw_path,
                 "query_string": request.url.query, "root_path": "", "client": ("127.0.0.1", 50000),
                 "server": ("probe", 80), "headers": [(k.lower(), v) for k, v in request.headers.raw]}
        sent = False
        status, chunks = 0, []

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        started = time.process_time()  # this thread and the thread pool's (the app's sync parts run there)
        if self.calls is not None:
            self.calls.enable()
        await self.app(scope, receive, send)
        if self.calls is not None:
            self.calls.disable()
        self.cpu += time.process_time() - started
        return status, b"".join(chunks)


async def count(driver: Driver, kinds: list[str]) -> dict[str, list[str]]:
    recorder = Recorder(driver.engine)
    seen = {}
    for kind in kinds:
        for key in driver.keys[:3]:  # warm: compiled statement caches, the definition cache
            await driver.save(kind, key)
        recorder.on = True
        await driver.save(kind, driver.keys[4])
        recorder.on = False
        seen[kind] = recorder.take()
    return seen


def run_inline() -> None:
    """Sync routes and dependencies on the calling thread (FastAPI would hop to the thread pool): the CPU of a
    request is then this thread's, and pyinstrument sees all of it."""
    async def inline(func, *args, abandon_on_cancel=False, cancellable=None, limiter=None):
        return func(*args)

    anyio.to_thread.run_sync = inline


async def measure(driver: Driver, kind: str, saves: int, batches: int = 1) -> float:
    """CPU ms per save spent in the app: the best of ``batches`` batches of ``saves`` saves (after a few to warm
    up). The best batch is the one least disturbed by other processes on a shared machine."""
    for key in driver.keys[:5]:
        await driver.save(kind, key)
    best = None
    for _ in range(batches):
        driver.cpu = 0.0
        db_before = driver.db_cpu()
        for i in range(saves):
            await driver.save(kind, driver.keys[i % len(driver.keys)])
        driver.db_spent = min(getattr(driver, "db_spent", 1e9), driver.db_cpu() - db_before)
        best = min(best or driver.cpu, driver.cpu)
    return best / saves * 1000


async def calls(driver: Driver, kind: str, saves: int) -> float:
    """Python function calls per save in the app (cProfile's count): unlike time, the same on a busy machine."""
    for key in driver.keys[:5]:
        await driver.save(kind, key)
    driver.calls = cProfile.Profile()
    for i in range(saves):
        await driver.save(kind, driver.keys[i % len(driver.keys)])
    stats = pstats.Stats(driver.calls)
    driver.calls = None
    return stats.total_calls / saves


async def profile(driver: Driver, kind: str, saves: int, interval: float):
    from pyinstrument import Profiler

    profiler = Profiler(interval=interval, async_mode="disabled")
    profiler.start()
    await measure(driver, kind, saves)
    profiler.stop()
    return profiler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=throughput.DEFAULT_PG)
    parser.add_argument("--name", default="probe", help="the database's name part (bench_NAME_small on PostgreSQL)")
    parser.add_argument("--kinds", default="api,row,form", help="comma-separated: api, row, form")
    parser.add_argument("--profile", action="store_true", help="pyinstrument over --saves saves of the first kind")
    parser.add_argument("--saves", type=int, default=200, help="saves per batch (0: only count statements)")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.0002, help="pyinstrument's sampling interval (s)")
    parser.add_argument("--flat", action="store_true", help="pyinstrument's flat view (self time per function)")
    parser.add_argument("--all", action="store_true", help="pyinstrument's tree with library frames")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    logging.getLogger("httpx").setLevel(logging.WARNING)
    url, _ = throughput.prepare_app_database(args.db, "small", args.pg_url, False, "probe", name=args.name)
    driver = Driver(url, secrets.token_urlsafe(48))

    async def run() -> int:
        async with driver.client:
            await driver.sign_in()
            if args.profile:
                run_inline()
                profiler = await profile(driver, kinds[0], args.saves, args.interval)
                print(profiler.output_text(unicode=True, color=False, show_all=args.all, flat=args.flat))
                if args.html:
                    args.html.write_text(profiler.output_html())
                return 0
            for kind, statements in (await count(driver, kinds)).items():
                sql = [s for s in statements if s not in ("COMMIT", "ROLLBACK") and not s.startswith("BEGIN")]
                print(f"\n{kind}: {len(sql)} statements (besides BEGIN, COMMIT, ROLLBACK), {statements.count('COMMIT')} commit(s)")
                for text, times in Counter(statements).items():
                    print(f"  {times}× {text[:220]}")
            if args.saves:
                print()
                cpu, db = {}, {}
                for kind in kinds:
                    driver.db_spent = 1e9
                    cpu[kind] = await measure(driver, kind, args.saves, args.batches)
                    db[kind] = driver.db_spent / args.saves * 1000
                run_inline()  # cProfile counts the calls of one thread: the thread pool's parts run on it now
                for kind in kinds:
                    print(f"{kind}: {cpu[kind]:.2f} ms CPU per save in the app (best of {args.batches} batches of "
                          f"{args.saves} saves, no profiler)"
                          + (f", {db[kind]:.2f} ms of its PostgreSQL connections' CPU (best batch); " if driver.backends
                             else "; ")
                          +
                          f"{await calls(driver, kind, 50):,.0f} Python function calls per save")
            return 0

    try:
        return asyncio.run(run())
    finally:
        driver.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
