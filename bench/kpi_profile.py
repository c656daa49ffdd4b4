"""Profile of the figures' (実績値) pages in-process on a benchmark database: SQL statements per page with their
time, and the query plan of the slowest (not a test: nothing here asserts a time). Deterministic where the
shared machine is not: the statement count and the rows each plan visits.

    .venv/bin/python bench/kpi_profile.py --url sqlite:///var/kpi.db
    .venv/bin/python bench/kpi_profile.py --url postgresql+psycopg://postgres@127.0.0.1:5432/paperless_bench_kpispeed
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import create_engine, event, select
from sqlmodel import Session

from app.auth import service as auth
from app.auth.models import User
from app.config import PROJECT_ROOT
from app.jpdate import fiscal_year_of, today_jst
from app.kpis import desk, page, queries
from app.kpis.api import _range, _section_rows
from app.kpis.catalogue import Catalogue
from app.kpis.loader import load_directory
from app.orgs.models import Unit, UnitKind
from app.rounds import service as rounds
from app.sheets.models import Answer, Sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--plans", type=int, default=2, help="query plans shown per page (the slowest)")
    args = parser.parse_args()
    engine = create_engine(args.url)
    statements: list[tuple[str, dict | tuple, float]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        statements.append((statement, parameters, (time.perf_counter() - conn.info["started"]) * 1000))

    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    today = today_jst()
    with Session(engine) as session:
        desk_user = session.exec(select(User).where(User.upn == "desk@demo.example")).scalars().one()
        unit = session.exec(select(Unit).where(Unit.kind == UnitKind.SECTION, Unit.valid_to.is_(None))
                            .order_by(Unit.code).limit(1)).scalars().one()
        leader_user = session.exec(select(User).where(User.upn == f"leader.{unit.code}@demo.example".lower())
                                   ).scalars().one()
        desk_p = auth.load_principal(session, desk_user.id)
        leader_p = auth.load_principal(session, leader_user.id)
        start, end = _range(None, None)
        # 「評価と実績のずれ」 joins ratings of the items a figure speaks to; the benchmark's checklist has
        # items of its own (bench.item-NN), so the statement is measured on three of them.
        round_ = rounds.current_round(session)
        items = list(session.exec(select(Answer.item_key).join(Sheet, Sheet.id == Answer.sheet_id)
                                  .where(Sheet.round_id == round_.id).distinct().order_by(Answer.item_key)
                                  .limit(3)).scalars())
        fy = fiscal_year_of(today)
        cases: dict[str, Callable[[], object]] = {
            "desk page (print.copies)": lambda: desk.build(session, desk_p, catalogue, figure_key="print.copies",
                                                           fy=None, round_id=None, today=today),
            "desk page (電子決裁率)": lambda: desk.build(session, desk_p, catalogue,
                                                     figure_key="approvals.electronic-rate", fy=None, round_id=None,
                                                     today=today),
            f"ずれ statement (print.copies per employee, items {', '.join(items)})": lambda: queries.outliers(
                session, fy, ("print.copies", None, ()), "staff.count", round_.id, items, desk.BAD, desk.GOOD),
            f"所属's page {unit.code}": lambda: page.build(session, leader_p, unit, catalogue, fy=None, today=today),
            f"所属's JSON {unit.code}": lambda: _section_rows(session, catalogue, unit, start, end),
        }
        for name, run in cases.items():
            run()  # warm the caches
            times = []
            for _ in range(args.repeat):
                session.expire_all()
                statements.clear()
                started = time.perf_counter()
                run()
                times.append((time.perf_counter() - started) * 1000)
            sql_ms = sum(s[2] for s in statements)
            print(f"\n== {name}: median {statistics.median(times):.1f} ms, {len(statements)} statements, "
                  f"{sql_ms:.1f} ms in SQL (last run)")
            for statement, parameters, ms in sorted(statements, key=lambda s: -s[2])[:args.plans]:
                print(f"  {ms:7.1f} ms  {' '.join(statement.split())[:300]}")
                explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
                with engine.connect() as conn:
                    raw = conn.exec_driver_sql(explain + statement, parameters)
                    for row in raw:
                        print("           " + " ".join(str(c) for c in (row[-1:] if len(row) > 1 else row)))
    engine.dispose()


if __name__ == "__main__":
    main()
