"""Deadline-day load: 400 people of 200 所属 sign in and save answers; then check that nothing was lost.

Run by hand (not in CI), from the project root::

    .venv/bin/python bench/load.py --db sqlite                 # 5 minutes on SQLite (var/bench/hold_load.db)
    .venv/bin/python bench/load.py --db postgres --duration 60 # 1 minute on PostgreSQL (database hold_load)
    .venv/bin/python bench/load.py --db postgres --servers 2 --workers 2   # two servers on one database

The script prepares a fresh database (``paperless migrate`` + ``paperless demo --sections 200``), starts
the server the way ``make run`` does (``paperless serve``, development sign-in) with ``--workers`` processes
(``--servers`` such servers on one database, as behind a load balancer: people are spread over them in
turn), and then:

1. signs every person in (GET /auth/login → POST /auth/dev-login → GET /api/v1/me for the CSRF token)
   and reads their sheet;
2. lets each person save answers for ``--duration`` seconds, pausing ``--think`` seconds on average
   between saves (exponentially distributed). A 409 (someone else saved first) is handled as the page
   does: take the version from the 409 body and save again. Every save sends a memo that is unique to
   that attempt, so each acknowledged (200) save can be found again in the database;
3. measures the server's capacity for saves and for ``/healthz`` with ``--capacity-clients`` clients that
   send back-to-back for ``--capacity-seconds`` each, and reports the ratio;
4. on PostgreSQL, samples the number of connections to the database every half second (the peak must
   stay within ``max_connections``, and with the default pool of 5 per worker it is at most
   servers × workers × 5, plus the sampler's own);
5. stops the server and compares the database with what the clients were told: for every answer, the
   final memo/status/version must be the last acknowledged save, the version must have grown by exactly the
   number of acknowledged saves, and the history must hold exactly one event per acknowledged save.

Exit status 0 when there was no error and no lost or duplicated write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
PAPERLESS = ROOT / ".venv" / "bin" / "paperless"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
STATUSES = ("◎", "○", "△", "×")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Ack:
    version: int
    status: str
    memo: str


@dataclass
class Stats:
    save_latencies: list[float] = field(default_factory=list)
    requests: int = 0
    saves_ok: int = 0
    conflicts: int = 0
    errors: Counter = field(default_factory=Counter)
    acks: dict[tuple[str, str], list[Ack]] = field(default_factory=lambda: defaultdict(list))

    def error(self, what: str) -> None:
        self.errors[what] += 1


@dataclass
class Person:
    upn: str
    code: str
    client: httpx.AsyncClient
    csrf: str = ""
    versions: dict[str, int] = field(default_factory=dict)
    seq: int = 0


# --- the server ---------------------------------------------------------------------------------------


def free_port(preferred: range = range(8601, 8621)) -> int:
    for port in preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 8601–8620")


def prepare_database(db: str, pg_url: str, sections: int) -> str:
    """A fresh database with the 200-所属 demo; returns its URL."""
    if db == "sqlite":
        path = ROOT / "var" / "bench" / "hold_load.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "hold_load" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "hold_load"'))
        admin.dispose()
        url = make_url(pg_url).set(database="hold_load").render_as_string(hide_password=False)
    env = server_env(url)
    quiet = {"env": env, "check": True, "cwd": ROOT, "stdout": subprocess.DEVNULL}
    subprocess.run([str(PAPERLESS), "migrate"], **quiet)  # noqa: S603 (our own command)
    subprocess.run([str(PAPERLESS), "demo", "--sections", str(sections)],  # noqa: S603 (our own command)
                   stderr=subprocess.DEVNULL, **quiet)
    return url


def drop_database(db: str, pg_url: str) -> None:
    if db == "postgres":
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "hold_load" WITH (FORCE)'))
        admin.dispose()


def server_env(url: str) -> dict[str, str]:
    return {**os.environ, "PAPERLESS_ENV": "development", "PAPERLESS_AUTH": "dev",
            "PAPERLESS_DATABASE_URL": url}


def start_server(url: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    proc = subprocess.Popen(  # noqa: S603 (our own command)
        [str(PAPERLESS), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=server_env(url), cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped at start; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not answer /healthz within 60 s; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- the people --------------------------------------------------------------------------------------


def people_of(url: str, count: int) -> tuple[int, list[tuple[str, str]]]:
    """The open round and ``count`` demo people (leader and member of each 所属, in 所属 order)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        round_id = conn.execute(text("SELECT id FROM round WHERE state = 'open' ORDER BY id DESC")).scalar()
        rows = conn.execute(text(
            "SELECT u.upn, unit.code FROM membership m JOIN \"user\" u ON u.id = m.user_id "
            "JOIN unit ON unit.id = m.unit_id ORDER BY unit.id, m.role"
        )).all()
    engine.dispose()
    if len(rows) < count:
        raise SystemExit(f"only {len(rows)} demo people; ask for fewer or more --sections")
    return round_id, [(r[0], r[1]) for r in rows[:count]]


