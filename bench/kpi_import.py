"""Benchmark of a bulk import's preview (issue 13.5: a 10,000-row CSV previewed in under 5 s), in-process on a
benchmark database built by bench/reports.py (not a test: nothing here asserts a time).

Writes a copier export shaped like tests/data/copier-2026-10-sjis.csv (Shift_JIS, a header block, thousands
separators, a totals row) with ``--rows`` rows over the 所属 of the database and the months before this one,
then times reading the file (``tabular.read_table``) and the dry run (``importer.preview``: every row checked
and the stored values read), with the SQL statements they ran.

    .venv/bin/python bench/kpi_import.py --url sqlite:///var/kpi.db
    .venv/bin/python bench/kpi_import.py --url postgresql+psycopg://postgres@127.0.0.1:5432/paperless_bench_kpispeed
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date

from sqlalchemy import create_engine, event, select
from sqlmodel import Session

from app.config import PROJECT_ROOT, get_settings
from app.jpdate import today_jst
from app.kpis import importer
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from app.kpis.tabular import read_table
from app.orgs.models import Unit, UnitKind

# 部署コード, 部署名, 集計月, モノクロ, カラー, 合計枚数 (as the tests' copier export)
MAPPING = {"code": "0", "month": "2", "fig.print.copies": "5"}


def copier_export(units: list[tuple[str, str]], rows: int, today: date, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    months_needed = -(-rows // len(units))
    months = []
    m = date(today.year, today.month, 1)
    for _ in range(months_needed):
        m = date(m.year - (m.month == 1), (m.month - 2) % 12 + 1, 1)
        months.append(m)
    lines = ["複合機 利用枚数集計表（部署別）", f"集計期間：{months[-1]:%Y/%m/%d}〜{months[0]:%Y/%m}末",
             f"出力日時：{today:%Y/%m/%d} 09:15,,出力者：総務事務センター", ",,,,,", "部署コード,部署名,集計月,モノクロ,カラー,合計枚数"]
    total = 0
    for i in range(rows):
        code, name = units[i % len(units)]
        month = months[i // len(units)]
        mono, colour = rng.randint(500, 12000), rng.randint(0, 1500)
        total += mono + colour
        lines.append(f'{code},{name},{month:%Y/%m},"{mono:,}",{colour},"{mono + colour:,}"')
    lines.append(f',合計,,,,"{total:,}"')
    return ("\r\n".join(lines) + "\r\n").encode("shift_jis")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = create_engine(args.url)
    count = [0]

    @event.listens_for(engine, "after_cursor_execute")
    def _count(*_args):
        count[0] += 1

    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    today = today_jst()
    limit = get_settings().import_max_expanded_bytes
    with Session(engine) as session:
        units = [(u.code, u.name) for u in session.execute(
            select(Unit).where(Unit.kind == UnitKind.SECTION, Unit.valid_to.is_(None)).order_by(Unit.code)).scalars()]
        data = copier_export(units, args.rows, today)
        print(f"{args.rows:,} rows over {len(units):,} 所属, {len(data) / 1024:.0f} KB Shift_JIS")
        mapping = importer.column_map(MAPPING)
        reads, previews, cpu = [], [], []
        for _ in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            table = read_table("copier.csv", data, max_expanded_bytes=limit)
            reads.append(time.perf_counter() - started)
            count[0] = 0
            started = time.perf_counter()
            result = importer.preview(session, table, mapping, catalogue, today=today)
            previews.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)  # SQLite runs in this process; PostgreSQL does not
            session.rollback()
        print(f"read_table: median {statistics.median(reads):.2f} s ({table.encoding}, header at line "
              f"{table.header_line})")
        print(f"preview:    median {statistics.median(previews):.2f} s, {count[0]} statements; {len(result.values):,} "
              f"values (new {result.new:,}, changed {result.changed:,}, unchanged {result.unchanged:,}), "
              f"{len(result.errors)} errors, {len(result.skipped)} skipped")
        print(f"total:      median {statistics.median(r + p for r, p in zip(reads, previews, strict=True)):.2f} s "
              f"(CPU of this process {statistics.median(cpu):.2f} s)")
    engine.dispose()


if __name__ == "__main__":
    main()
