"""HTTP throughput of the app's endpoints, measured with wrk beside /healthz and a naive peer app.

Run by hand (not in CI), from the project root, after ``scripts/ensure-wrk.sh``::

    .venv/bin/python bench/throughput.py --check                      # every endpoint 2 s at 1 connection
    .venv/bin/python bench/throughput.py --db sqlite --dataset small  # ~4 minutes
    .venv/bin/python bench/throughput.py --db postgres --dataset prefecture --json var/bench/pg.json
    .venv/bin/python bench/throughput.py --only 'save|peer' --connections 4,32,64

What it does:

1. prepares the app's database (``paperless migrate`` + ``paperless demo``; reused when it already holds
   answers, ``--rebuild`` to start again): ``small`` is the 200-所属 demo, ``prefecture`` 3,000 所属 ×
   40 items × 20 rounds. SQLite files live in var/bench/ (git-ignored), PostgreSQL databases are
   ``bench_http_<dataset>``. The peer (bench/peer.py) gets its own SQLite file or PostgreSQL database,
   refilled every run;
2. starts ``paperless serve`` and the peer with the same number of uvicorn workers, signs in as the desk
   and as the DX推進リーダー of ``--leaders`` 所属 that have not submitted;
3. runs ``wrk --latency`` for every endpoint of ``ENDPOINTS`` (desk pages and JSON at
   ``--page-connections``; /healthz, the saves and the peer at each of ``--connections``), with a generated
   Lua script (bench/wrkrun.py) that sends the session cookie and, for saves, the CSRF token;
4. reads the CPU time of the server's whole process tree (uvicorn's parent and workers) from /proc before
   and after each run, and on PostgreSQL that of the whole PostgreSQL server as well (see ``CpuMeter``):
   CPU ms per request is the figure that survives a shared, noisy machine;
5. prints a markdown table (and the machine), writes everything as JSON with ``--json``, and stops every
   server it started, also on Ctrl-C or an error.

The generated Lua scripts stay in var/bench/lua/ to rerun one by hand (they hold the bench server's
session cookies). Server logs: var/bench/http-app-<db>.log and http-peer-<db>.log.

Exit status 1 when an endpoint answered outside 2xx for more than 1 % of its requests (or not at all, or
could not be measured); 2 when the setup failed (dataset, server start, sign-in).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import json
import os
import platform
import re
import resource
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import wrkrun
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
PAPERLESS = ROOT / ".venv" / "bin" / "paperless"
PEER = Path(__file__).resolve().parent / "peer.py"
VAR = ROOT / "var" / "bench"  # git-ignored
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SESSION_COOKIE = "paperless_session"
DESK_UPN = "desk@demo.example"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
MAX_FAILED_SHARE = 0.01  # more non-2xx than this: the endpoint is flagged and the exit status is 1
PEER_ROWS = 10_000

Who = Literal["anonymous", "desk", "leader", "leaders", "peer"]


@dataclass(frozen=True)
class Endpoint:
    label: str  # as shown in the table
    path: str  # {round}: the newest round; {code}: the first leader's 所属; {bureau}: the largest 部局
    who: Who = "desk"  # leader: the first leader; leaders: each answer with its own 所属's leader
    kind: Literal["get", "save", "peer"] = "get"
    under_load: bool = False  # measured at every --connections (otherwise at --page-connections only)


# Everything that is measured, in the order it is measured (at each connection count).
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/healthz", "/healthz", who="anonymous", under_load=True),
    Endpoint("peer PUT /items/{id}", "/items/{id}", who="peer", kind="peer", under_load=True),
    Endpoint("save PUT …/answers/{item}", "/api/v1/rounds/{round}/sections/{code}/answers/{item}",
             who="leaders", kind="save", under_load=True),
    Endpoint("sheet page", "/rounds/{round}/sections/{code}", who="leader"),
    Endpoint("sheet JSON", "/api/v1/rounds/{round}/sections/{code}/sheet", who="leader"),
    Endpoint("board page", "/desk/board?round={round}"),
    Endpoint("heatmap page", "/desk/heatmap?round={round}"),
    Endpoint("heatmap page, largest 部局, by score", "/desk/heatmap?round={round}&bureau={bureau}&sort=asc"),
    Endpoint("weak-items page", "/desk/weak-items?round={round}"),
    Endpoint("weak-items page, largest 部局", "/desk/weak-items?round={round}&bureau={bureau}"),
    Endpoint("quick-wins page", "/desk/quick-wins?round={round}"),
    Endpoint("distribution page", "/desk/distribution?round={round}"),
    Endpoint("submissions JSON", "/api/v1/rounds/{round}/submissions"),
    Endpoint("heatmap JSON", "/api/v1/rounds/{round}/heatmap"),
    Endpoint("weak-items JSON", "/api/v1/rounds/{round}/weak-items"),
    Endpoint("quick-wins JSON", "/api/v1/rounds/{round}/quick-wins"),
    Endpoint("distribution JSON", "/api/v1/rounds/{round}/distribution"),
    Endpoint("trend page (leader)", "/sections/{code}/trend", who="leader"),
    Endpoint("trend JSON (leader)", "/api/v1/sections/{code}/trend", who="leader"),
)

DATASETS: dict[str, list[str]] = {
    "small": ["--sections", "200"],
    "prefecture": ["--sections", "3000", "--rounds", "20", "--items", "40", "--no-history"],
}


# --- the app's JSON, in one place (adapt here when the API changes) ------------------------------------


def answers_of(sheet: dict) -> list[tuple[str, int, str | None]]:
    """(item key, version, status) of every answer of a sheet (GET …/sections/{code}/sheet)."""
    return [(item["item_key"], item["answer"]["version"], item["answer"]["status"]) for item in sheet["items"]]


def newest_round(rounds: list[dict]) -> int:
    """The round the desk works on (GET /api/v1/rounds): the current one, else the newest."""
    current = [r["id"] for r in rounds if r.get("current")]
    return current[0] if current else max(r["id"] for r in rounds)


def board_facts(submissions: dict, leaders: int) -> tuple[str, list[tuple[str, str]]]:
    """From GET /api/v1/rounds/{id}/submissions: the largest 部局's code, and (所属 code, leader UPN) of
    up to ``leaders`` 所属 that have not submitted."""
    bureau = max(submissions["bureaus"], key=lambda b: b["sections"])["bureau"]["code"]
    pending = [(p["section"]["code"], p["leaders"][0]["upn"]) for p in submissions["pending"] if p["leaders"]]
    return bureau, pending[:leaders]


# --- databases -----------------------------------------------------------------------------------------


def app_env(url: str, secret: str) -> dict[str, str]:
    # "test", not "development": the development sign-in is allowed, but templates are not looked at on disk
    # on every page (as in production; development reloads edited templates).
    return {**os.environ, "PAPERLESS_ENV": "test", "PAPERLESS_AUTH": "dev",
            "PAPERLESS_DATABASE_URL": url, "PAPERLESS_SECRET_KEY": secret}


def with_database(pg_url: str, name: str) -> str:
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def ensure_pg_database(pg_url: str, name: str, *, fresh: bool) -> str:
    """Create the database if it is missing (dropped first when ``fresh``); returns its URL."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if fresh:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return with_database(pg_url, name)