async def sign_in(person: Person, round_id: int, stats: Stats) -> bool:
    try:
        page = await person.client.get("/auth/login")
        token = CSRF_INPUT.search(page.text)
        if page.status_code != 200 or token is None:
            stats.error(f"login page {page.status_code}")
            return False
        form = {"upn": person.upn, "csrf_token": token.group(1)}
        done = await person.client.post("/auth/dev-login", data=form)
        if done.status_code != 303:
            stats.error(f"dev-login {done.status_code}")
            return False
        me = await person.client.get("/api/v1/me")
        sheet = await person.client.get(f"/api/v1/rounds/{round_id}/sections/{person.code}/sheet")
        stats.requests += 4
        if me.status_code != 200 or sheet.status_code != 200:
            stats.error(f"me/sheet {me.status_code}/{sheet.status_code}")
            return False
        person.csrf = me.json()["csrf_token"]
        person.versions = {i["item_key"]: i["answer"]["version"] for i in sheet.json()["items"]}
        if sheet.json()["can_reopen"]:
            # Part of the demo's 所属 have submitted already; their leader reopens the sheet so that
            # every simulated person has something to save (as a leader does to correct a sheet).
            reopened = await person.client.post(f"/api/v1/rounds/{round_id}/sections/{person.code}/reopen",
                                                headers={"X-CSRF-Token": person.csrf})
            stats.requests += 1
            if reopened.status_code != 200:
                stats.error(f"reopen {reopened.status_code}")
                return False
        return True
    except httpx.HTTPError as exc:
        stats.error(f"sign-in {exc.__class__.__name__}")
        return False


async def save_once(person: Person, round_id: int, key: str, stats: Stats, rng: random.Random,
                    record: bool = True) -> bool:
    """One save as a person makes it: on 409, take the current version and save again (at most 10 times).
    True when the save was acknowledged."""
    for _attempt in range(10):
        person.seq += 1
        status = rng.choice(STATUSES)
        memo = f"{person.upn.split('@')[0]} #{person.seq}"
        url = f"/api/v1/rounds/{round_id}/sections/{person.code}/answers/{key}"
        started = time.perf_counter()
        try:
            response = await person.client.put(url, json={"status": status, "memo": memo,
                                                          "version": person.versions[key]},
                                                headers={"X-CSRF-Token": person.csrf})
        except httpx.HTTPError as exc:
            stats.error(f"save {exc.__class__.__name__}")
            return False
        elapsed = time.perf_counter() - started
        stats.requests += 1
        if record:
            stats.save_latencies.append(elapsed)
        if response.status_code == 200:
            body = response.json()
            person.versions[key] = body["version"]
            stats.saves_ok += 1
            stats.acks[(person.code, key)].append(Ack(body["version"], body["status"], body["memo"]))
            return True
        if response.status_code == 409:
            stats.conflicts += 1
            person.versions[key] = response.json()["current"]["version"]
            continue
        stats.error(f"save {response.status_code}")
        return False
    stats.error("save: 10 conflicts in a row")
    return False


async def paced_person(person: Person, round_id: int, until: float, think: float, stats: Stats,
                       rng: random.Random) -> None:
    keys = list(person.versions)
    await asyncio.sleep(rng.uniform(0, think * 2))  # people do not all start at the same second
    while time.monotonic() < until:
        await save_once(person, round_id, rng.choice(keys), stats, rng)
        pause = rng.expovariate(1 / think) if think > 0 else 0
        await asyncio.sleep(max(0.0, min(pause, until - time.monotonic())))


async def back_to_back(people: list[Person], round_id: int, seconds: float, stats: Stats,
                       rng: random.Random) -> tuple[int, float]:
    """Saves sent as fast as the server answers, one in flight per person; returns (saves, seconds)."""
    until = time.monotonic() + seconds
    count = 0

    async def worker(person: Person) -> None:
        nonlocal count
        keys = list(person.versions)
        while time.monotonic() < until:
            if await save_once(person, round_id, rng.choice(keys), stats, rng, record=False):
                count += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(p) for p in people))
    return count, time.monotonic() - started


