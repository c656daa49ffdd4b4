"""How many SQL statements the desk's heavier pages and the leader's trend run per request (issue 9: every
desk page, desk JSON and the leader's trend ≤ 20 ms of server CPU at 3,000 所属 × 40 items × 20 rounds).

Times are not tested (docs/benchmarks.md has them); the statements are, and they do not depend on the
number of 所属, 部局 or rounds: the figures are aggregated in SQL over the stored tallies, one page of rows
at a time. A page that starts reading per 所属 or per round (a query in a loop) fails here."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests import factories
from tests.conftest import sign_in

# queries per request, the signed-in person's session included (the same on SQLite and PostgreSQL):
# round 1 has answers, round 2 none (fewer statements only where there is nothing to name: the quick wins'
# ☆☆☆ items with no 所属 at ×, and no page of rows to read answers for)
DESK = {
    "/desk/quick-wins?round={round}&scope=all": (11, 9),
    "/desk/quick-wins?round={round}": (10, 9),  # submitted sheets only: no ☆☆☆ item at ×
    "/api/v1/rounds/{round}/quick-wins?scope=all": (11, 9),
    "/desk/distribution?round={round}&scope=all": (8, 8),
    "/api/v1/rounds/{round}/distribution?scope=all": (8, 8),
    "/desk/board?round={round}": (10, 10),
    "/api/v1/rounds/{round}/submissions": (10, 10),
}
LEADER = {
    "/sections/P2/trend": 15,
    "/api/v1/sections/P2/trend": 12,
}


@pytest.fixture
def dw(session):
    return factories.build_desk_world(session)


def statements(app, client, path: str) -> int:
    """Statements one GET of ``path`` runs (after one request to warm the process's caches)."""
    assert client.get(path).status_code == 200
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):  # SQLite's explicit BEGIN is not a query
            seen.append(statement)

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    return len(seen)


def test_desk_pages_run_a_fixed_number_of_statements(app, client, dw):
    sign_in(client, "desk@test.example")
    for n, round_id in enumerate((dw.round.id, dw.empty_round.id)):
        got = {path: statements(app, client, path.format(round=round_id)) for path in DESK}
        assert got == {path: counts[n] for path, counts in DESK.items()}, round_id


def test_the_leader_trend_runs_a_fixed_number_of_statements_whatever_the_rounds(app, client, session, dw):
    sign_in(client, "leader.p2@test.example")
    assert {path: statements(app, client, path) for path in LEADER} == LEADER
    # Two more rounds with answers: the same statements.
    for title, year in (("令和9年度 第2回", 2027), ("令和10年度 第1回", 2028)):
        extra = factories.make_round(session, dw.version_id, title=title, fiscal_year=year)
        factories.set_answers(session, extra.id, dw.sections["P2"], {factories.V1_KEYS[0]: "×"})
    session.commit()
    assert {path: statements(app, client, path) for path in LEADER} == LEADER