def count_answers(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM answer")).scalar_one()
    except Exception:  # noqa: BLE001 (no table yet: not built)
        return 0
    finally:
        engine.dispose()


def prepare_app_database(db: str, dataset: str, pg_url: str, rebuild: bool, secret: str,
                         name: str = "http") -> tuple[str, float | None]:
    """The app's database with the dataset: reused when it already holds answers. Returns its URL and
    the seconds ``paperless demo`` took (None when reused). ``name``: a bench that writes data of its own
    (notify_load's reminders) keeps them out of the others' database."""
    if db == "sqlite":
        path = VAR / f"{name}-{dataset}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        if rebuild:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = ensure_pg_database(pg_url, f"bench_{name}_{dataset}", fresh=rebuild)
    env = app_env(url, secret)
    subprocess.run([str(PAPERLESS), "migrate"], env=env, cwd=ROOT, check=True,  # noqa: S603 (our command)
                   stdout=subprocess.DEVNULL)
    existing = count_answers(url)
    if existing:
        log(f"dataset {dataset}: reusing {existing:,} answers ({db})")
        return url, None
    log(f"dataset {dataset}: building with paperless demo {' '.join(DATASETS[dataset])} ({db})…")
    started = time.perf_counter()
    subprocess.run([str(PAPERLESS), "demo", *DATASETS[dataset]], env=env, cwd=ROOT, check=True,  # noqa: S603
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - started
    log(f"dataset {dataset}: built in {took:.0f} s")
    return url, took


def prepare_peer_database(db: str, pg_url: str) -> str:
    """The peer's own database, refilled (bench/peer.py fill)."""
    if db == "sqlite":
        VAR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR / 'http-peer.db'}"
    else:
        url = ensure_pg_database(pg_url, "bench_http_peer", fresh=False)
    subprocess.run([sys.executable, str(PEER), "fill", "--url", url, "--rows", str(PEER_ROWS)],  # noqa: S603
                   check=True, cwd=ROOT)
    return url


# --- servers and their CPU time ---------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    base: str
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(name: str, command: list[str], env: dict[str, str], port: int, log_path: Path,
                 started: list[Server]) -> Server:
    """Start a server in its own session (so that it can be stopped as a group), add it to ``started``
    at once (whoever stops ``started`` stops it, even if it never answers) and wait for /healthz."""
    with log_path.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out,  # noqa: S603 (our own commands)
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, proc, f"http://127.0.0.1:{port}", log_path)
    started.append(server)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} stopped at start; see {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                return server
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer /healthz within 120 s; see {log_path}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks) of a process, or None when it is gone. The ticks are its own utime + stime
    plus the cutime + cstime of the children it has reaped, so a child's time stays counted after it exits
    (PostgreSQL backends that a connection pool closes, for example)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()  # after "pid (comm)": fields[0] is field 3 (state)
    return int(fields[1]), sum(int(x) for x in fields[11:15])  # fields 14–17: utime stime cutime cstime


