"""Several app processes on one database: no state in the process, one winner and one 409, no lost update.
On PostgreSQL in CI (and on SQLite too: several workers share one WAL file)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from app.db import DbGate, make_engine
from tests.conftest import sign_in
from tests.servers import ProcessServer, client_for

SHEET = "/api/v1/rounds/{rid}/sections/A1/sheet"
ANSWER = "/api/v1/rounds/{rid}/sections/A1/answers/office.daily.keep-electronic"


def test_two_processes_share_one_database_with_one_winner_per_conflict(database_url, world, tmp_path):
    rid = world.round.id
    first = ProcessServer(database_url, tmp_path / "first.log").start()
    second = ProcessServer(database_url, tmp_path / "second.log").start()
    try:
        via_first, via_second = client_for(first.base), client_for(second.base)
        token_first = sign_in(via_first, "member.a1@test.example")
        token_second = sign_in(via_second, "leader.a1@test.example")

        # A write through one process is read through the other.
        saved = via_first.put(ANSWER.format(rid=rid), headers={"X-CSRF-Token": token_first},
                              json={"status": "◎", "memo": "一つ目の経由", "version": 0})
        assert saved.status_code == 200, saved.text
        item = via_second.get(SHEET.format(rid=rid)).json()["items"][0]["answer"]
        assert (item["status"], item["memo"], item["version"]) == ("◎", "一つ目の経由", 1)

        # The session lives in the signed cookie: the first process's cookie works on the second.
        roaming = client_for(second.base)
        roaming.cookies = via_first.cookies
        assert roaming.get("/api/v1/me").json()["upn"] == "member.a1@test.example"

        # Concurrent conflicting writes, one through each process, released together: one 200, one 409.
        version = 1
        for attempt in range(6):
            barrier = threading.Barrier(2)

            def put(client: httpx.Client, token: str, label: str, barrier=barrier, seen=version):
                barrier.wait()
                return client.put(ANSWER.format(rid=rid), headers={"X-CSRF-Token": token},
                                  json={"status": "○", "memo": label, "version": seen})

            with ThreadPoolExecutor(2) as pool:
                one = pool.submit(put, via_first, token_first, f"first {attempt}")
                two = pool.submit(put, via_second, token_second, f"second {attempt}")
                responses = {"first": one.result(), "second": two.result()}
            codes = sorted(r.status_code for r in responses.values())
            assert codes == [200, 409], {k: (r.status_code, r.text) for k, r in responses.items()}
            winner = next(k for k, r in responses.items() if r.status_code == 200)
            loser = next(r for r in responses.values() if r.status_code == 409)
            assert loser.json()["current"]["memo"] == f"{winner} {attempt}"
            version += 1
            for client in (via_first, via_second):  # both processes read the winner's write, nothing else
                now = client.get(SHEET.format(rid=rid)).json()["items"][0]["answer"]
                assert (now["memo"], now["version"]) == (f"{winner} {attempt}", version)
    finally:
        first.stop()
        second.stop()


def test_a_burst_larger_than_the_pool_waits_its_turn_instead_of_deadlocking(app, world, live_server):
    """More simultaneous requests than pool connections: each waits for the gate, none fails.

    Before the gate, sessions held connections between the thread hops of a request while other
    requests' threads blocked in the pool; with a pool of 2 and a 2-second pool timeout this burst
    failed with 503s. (Now the wait is in the gate, bounded by the same timeout.)
    """
    app.state.engine.dispose()
    app.state.engine = make_engine(str(app.state.settings.database_url), pool_size=2, wait_seconds=5)
    app.state.db_gate = DbGate.for_engine(app.state.engine)
    base = live_server(app)
    clients = [client_for(base) for _ in range(4)]
    upns = ["member.a1@test.example", "leader.a1@test.example", "desk@test.example", "member.b1@test.example"]
    for client, upn in zip(clients, upns, strict=True):
        sign_in(client, upn)

    def read(n: int) -> int:
        client = clients[n % len(clients)]
        return client.get(f"/api/v1/rounds/{world.round.id}/scores").status_code

    with ThreadPoolExecutor(48) as pool:
        codes = list(pool.map(read, range(240)))
    assert codes == [200] * 240


def test_a_cached_definition_cannot_go_stale_because_published_versions_never_change(session, world):
    """Each process caches published checklist versions; a changed file under a published version number
    is refused, so no process can hold a definition that differs from the database's."""
    import pytest

    from app.checklists import service as checklists
    from app.errors import Conflict
    from tests.factories import V1, checklist_yaml

    cached = checklists.get_definition(session, world.version_id)
    text = V1.read_text(encoding="utf-8")
    changed = checklist_yaml(text.replace("紙資料を配っていない", "紙資料を配らない"))
    with pytest.raises(Conflict):
        checklists.publish(session, changed)
    session.rollback()
    checklists._definitions.clear()  # as a freshly started process
    assert checklists.get_definition(session, world.version_id) == cached
