"""Benchmark of the desk's figures at prefecture scale (not a test: nothing here asserts a time).

Builds (or reuses) a database of 3,000 所属 × 40 items × 20 rounds = 2.4 million answers and 36 months
of measured figures per 所属 (about 800,000 values) with ``paperless demo``, starts the app server on
it, signs in as the desk and as one DX推進リーダー, and measures each page and JSON figure over repeated
requests, beside the same server's ``/healthz`` in the same run. Requests go round-robin over the
endpoints, so drift on a shared machine hits them alike; the ratio to ``/healthz`` is the figure to quote.

    .venv/bin/python bench/reports.py --backend both --requests 30
    .venv/bin/python bench/reports.py --backend sqlite --sqlite-path /tmp/bench.db --port 8201
    .venv/bin/python bench/reports.py --backend postgres \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres --postgres-db paperless_bench

Times are measured by the client over the loopback interface (request sent → response read).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
PAPERLESS = [sys.executable, "-m", "app.cli"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    who: str = "desk"  # desk or leader
    times: list[float] = field(default_factory=list)
    size: int = 0


# --- the dataset -----------------------------------------------------------------------------------


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "PAPERLESS_DATABASE_URL": url, "PAPERLESS_ENV": "development",
            "PAPERLESS_AUTH": "dev"}


def _answers(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM answer")).scalar_one()
    except Exception:  # noqa: BLE001 (no table yet: not built)
        return 0
    finally:
        engine.dispose()


def build(url: str, args) -> float | None:
    """Migrate, and fill with ``paperless demo`` unless the database already has answers.
    Returns the generator's wall time, or None when the data was reused."""
    subprocess.run([*PAPERLESS, "migrate"], cwd=ROOT, env=_env(url), check=True)  # noqa: S603
    existing = _answers(url)
    if existing:
        print(f"  reusing {existing:,} answers", flush=True)
        return None
    command = [*PAPERLESS, "demo", "--sections", str(args.sections), "--rounds", str(args.rounds),
               "--items", str(args.items), "--seed", str(args.seed), "--no-history", "--figure-months", "36"]
    print("  " + " ".join(command[2:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=_env(url), check=True)  # noqa: S603
    return time.perf_counter() - started


def sqlite_url(args) -> str:
    path = Path(args.sqlite_path)
    if args.rebuild:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def postgres_url(args) -> str:
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = args.postgres_db
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists and args.rebuild:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = None
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, log: Path) -> subprocess.Popen:
    out = log.open("w")
    command = [*PAPERLESS, "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=_env(url),  # noqa: S603
                              stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped; see {log}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise SystemExit(f"the server did not answer /healthz; see {log}")


def sign_in(base: str, upn: str) -> tuple[requests.Session, str]:
    s = requests.Session()
    page = s.get(f"{base}/auth/login", timeout=120)
    token = CSRF.search(page.text).group(1)
    response = s.post(f"{base}/auth/dev-login", data={"upn": upn, "csrf_token": token}, allow_redirects=False,
                      timeout=60)
    if response.status_code != 303:
        raise SystemExit(f"sign-in as {upn} failed: {response.status_code}")
    return s, s.get(f"{base}/api/v1/me", timeout=30).json()["csrf_token"]


# --- measuring -------------------------------------------------------------------------------------


def endpoints(base: str, desk: requests.Session) -> tuple[list[Endpoint], str, str, int]:
    rounds = desk.get(f"{base}/api/v1/rounds", timeout=60).json()
    rid = next(r["id"] for r in rounds if r["current"])
    board = desk.get(f"{base}/api/v1/rounds/{rid}/submissions?per_page=1", timeout=120).json()
    bureau = max(board["bureaus"], key=lambda b: b["sections"])["bureau"]["code"]
    code = board["pending"][0]["section"]["code"]
    r = f"?round={rid}"
    api = f"/api/v1/rounds/{rid}"
    found = [
        Endpoint("/healthz (baseline)", "GET", "/healthz"),
        Endpoint("submission board page", "GET", f"/desk/board{r}"),
        Endpoint("heatmap page, prefecture (100 rows)", "GET", f"/desk/heatmap{r}"),
        Endpoint("heatmap page, largest 部局, by score", "GET", f"/desk/heatmap{r}&bureau={bureau}&sort=asc"),
        Endpoint("weak items page, prefecture", "GET", f"/desk/weak-items{r}"),
        Endpoint("weak items page, largest 部局", "GET", f"/desk/weak-items{r}&bureau={bureau}"),
        Endpoint("quick wins page", "GET", f"/desk/quick-wins{r}"),
        Endpoint("distribution page", "GET", f"/desk/distribution{r}"),
        Endpoint("submissions JSON", "GET", f"{api}/submissions"),
        Endpoint("heatmap JSON (100 rows)", "GET", f"{api}/heatmap"),
        Endpoint("weak-items JSON", "GET", f"{api}/weak-items"),
        Endpoint("quick-wins JSON", "GET", f"{api}/quick-wins"),
        Endpoint(f"leader trend JSON /api/v1/sections/{code}/trend", "GET", f"/api/v1/sections/{code}/trend", who="leader"),
        Endpoint(f"leader trend page /sections/{code}/trend", "GET", f"/sections/{code}/trend",
                 who="leader"),
        Endpoint("sheet page (leader)", "GET", f"/rounds/{rid}/sections/{code}", who="leader"),
        Endpoint("one answer save (leader, PUT)", "PUT", f"{api}/sections/{code}/answers/", who="leader"),
        # measured figures (実績値): 3,000 所属 × 36 months of `paperless demo --figure-months 36`
        Endpoint("figures desk page (sums per 部局, ずれ)", "GET", "/desk/figures?figure=print.copies"),
        Endpoint("figures desk JSON (1,000 rows)", "GET", "/api/v1/figures?figure=print.copies"),
        Endpoint(f"figures page /sections/{code}/figures", "GET", f"/sections/{code}/figures", who="leader"),
        Endpoint("figures JSON of a 所属", "GET", f"/api/v1/sections/{code}/figures", who="leader"),
        Endpoint("figures entry page", "GET", f"/sections/{code}/figures/entry", who="leader"),
    ]
    return found, code, bureau, rid


def measure(base: str, eps: list[Endpoint], sessions: dict, n: int, warmup: int, rid: int, code: str) -> None:
    leader, leader_token = sessions["leader"]
    sheet = leader.get(f"{base}/api/v1/rounds/{rid}/sections/{code}/sheet", timeout=60).json()
    item = sheet["items"][0]
    # Alternate ◎ and ○, starting with the one not stored now, so that every save writes.
    answer = item["answer"]
    state = {"key": item["item_key"], "version": answer["version"], "flip": int(answer["status"] == "◎")}

    def call(ep: Endpoint) -> requests.Response:
        s = sessions[ep.who][0]
        if ep.method == "PUT":
            state["flip"] ^= 1
            body = {"status": "◎" if state["flip"] else "○", "version": state["version"]}
            response = s.put(f"{base}{ep.path}{state['key']}", json=body,
                             headers={"X-CSRF-Token": leader_token}, timeout=60)
            if response.status_code == 200:
                state["version"] = response.json()["version"]
            return response
        return s.get(f"{base}{ep.path}", timeout=60)

    for ep in eps:
        for _ in range(warmup):
            response = call(ep)
            if response.status_code != 200:
                raise SystemExit(f"{ep.name}: HTTP {response.status_code} {response.text[:300]}")
        ep.size = len(response.content)
    for i in range(n):
        for ep in eps:
            started = time.perf_counter()
            response = call(ep)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{ep.name}: HTTP {response.status_code}")
            ep.times.append(elapsed * 1000)
        print(f"\r  round {i + 1}/{n}", end="", flush=True)
    print()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]  # nearest rank


def report(backend: str, eps: list[Endpoint]) -> list[dict]:
    base = statistics.median(eps[0].times)
    rows = []
    print(f"\n{backend}: median / p95 in ms, ratio = median / median of /healthz")
    print(f"  {'endpoint':48s} {'median':>8s} {'p95':>8s} {'ratio':>7s} {'KB':>7s}")
    for ep in eps:
        med = statistics.median(ep.times)
        row = {"endpoint": ep.name, "median_ms": round(med, 1), "p95_ms": round(p95(ep.times), 1),
               "ratio": round(med / base, 1), "kb": round(ep.size / 1024, 1), "n": len(ep.times)}
        rows.append(row)
        print(f"  {ep.name:48s} {row['median_ms']:8.1f} {row['p95_ms']:8.1f} {row['ratio']:7.1f} "
              f"{row['kb']:7.1f}")
    return rows


def machine(pg_url: str | None) -> dict:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
            "load_average": os.getloadavg()}
    if pg_url:
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            info["postgres"] = conn.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sections", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite-path", default=str(ROOT / "var" / "bench" / "reports.db"))
    parser.add_argument("--postgres-url", default=os.environ.get(
        "PAPERLESS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--postgres-db", default="paperless_bench")
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the dataset")
    parser.add_argument("--requests", type=int, default=30, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--json", dest="json_path", default=None, help="write the results here too")
    args = parser.parse_args()

    results = {"command": " ".join(sys.argv), "at": datetime.now(UTC).isoformat(timespec="seconds"),
               "dataset": f"{args.sections} 所属 × {args.items} items × {args.rounds} rounds", "backends": {}}
    pg = None
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        print(f"{backend}: dataset", flush=True)
        url = sqlite_url(args) if backend == "sqlite" else postgres_url(args)
        pg = url if backend == "postgres" else pg
        generated = build(url, args)
        port = args.port or free_port()
        log = Path(tempfile.gettempdir()) / f"paperless-bench-{backend}-{port}.log"
        server = start_server(url, port, log)
        try:
            base = f"http://127.0.0.1:{port}"
            desk, _ = sign_in(base, "desk@demo.example")
            eps, code, bureau, rid = endpoints(base, desk)
            leader = sign_in(base, f"leader.{code}@demo.example".lower())
            print(f"{backend}: round {rid}, 所属 {code}, largest 部局 {bureau}; {args.requests} requests each",
                  flush=True)
            sessions = {"desk": (desk, None), "leader": leader}
            measure(base, eps, sessions, args.requests, args.warmup, rid, code)
            results["backends"][backend] = {"generator_seconds": round(generated, 1) if generated else None,
                                            "rows": report(backend, eps)}
        finally:
            server.terminate()
            server.wait(timeout=30)
    results["machine"] = machine(pg)
    print(f"\nmachine: {results['machine']}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