def tree_ticks(root: int) -> dict[int, int]:
    """CPU ticks of ``root`` and of every process descended from it (uvicorn's parent and its workers;
    the postmaster and its backends)."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    ticks, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in ticks:
            ticks[pid] = stats[pid][1]
            todo.extend(children.get(pid, []))
    return ticks


@dataclass(frozen=True)
class Usage:
    """Counters at one moment; the difference of two is what a wrk run cost."""

    server_ticks: int  # the server's process tree
    per_process: dict[int, int] = field(default_factory=dict)  # the same, per process (uvicorn's workers)
    db_ticks: int = 0  # the whole PostgreSQL server (postmaster, backends, background processes)
    db_sessions: int = 0  # sessions opened to the measured database so far (pg_stat_database.sessions)
    foreign_transactions: int = 0  # transactions in the other databases of the PostgreSQL server so far


class CpuMeter:
    """CPU time of a server's process tree and, on PostgreSQL, of the whole PostgreSQL server.

    PostgreSQL's CPU cannot be told apart per database once a backend has exited (the postmaster reaps
    it), so the whole server is counted, and transactions in other databases during the run are counted
    too: when there are any, someone else used PostgreSQL meanwhile and the DB figure is an upper bound.
    """

    def __init__(self, server: Server, monitor: Engine | None) -> None:
        self.server = server
        self.monitor = monitor  # connected to the measured database (one pooled connection, kept open)
        self.postmaster: int | None = None
        if monitor is not None:
            with monitor.connect() as conn:
                backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            stat = _proc_stat(backend)  # None when PostgreSQL runs elsewhere (another host or container)
            self.postmaster = stat[0] if stat else None

    def snapshot(self) -> Usage:
        processes = tree_ticks(self.server.proc.pid)
        server = sum(processes.values())
        if self.monitor is None:
            return Usage(server, processes)
        with self.monitor.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            sessions = conn.execute(text(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")).scalar_one()
            foreign = conn.execute(text(
                "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database "
                "WHERE datname IS DISTINCT FROM current_database()")).scalar_one()
        db = sum(tree_ticks(self.postmaster).values()) if self.postmaster else 0
        return Usage(server, processes, db, int(sessions), int(foreign))


# --- people ------------------------------------------------------------------------------------------


@dataclass
class Person:
    upn: str
    client: httpx.Client
    csrf: str = ""
    code: str = ""  # the 所属 they answer for (leaders)

    @property
    def cookie(self) -> str:
        return f"{SESSION_COOKIE}={self.client.cookies.get(SESSION_COOKIE)}"


def sign_in(base: str, upn: str, code: str = "") -> Person:
    """The development sign-in: the form's CSRF token, POST /auth/dev-login, then /api/v1/me."""
    client = httpx.Client(base_url=base, timeout=300)
    page = client.get("/auth/login")
    token = CSRF_INPUT.search(page.text)
    if page.status_code != 200 or token is None:
        raise RuntimeError(f"sign-in page: HTTP {page.status_code}")
    done = client.post("/auth/dev-login", data={"upn": upn, "csrf_token": token.group(1)})
    if done.status_code != 303:
        raise RuntimeError(f"sign-in as {upn}: HTTP {done.status_code} {done.text[:200]}")
    me = client.get("/api/v1/me")
    me.raise_for_status()
    return Person(upn, client, me.json()["csrf_token"], code)