async def healthz_back_to_back(base: str, clients: int, seconds: float, stats: Stats) -> tuple[int, float]:
    until = time.monotonic() + seconds
    count = 0

    async def worker() -> None:
        nonlocal count
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.monotonic() < until:
                try:
                    response = await client.get("/healthz")
                except httpx.HTTPError as exc:
                    stats.error(f"healthz {exc.__class__.__name__}")
                    continue
                if response.status_code == 200:
                    count += 1
                else:
                    stats.error(f"healthz {response.status_code}")

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return count, time.monotonic() - started


# --- checking the database ------------------------------------------------------------------------------


def verify(url: str, round_id: int, before: dict, stats: Stats) -> dict[str, int]:
    """Compare the database with the acknowledged saves. Returns counts of each kind of mismatch."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT unit.code, a.item_key, a.status, a.memo, a.version, a.id, s.id FROM answer a "
            "JOIN sheet s ON s.id = a.sheet_id JOIN unit ON unit.id = s.unit_id WHERE s.round_id = :r"
        ), {"r": round_id}).all()
        events = conn.execute(text(
            "SELECT unit.code, e.item_key, e.new_memo FROM sheet_event e JOIN sheet s ON s.id = e.sheet_id "
            "JOIN unit ON unit.id = s.unit_id "
            "WHERE s.round_id = :r AND e.kind = 'answer' AND e.source = 'api'"
        ), {"r": round_id}).all()
    engine.dispose()
    memos_in_history: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for code, key, memo in events:
        memos_in_history[(code, key)][memo] += 1
    problems = Counter()
    for code, key, status, memo, version, _aid, _sid in rows:
        acks = stats.acks.get((code, key), [])
        start_version = before[(code, key)]
        if not acks:
            if version != start_version:
                problems["changed without an acknowledged save"] += 1
            continue
        last = max(acks, key=lambda a: a.version)
        if (status, memo, version) != (last.status, last.memo, last.version):
            problems["final value is not the last acknowledged save (lost write)"] += 1
        if version - start_version != len(acks):
            problems["version grew by more or less than the acknowledged saves"] += 1
        if len({a.version for a in acks}) != len(acks):
            problems["two saves acknowledged with the same version"] += 1
        history = memos_in_history.get((code, key), Counter())
        acked_memos = Counter(a.memo for a in acks)
        if history != acked_memos:
            missing = sum((acked_memos - history).values())
            extra = sum((history - acked_memos).values())
            if missing:
                problems["acknowledged save missing from history"] += missing
            if extra:
                problems["history event without an acknowledged save (duplicate)"] += extra
    return dict(problems)


def versions_now(url: str, round_id: int) -> dict[tuple[str, str], int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT unit.code, a.item_key, a.version FROM answer a JOIN sheet s ON s.id = a.sheet_id "
            "JOIN unit ON unit.id = s.unit_id WHERE s.round_id = :r"
        ), {"r": round_id}).all()
    engine.dispose()
    return {(c, k): v for c, k, v in rows}


# --- the run ------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def peak_connections(url: str, stop: asyncio.Event) -> int:
    """The most connections to the database seen at once (PostgreSQL), sampled every half second."""
    engine = create_engine(url, poolclass=NullPool)
    peak = 0
    database = make_url(url).database
    try:
        while not stop.is_set():
            def sample() -> int:
                with engine.connect() as conn:
                    return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                                        {"d": database}).scalar_one()
            peak = max(peak, await asyncio.to_thread(sample))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        engine.dispose()
    return peak


async def run(args: argparse.Namespace, url: str, bases: list[str]) -> dict:
    rng = random.Random(args.seed)
    round_id, people_rows = people_of(url, args.people)
    before = versions_now(url, round_id)
    stats = Stats()
    # One connection per person, dropped by the client after 4 s idle: before uvicorn's 5 s keep-alive
    # timeout closes it, so that no request is written into a connection the server is closing.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=4.0)
    people = [Person(upn, code, httpx.AsyncClient(base_url=bases[n % len(bases)], timeout=30, limits=limits))
              for n, (upn, code) in enumerate(people_rows)]
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(peak_connections(url, stop_sampling)) if args.db == "postgres" else None
    try:
        started = time.monotonic()
        gate = asyncio.Semaphore(args.sign_in_concurrency)  # people arrive over a minute, not all at once

        async def arrive(person: Person) -> bool:
            async with gate:
                return await sign_in(person, round_id, stats)

        signed = await asyncio.gather(*(arrive(p) for p in people))
        sign_in_seconds = time.monotonic() - started
        people = [p for p, ok in zip(people, signed, strict=True) if ok]
        print(f"signed in {len(people)} people in {sign_in_seconds:.1f} s", file=sys.stderr)

        stats.requests = 0
        load_before = os.getloadavg()
        started = time.monotonic()
        until = started + args.duration
        await asyncio.gather(*(paced_person(p, round_id, until, args.think, stats, rng) for p in people))
        paced_seconds = time.monotonic() - started
        paced_requests = stats.requests
        load_after = os.getloadavg()
        print(f"paced phase: {stats.saves_ok} saves in {paced_seconds:.0f} s", file=sys.stderr)

        capacity_people = people[: args.capacity_clients]
        saves, save_seconds = await back_to_back(capacity_people, round_id, args.capacity_seconds, stats, rng)
        hits, health_seconds = await healthz_back_to_back(bases[0], args.capacity_clients, args.capacity_seconds,
                                                          stats)
    finally:
        await asyncio.gather(*(p.client.aclose() for p in people))
        stop_sampling.set()
        peak = await sampler if sampler is not None else None
    lat = stats.save_latencies
    return {
        "round_id": round_id,
        "before": before,
        "stats": stats,
        "people": len(people),
        "sections": len({p.code for p in people}),
        "sign_in_seconds": round(sign_in_seconds, 1),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "paced_seconds": round(paced_seconds, 1),
        "paced_requests_per_second": round(paced_requests / paced_seconds, 1),
        "paced_saves": len(lat),
        "save_median_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "save_p99_ms": round(percentile(lat, 0.99) * 1000, 1) if lat else None,
        "save_max_ms": round(max(lat) * 1000, 1) if lat else None,
        "capacity_saves_per_second": round(saves / save_seconds, 1),
        "capacity_healthz_per_second": round(hits / health_seconds, 1),
        "peak_database_connections": peak,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("PAPERLESS_TEST_POSTGRES_URL", DEFAULT_PG),
                        help="a PostgreSQL server URL (the database hold_load is created there and dropped)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of paced saving (default 300)")
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--sections", type=int, default=200)
    parser.add_argument("--think", type=float, default=30.0,
                        help="mean seconds a person pauses between saves (exponential; default 30: all 400 "
                             "people filling in at once, each choosing a status or finishing a memo every "
                             "30 s; 10 is the stress setting of docs/benchmarks.md)")
    parser.add_argument("--workers", type=int,
                        help="server processes (default 2 on PostgreSQL, one per core; 1 on SQLite, the only "
                             "number `paperless serve` allows there)")
    parser.add_argument("--servers", type=int, default=1,
                        help="server processes started side by side on the one database (default 1)")
    parser.add_argument("--sign-in-concurrency", type=int, default=20,
                        help="people signing in at the same time")
    parser.add_argument("--capacity-clients", type=int, default=32)
    parser.add_argument("--capacity-seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 1 if args.db == "sqlite" else 2

    url = prepare_database(args.db, args.pg_url, args.sections)
    servers, bases = [], []
    try:
        for n in range(args.servers):
            port = free_port()
            log = ROOT / "var" / "bench" / f"server-{args.db}-{n + 1}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            servers.append(start_server(url, port, args.workers, log))
            bases.append(f"http://127.0.0.1:{port}")
        result = asyncio.run(run(args, url, bases))
    finally:
        for server in servers:
            stop_server(server)
    stats: Stats = result.pop("stats")
    problems = verify(url, result.pop("round_id"), result.pop("before"), stats)
    if not args.keep:
        drop_database(args.db, args.pg_url)
    report = {
        "database": args.db,
        "servers": args.servers,
        "workers": args.workers,
        "duration_s": args.duration,
        "think_s": args.think,
        **result,
        "acknowledged_saves": stats.saves_ok,
        "conflicts_409": stats.conflicts,
        "errors": sum(stats.errors.values()),
        "error_kinds": dict(stats.errors),
        "answers_checked": len(stats.acks),
        "lost_or_duplicated": problems,
        "save_to_healthz_ratio": round(
            result["capacity_saves_per_second"] / result["capacity_healthz_per_second"], 3),
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    ok = report["errors"] == 0 and not problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
