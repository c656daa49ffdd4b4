"""The full flat table (``/api/v1/analysis/answers.csv`` and ``/api/v1/analysis/answers``), as Power BI reads
it: every page, following the cursor, through a running server; rows per second and the server's memory.

Run by hand (not in CI), from the project root::

    .venv/bin/python bench/flat_export.py                          # prefecture dataset on SQLite
    .venv/bin/python bench/flat_export.py --dataset small          # the 200-所属 demo (seconds to build)
    .venv/bin/python bench/flat_export.py --limit 200000 --format json

The dataset is built once with ``paperless demo`` (``prefecture``: 3,000 所属 × 40 items × 20 rounds =
2.4 M answers, ``--no-history``; minutes) into ``var/bench/flat-<dataset>.db`` and reused afterwards.
The script creates a read-only API token for the demo's desk user directly in the database, starts
``paperless serve`` on ``--port``, reads every page (``--limit`` rows each) with the token in the
``Authorization`` header, counts the rows, measures the server's CPU time (rows per CPU-second is the
figure that holds on a shared, busy machine) and samples its resident memory (VmRSS) every 0.2 s:
constant memory means the peak does not grow with the number of rows read.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAPERLESS = ROOT / ".venv" / "bin" / "paperless"
VAR = ROOT / "var" / "bench"
MARKER = b'{"answer_id"'
DATASETS = {
    "small": ["--sections", "200"],
    "prefecture": ["--sections", "3000", "--rounds", "20", "--items", "40", "--no-history"],
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def prepare(dataset: str, env: dict[str, str]) -> None:
    from sqlalchemy import create_engine, text

    subprocess.run([str(PAPERLESS), "migrate"], env=env, cwd=ROOT, check=True,  # noqa: S603 (our command)
                   stdout=subprocess.DEVNULL)
    engine = create_engine(env["PAPERLESS_DATABASE_URL"])
    with engine.connect() as conn:
        answers = conn.execute(text("SELECT count(*) FROM answer")).scalar_one()
    engine.dispose()
    if answers:
        log(f"dataset {dataset}: reusing {answers:,} answers")
        return
    log(f"dataset {dataset}: building with paperless demo {' '.join(DATASETS[dataset])}…")
    started = time.perf_counter()
    subprocess.run([str(PAPERLESS), "demo", *DATASETS[dataset]], env=env, cwd=ROOT, check=True)  # noqa: S603
    log(f"dataset {dataset}: built in {time.perf_counter() - started:.0f} s")


def desk_token(url: str) -> str:
    from sqlmodel import select

    from app.auth import tokens
    from app.auth.models import User
    from app.db import make_engine, session_for

    engine = make_engine(url)
    with session_for(engine, write=True) as session:
        desk = session.exec(select(User).where(User.is_desk)).first()
        if desk is None:
            raise SystemExit("the dataset has no desk user")
        _, clear = tokens.create(session, desk, name="bench flat export", days=1)
        session.commit()
    engine.dispose()
    return clear


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server process (one uvicorn process on SQLite)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(rss_kib(self.pid))
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="prefecture")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--limit", type=int, default=1_000_000, help="rows per page")
    parser.add_argument("--port", type=int, default=8105)
    args = parser.parse_args()

    VAR.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{VAR / f'flat-{args.dataset}.db'}"
    env = {**os.environ, "PAPERLESS_DATABASE_URL": url, "PAPERLESS_ENV": "test", "PAPERLESS_AUTH": "dev",
           "PAPERLESS_SECRET_KEY": os.environ.get("PAPERLESS_SECRET_KEY", "bench-" + "x" * 40)}
    prepare(args.dataset, env)
    token = desk_token(url)
    server = subprocess.Popen([str(PAPERLESS), "serve", "--port", str(args.port)], env=env, cwd=ROOT,  # noqa: S603
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        idle = rss_kib(server.pid)
        sampler = Sampler(server.pid)
        sampler.start()
        path = "/api/v1/analysis/answers" + (".csv" if args.format == "csv" else "")
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
        rows = pages = size = 0
        cursor = None
        cpu_before = cpu_seconds(server.pid)
        started = time.perf_counter()
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            while True:
                params = {"limit": args.limit, **({"cursor": cursor} if cursor else {})}
                with client.stream("GET", path, params=params) as response:
                    response.raise_for_status()
                    cursor = response.headers.get("x-next-cursor")
                    tail = b""
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if args.format == "csv":  # a line ends in CRLF, no field holds a line break: count LFs
                            rows += chunk.count(b"\n")
                        else:  # a JSON row starts with its answer_id (the marker may straddle two chunks)
                            rows += (tail + chunk).count(MARKER)
                            tail = chunk[-(len(MARKER) - 1):]
                    if args.format == "csv":
                        rows -= 1  # the header line (no memo in the table: no line break inside a field)
                pages += 1
                if not cursor:
                    break
        took = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        sampler.stop.set()
        sampler.join()
        peak = max(sampler.samples or [0])
        log(f"{args.dataset} dataset, {args.format}, {pages} page(s) of up to {args.limit:,} rows")
        print(f"rows: {rows:,}   bytes: {size / 1e6:,.1f} MB   time: {took:.1f} s   "
              f"rows/s: {rows / took:,.0f}   server CPU {cpu:.1f} s ({rows / cpu:,.0f} rows per CPU-second)   "
              f"server RSS idle {idle / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB   "
              f"load average before: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