@dataclass
class Context:
    round_id: int
    bureau: str
    desk: Person
    leaders: list[Person]

    @property
    def code(self) -> str:
        return self.leaders[0].code

    def path(self, endpoint: Endpoint) -> str:
        return endpoint.path.format(round=self.round_id, code=self.code, bureau=self.bureau,
                                    item="{item}", id="{id}")

    def person(self, who: Who) -> Person | None:
        return {"desk": self.desk, "leader": self.leaders[0]}.get(who)

    def close(self) -> None:
        for person in (self.desk, *self.leaders):
            person.client.close()

    def save_targets(self) -> list[wrkrun.SaveTarget]:
        """Every answer of every signed-in leader's sheet, with its current version, interleaved by item
        (consecutive requests go to different 所属, so they rarely wait on one sheet's row lock)."""
        per_leader = []
        for leader in self.leaders:
            response = leader.client.get(f"/api/v1/rounds/{self.round_id}/sections/{leader.code}/sheet")
            response.raise_for_status()
            per_leader.append([
                wrkrun.SaveTarget(f"/api/v1/rounds/{self.round_id}/sections/{leader.code}/answers/{key}",
                                  leader.code, key, version, status, leader.cookie, leader.csrf)
                for key, version, status in answers_of(response.json())
            ])
        return [t for row in zip(*per_leader, strict=False) for t in row]


def discover(base: str, leaders: int) -> Context:
    desk = sign_in(base, DESK_UPN)
    rounds = desk.client.get("/api/v1/rounds")
    rounds.raise_for_status()
    round_id = newest_round(rounds.json())
    board = desk.client.get(f"/api/v1/rounds/{round_id}/submissions", params={"per_page": 1000})
    board.raise_for_status()
    bureau, pending = board_facts(board.json(), leaders)
    if not pending:
        raise RuntimeError("no 所属 without a submission: nothing to save into (rebuild the dataset)")
    people = [sign_in(base, upn, code) for code, upn in pending]
    return Context(round_id, bureau, desk, people)


# --- measuring -----------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    path: str
    connections: int
    requests: int = 0
    seconds: float = 0.0
    per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    ok: int = 0
    not_ok: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    server_cpu_ms_per_request: float = 0.0
    db_cpu_ms_per_request: float | None = None  # the PostgreSQL server (see CpuMeter)
    db_sessions_opened: int | None = None  # new PostgreSQL sessions during the run (connection churn)
    foreign_db_transactions: int | None = None  # others' transactions on the PostgreSQL server meanwhile
    client_cpu_ms_per_request: float = 0.0  # wrk itself
    machine_busy_percent: float = 0.0  # every core, every process
    server_cores: float = 0.0  # the server's CPU time ÷ wall time (2.0: two cores busy the whole run)
    process_cores: list[float] = field(default_factory=list)  # the same per process, busiest first
    others_cores: float = 0.0  # cores busy with anything but the server, its database backends and wrk
    bytes: int | None = None
    gzip_bytes: int | None = None  # as sent with Accept-Encoding: gzip
    gzip_encoded: bool = False  # did the server compress?
    gzip6_bytes: int | None = None  # gzip -6 of the body, computed here (what a compressing proxy would send)
    status_once: int | None = None  # the status of the single size-measuring request
    per_second_vs_healthz: float | None = None
    cpu_vs_healthz: float | None = None
    per_second_vs_peer: float | None = None
    cpu_vs_peer: float | None = None
    load_average: float = 0.0
    pool: int | None = None  # saves: answers in the pool
    latency_distribution: dict[str, float] = field(default_factory=dict)
    wrk_output: str = ""
    error: str | None = None  # why the endpoint could not be measured

    @property
    def failed(self) -> bool:
        if self.error is not None or self.ok == 0:
            return True
        return self.not_ok > MAX_FAILED_SHARE * self.requests


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of every core since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def one_request(base: str, method: str, path: str, headers: dict[str, str], body: bytes | None,
                accept: str) -> tuple[int, bytes, str]:
    """One request with http.client (nothing decompressed): status, raw body, Content-Encoding."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    try:
        conn.request(method, path, body=body, headers={**headers, "Accept-Encoding": accept})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Encoding", "")
    finally:
        conn.close()


def measure_sizes(row: Row, base: str, method: str, path: str, headers: dict[str, str],
                  body: Callable[[], bytes | None]) -> None:
    """Response size uncompressed and with Accept-Encoding: gzip (one request each)."""
    status, plain, _ = one_request(base, method, path, headers, body(), "identity")
    _, packed, encoding = one_request(base, method, path, headers, body(), "gzip")
    row.status_once, row.bytes, row.gzip_bytes = status, len(plain), len(packed)
    row.gzip_encoded = encoding == "gzip"
    row.gzip6_bytes = len(gzip.compress(plain, compresslevel=6))
    if not 200 <= status < 300:
        log(f"  ! {row.label}: HTTP {status}: {plain[:300].decode('utf-8', 'replace')}")


class Bench:
    """One run: the servers, who is signed in, and the rows measured so far."""

    def __init__(self, args: argparse.Namespace, app: Server, peer: Server | None, context: Context,
                 app_cpu: CpuMeter, peer_cpu: CpuMeter | None) -> None:
        self.args = args
        self.app, self.peer, self.context = app, peer, context
        self.app_cpu, self.peer_cpu = app_cpu, peer_cpu
        self.rows: list[Row] = []
        self.sized: dict[str, Row] = {}  # sizes are measured once per endpoint
        self.scripts = VAR / "lua"
        self.scripts.mkdir(parents=True, exist_ok=True)

    def threads_for(self, connections: int) -> int:
        return self.args.wrk_threads or (2 if connections >= 16 else 1)

    def measure(self, endpoint: Endpoint, connections: int) -> Row:
        """Measure one endpoint at one connection count. An error (a 500 while reading the sheets for the
        saves, wrk failing…) is recorded in the row, which then counts as failed, and the run goes on."""
        row = Row(endpoint.label, self.context.path(endpoint), connections)
        try:
            self._measure(row, endpoint, connections)
        except (RuntimeError, OSError, httpx.HTTPError, KeyError, ValueError) as exc:
            row.error = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300]
            log(f"    ERROR {row.error} (server logs: {self.app.log}"
                + (f", {self.peer.log})" if self.peer else ")"))
        self.rows.append(row)
        return row

    def _measure(self, row: Row, endpoint: Endpoint, connections: int) -> None:
        ctx = self.context
        path = row.path
        threads = self.threads_for(connections)
        nonce = secrets.token_hex(3)
        server, meter = self.app, self.app_cpu
        if endpoint.kind == "peer":
            assert self.peer is not None and self.peer_cpu is not None
            server, meter = self.peer, self.peer_cpu
            self._sizes(row, endpoint, lambda: measure_sizes(
                row, server.base, "PUT", "/items/1", {"Content-Type": "application/json"},
                lambda: json.dumps({"status": "○", "memo": f"size {secrets.token_hex(4)}"}).encode()))
            script, url = wrkrun.peer_script(PEER_ROWS, threads, nonce), server.base
            row.pool = PEER_ROWS
        elif endpoint.kind == "save":
            self._sizes(row, endpoint, lambda: self._save_sizes(row))
            targets = ctx.save_targets()  # versions read now, after the size requests changed one answer
            script, url, row.pool = wrkrun.save_script(targets, threads, nonce), server.base, len(targets)
        else:
            person = ctx.person(endpoint.who)
            cookie = person.cookie if person else None
            self._sizes(row, endpoint, lambda: measure_sizes(
                row, server.base, "GET", path, {"Cookie": cookie} if cookie else {}, lambda: None))
            self._warm_up(server.base, path, cookie)
            script, url = wrkrun.get_script(cookie), server.base + path

        log(f"  {endpoint.label} @ {connections} connections…")
        busy_before, before, client_before = machine_busy(), meter.snapshot(), _children_cpu_ms()
        wall_started = time.monotonic()
        result = wrkrun.run_wrk(url, script, connections=connections, threads=threads,
                                seconds=self.args.duration, script_path=self.scripts / f"{_slug(endpoint.label)}.lua",
                                timeout_s=self.args.timeout)
        after, busy_after, client_after = meter.snapshot(), machine_busy(), _children_cpu_ms()
        wall_ms = (time.monotonic() - wall_started) * 1000

        requests = max(1, result.requests)
        row.requests, row.seconds, row.per_second = result.requests, result.seconds, result.per_second
        row.p50_ms, row.p99_ms = result.p50_ms, result.p99_ms
        row.ok, row.not_ok, row.codes, row.socket_errors = result.ok, result.not_ok, result.codes, result.socket_errors
        row.latency_distribution, row.wrk_output = result.latency_text, result.output
        server_ms = (after.server_ticks - before.server_ticks) * TICK_MS
        db_ms = (after.db_ticks - before.db_ticks) * TICK_MS
        row.server_cpu_ms_per_request = server_ms / requests
        if meter.postmaster is not None:
            row.db_cpu_ms_per_request = db_ms / requests
        if meter.monitor is not None:
            row.db_sessions_opened = after.db_sessions - before.db_sessions
            row.foreign_db_transactions = after.foreign_transactions - before.foreign_transactions
        row.client_cpu_ms_per_request = (client_after - client_before) / requests
        busy, total = busy_after[0] - busy_before[0], busy_after[1] - busy_before[1]
        row.machine_busy_percent = 100 * busy / total if total else 0.0
        row.server_cores = server_ms / wall_ms
        row.process_cores = sorted(((t - before.per_process.get(pid, 0)) * TICK_MS / wall_ms
                                    for pid, t in after.per_process.items()), reverse=True)
        machine_cores = row.machine_busy_percent / 100 * (os.cpu_count() or 1)
        row.others_cores = max(0.0, machine_cores - (server_ms + db_ms + client_after - client_before) / wall_ms)
        row.load_average = os.getloadavg()[0]
        flag = "  <-- FAILED" if row.failed else ""
        log(f"    {row.per_second:.1f} req/s, p50 {row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms, "
            f"CPU {row.server_cpu_ms_per_request:.2f} ms/req, non-2xx {row.not_ok} {dict(row.codes)}{flag}")

    def _sizes(self, row: Row, endpoint: Endpoint, measure: Callable[[], None]) -> None:
        """Response sizes: measured by ``measure`` the first time, copied from that row afterwards."""
        known = self.sized.get(endpoint.label)
        if known is None:
            measure()
            self.sized[endpoint.label] = row
        else:
            row.bytes, row.gzip_bytes, row.gzip_encoded = known.bytes, known.gzip_bytes, known.gzip_encoded
            row.gzip6_bytes, row.status_once = known.gzip6_bytes, known.status_once

    def _save_sizes(self, row: Row) -> None:
        """Two real saves of the first answer of the pool (uncompressed, then with gzip accepted)."""
        first = self.context.save_targets()[0]
        headers = {"Cookie": first.cookie, "X-CSRF-Token": first.csrf, "Content-Type": "application/json"}
        versions = iter(range(first.version, first.version + 2))
        measure_sizes(row, self.app.base, "PUT", first.path, headers, lambda: json.dumps(
            {"status": "○", "memo": f"b:{first.code}:size-{secrets.token_hex(4)}",
             "version": next(versions)}).encode())

    def _warm_up(self, base: str, path: str, cookie: str | None) -> None:
        """A few requests first, so that no worker measures its first (template compiling) request."""
        for _ in range(self.args.warmup):
            one_request(base, "GET", path, {"Cookie": cookie} if cookie else {}, None, "identity")


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower() or "endpoint"


def plan(endpoints: list[Endpoint], connections: list[int], page_connections: int) -> list[tuple[Endpoint, int]]:
    """(endpoint, connections) in the order of measurement: by connection count, then as in ENDPOINTS, so
    that each figure sits close in time to the /healthz it is compared with."""
    steps = []
    for count in sorted({*connections, page_connections}):
        for endpoint in endpoints:
            if endpoint.under_load and count in connections:
                steps.append((endpoint, count))
            elif count == page_connections and (not endpoint.under_load or endpoint.label == "/healthz"):
                steps.append((endpoint, count))  # the pages, and the /healthz they are compared with
    return steps


def ratios(rows: list[Row]) -> None:
    """Each row against /healthz at the same connection count, and saves against the peer's PUT."""
    healthz = {r.connections: r for r in rows if r.label == "/healthz"}
    peer = {r.connections: r for r in rows if r.label.startswith("peer ")}
    for row in rows:
        base = healthz.get(row.connections)
        if base and base.per_second:
            row.per_second_vs_healthz = row.per_second / base.per_second
        if base and _total_cpu(base):
            row.cpu_vs_healthz = _total_cpu(row) / _total_cpu(base)
        other = peer.get(row.connections)
        if row.label.startswith("save ") and other and other.per_second:
            row.per_second_vs_peer = row.per_second / other.per_second
            if _total_cpu(other):
                row.cpu_vs_peer = _total_cpu(row) / _total_cpu(other)


def _total_cpu(row: Row) -> float:
    return row.server_cpu_ms_per_request + (row.db_cpu_ms_per_request or 0.0)


# --- the report ----------------------------------------------------------------------------------------


def machine_info(pg_url: str) -> dict:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    info: dict = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                  "platform": platform.platform(), "sqlite": sqlite3.sqlite_version}
    try:
        engine = create_engine(pg_url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            info["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 (only informative)
        info["postgresql"] = f"not reachable ({exc.__class__.__name__})"
    info["git"] = _git_commit()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    info["wrk"] = (wrk.stdout + wrk.stderr).splitlines()[0] if (wrk.stdout + wrk.stderr) else ""
    return info


def _git_commit() -> str:
    """The commit, with "+ uncommitted changes" when the working tree differs (read-only git commands)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,  # noqa: S607
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,  # noqa: S607
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


def _n(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _cores(row: Row) -> str:
    """Server cores used, and how they were shared by the two busiest processes (e.g. 1.0 = 1.0 + 0.0)."""
    busiest = row.process_cores[:2]
    split = " + ".join(f"{c:.1f}" for c in busiest)
    return f"{row.server_cores:.1f}" + (f" = {split}" if len(busiest) > 1 else "")


def markdown(rows: list[Row], summary: dict) -> str:
    postgres = summary["database"] == "postgres"
    lines = [
        f"Dataset **{summary['dataset']}** on **{summary['database']}**, {summary['workers']} app/peer worker(s), "
        f"wrk {summary['duration_s']:g} s per row; round {summary['round_id']}, 所属 {summary['code']}, "
        f"largest 部局 {summary['bureau']}, {summary['leaders']} leaders signed in for the saves.",
        "",
        "| endpoint | conns | req/s | p50 ms | p99 ms | server CPU ms/req | "
        + ("DB CPU ms/req | new DB sessions | " if postgres else "")
        + "req/s ÷ /healthz | req/s ÷ peer | bytes | gzip bytes | non-2xx | server cores | other load |",
        "|---|--:|--:|--:|--:|--:|" + ("--:|--:|" if postgres else "") + "--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        gz = f"{r.gzip_bytes:,}" if r.gzip_encoded and r.gzip_bytes is not None else (
            f"({r.gzip6_bytes:,})" if r.gzip6_bytes is not None else "–")
        cells = [r.label, str(r.connections), _n(r.per_second, 0 if r.per_second >= 100 else 1),
                 _n(r.p50_ms), _n(r.p99_ms), _n(r.server_cpu_ms_per_request, 2)]
        if postgres:
            cells.append(_n(r.db_cpu_ms_per_request, 2) + ("*" if r.foreign_db_transactions else ""))
            cells.append("–" if r.db_sessions_opened is None else f"{r.db_sessions_opened:,}")
        cells += [_ratio(r.per_second_vs_healthz), _ratio(r.per_second_vs_peer),
                  "–" if r.bytes is None else f"{r.bytes:,}", gz,
                  f"error: {r.error}" if r.error else f"{r.not_ok:,} of {r.requests:,}" + (" ⚠" if r.failed else ""),
                  _cores(r), f"{r.others_cores:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    m = summary["machine"]
    lines += [
        "",
        "gzip bytes in parentheses: the server sent the body uncompressed; the figure is gzip -6 of it (what a "
        "compressing reverse proxy would send). CPU ms/req: utime + stime of the server's process tree "
        + ("(DB: of the whole PostgreSQL server; * where other databases had transactions meanwhile, so the "
           "figure is an upper bound; new DB sessions: connections opened to the database during the run) "
           if postgres else "")
        + "during the wrk run, divided by the requests completed. Other load: cores busy with other processes "
        "than the server, its database and wrk during the run (out of "
        f"{summary['machine']['cores']}): where it is high, req/s and latency are low for that reason. Server "
        "cores: the server's CPU time ÷ wall time, and its two busiest processes: uvicorn's workers share one "
        "listening socket and one may accept every keep-alive connection of a run (then req/s is one core's "
        "worth, whatever the worker count; CPU ms/req is not affected).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; load average {summary['load_before']:.2f} before, "
        f"{summary['load_after']:.2f} after; Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
        f"{m['postgresql']}; {m['wrk']}; git {m['git']}; {summary['started_at']}, {summary['elapsed_s']:.0f} s.",
    ]
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the finally blocks that stop the servers


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    """Stop every server in ``servers`` (appended to while starting) on the way out, whatever happens."""
    try:
        yield servers
    finally:
        for server in reversed(servers):
            stop_server(server)
            log(f"stopped {server.name}")


def selected(pattern: str | None) -> list[Endpoint]:
    """The endpoints matching ``--only`` (a case-insensitive regular expression on label or path);
    /healthz always (every ratio needs it), and the peer whenever a save is measured."""
    if not pattern:
        return list(ENDPOINTS)
    wanted = re.compile(pattern, re.IGNORECASE)
    chosen = [e for e in ENDPOINTS if e.label == "/healthz" or wanted.search(e.label) or wanted.search(e.path)]
    if any(e.kind == "save" for e in chosen):
        chosen += [e for e in ENDPOINTS if e.kind == "peer" and e not in chosen]
    return [e for e in ENDPOINTS if e in chosen]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("PAPERLESS_TEST_POSTGRES_URL", DEFAULT_PG),
                        help="a PostgreSQL server URL; databases bench_http_* are created there")
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="small")
    parser.add_argument("--rebuild", action="store_true", help="drop the dataset and build it again")
    parser.add_argument("--name", default="http",
                        help="the app database's name: var/bench/<name>-<dataset>.db or bench_<name>_<dataset> "
                        "(default http; another name keeps a branch with its own migrations apart)")
    parser.add_argument("--workers", type=int, help="uvicorn workers of the app and of the peer (default 2 on "
                        "PostgreSQL; 1 on SQLite, the only number `paperless serve` allows there)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", default="4,32",
                        help="connection counts for /healthz, the saves and the peer (default 4,32)")
    parser.add_argument("--page-connections", type=int, default=4,
                        help="connections for the pages and JSON figures (default 4)")
    parser.add_argument("--leaders", type=int, default=32,
                        help="leaders of unsubmitted 所属 whose answers the saves write (default 32)")
    parser.add_argument("--wrk-threads", type=int, default=0, help="wrk threads (default: 1, or 2 from 16 connections)")
    parser.add_argument("--timeout", type=float, default=60, help="wrk's per-request timeout in seconds")
    parser.add_argument("--warmup", type=int, default=2, help="GET requests before each endpoint's first run")
    parser.add_argument("--only", metavar="PATTERN", help="only endpoints whose label or path matches (regex)")
    parser.add_argument("--json", dest="json_path", type=Path, help="write every figure here as JSON")
    parser.add_argument("--check", action="store_true",
                        help="quick check after API changes: small dataset, every endpoint 2 s at 1 connection")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = 1 if args.db == "sqlite" else 2
    args.connections = sorted({int(c) for c in str(args.connections).split(",") if c.strip()})
    if args.check:
        args.dataset, args.duration, args.connections, args.page_connections = "small", 2, [1], 1
    return args


def measure_all(args: argparse.Namespace, endpoints: list[Endpoint], app_url: str, peer_url: str | None,
                secret: str) -> tuple[list[Row], Context]:
    """Start the servers, sign in, measure every planned (endpoint, connections); stop the servers."""
    # On PostgreSQL, one monitoring connection per measured database (for pg_stat_database).
    monitors = {url: create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
                for url in (app_url, peer_url) if url and args.db == "postgres"}
    with running([]) as servers:
        try:
            port = free_port()
            app = start_server("app", [str(PAPERLESS), "serve", "--host", "127.0.0.1", "--port", str(port),
                                       "--workers", str(args.workers)],
                               app_env(app_url, secret), port, VAR / f"http-app-{args.db}.log", servers)
            peer = None
            if peer_url:
                port = free_port()
                peer = start_server("peer", [sys.executable, str(PEER), "serve", "--url", peer_url, "--port",
                                             str(port), "--workers", str(args.workers)],
                                    dict(os.environ), port, VAR / f"http-peer-{args.db}.log", servers)
            log(f"app {app.base} (log {app.log}), peer {peer.base if peer else '–'}; signing in…")
            context = discover(app.base, args.leaders)
            log(f"round {context.round_id}, 所属 {context.code}, largest 部局 {context.bureau}, "
                f"{len(context.leaders)} leaders")
            bench = Bench(args, app, peer, context, CpuMeter(app, monitors.get(app_url)),
                          CpuMeter(peer, monitors.get(peer_url or "")) if peer else None)
            for endpoint, connections in plan(endpoints, args.connections, args.page_connections):
                bench.measure(endpoint, connections)
            context.close()
            return bench.rows, context
        finally:
            for monitor in monitors.values():
                monitor.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True, check=False).returncode:  # noqa: S607
        log("wrk is missing: run scripts/ensure-wrk.sh (Debian's wrk package)")
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started with SIGINT ignored
    started_at, started = datetime.now(UTC), time.monotonic()
    load_before = os.getloadavg()[0]
    secret = secrets.token_urlsafe(48)
    endpoints = selected(args.only)
    try:
        app_url, built_s = prepare_app_database(args.db, args.dataset, args.pg_url, args.rebuild, secret,
                                                  name=args.name)
        peer_url = prepare_peer_database(args.db, args.pg_url) if any(e.kind == "peer" for e in endpoints) else None
        rows, context = measure_all(args, endpoints, app_url, peer_url, secret)
    except (RuntimeError, httpx.HTTPError, subprocess.CalledProcessError) as exc:
        log(f"setup failed: {exc}\n(server logs: {VAR}/http-*-{args.db}.log; after a schema change without a "
            "new migration, try --rebuild)")
        return 2
    ratios(rows)
    summary = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "started_at": started_at.isoformat(timespec="seconds"),
        "elapsed_s": time.monotonic() - started,
        "database": args.db, "dataset": args.dataset, "dataset_build_s": built_s, "workers": args.workers,
        "duration_s": args.duration, "connections": args.connections, "page_connections": args.page_connections,
        "round_id": context.round_id, "code": context.code, "bureau": context.bureau,
        "leaders": len(context.leaders), "load_before": load_before, "load_after": os.getloadavg()[0],
        "machine": machine_info(args.pg_url),
    }
    print(markdown(rows, summary))
    if args.json_path:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps({**summary, "rows": [asdict(r) for r in rows]}, ensure_ascii=False,
                                             indent=2), encoding="utf-8")
        log(f"wrote {args.json_path}")
    failed = [r for r in rows if r.failed]
    for r in failed:
        log(f"FAILED: {r.label} @ {r.connections}: "
            + (r.error or f"{r.not_ok} of {r.requests} outside 2xx {dict(r.codes)}"))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: servers stopped")
        sys.exit(130)
